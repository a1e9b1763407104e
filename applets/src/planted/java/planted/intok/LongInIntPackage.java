package planted.intok;

/** Refused: int support does not bring long. */
public final class LongInIntPackage {
    public static int low(int v) {
        return (int) ((long) v * 3L);
    }
}
