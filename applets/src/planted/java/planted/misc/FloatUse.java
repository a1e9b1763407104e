package planted.misc;

/** Refused: float and double. Converter: "unsupported type float" / "unsupported type double". */
public final class FloatUse {
    public static short half(short v) {
        return (short) (v * 0.5f);
    }

    public static short third(short v) {
        return (short) (v / 3.0d);
    }
}
