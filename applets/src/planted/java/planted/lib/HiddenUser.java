package planted.lib;

/** Passes: Hidden is in this class's own package. */
public final class HiddenUser {
    public static short value() {
        return Hidden.value();
    }
}
