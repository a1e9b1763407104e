package planted.misc;

/** Refused: long, in any package. Converter: "unsupported type long. Cannot promote to type long". */
public final class LongUse {
    public static short high(short v) {
        long wide = (long) v << 40;
        return (short) (wide >> 40);
    }
}
