package planted.lib;

/** Refused: "Static array initialization in class planted/lib/StaticArray in library package not allowed". */
public final class StaticArray {
    public static final byte[] TABLE = {1, 2, 3};
}
