package planted.ints;

/**
 * Refused: each method needs the card's optional int support.
 * Each method alone was run through Oracle's converter (kit 3.1.0, -target 3.0.5, no -i);
 * its answer follows the method.
 */
public final class IntRefused {
    static short s1;
    static byte[] arr;
    static short[] sarr;

    // unsupported int type of intermediate value, must cast intermediate value to type short or byte.
    public static boolean m1(short i) { return (arr[0] & (1 << (i & 7))) != 0; }
    // unsupported int type of intermediate value, must cast intermediate value to type short or byte.
    public static boolean m5(short a, short b) { return a + b > 3; }
    // unsupported int type array index, must cast array index to type short or byte.
    public static byte m11(short i) { return arr[i + 1]; }
    // unsupported int type of intermediate value, must cast intermediate value to type short or byte.
    public static boolean m13(short a, short b) { return a < b + 1; }
    // unsupported int type of intermediate value, must cast intermediate value to type short or byte.
    public static short m15(short a, short b) { return (short) ((a + b) / 2); }
    // unsupported int type of intermediate value, must cast intermediate value to type short or byte.
    public static short m16(short a, short b) { return (short) ((a + b) >> 1); }
    // unsupported int type of intermediate value, must cast intermediate value to type short or byte.
    public static boolean m22(short a) { return (a << 3) != 0; }
    // unsupported int type constant.
    public static boolean m25(short a) { return (a & 0x8000) != 0; }
    // unsupported int type of intermediate value, must cast intermediate value to type short or byte.
    public static boolean m31(byte a, byte b) { return a + b > 0; }
    // unsupported int type of intermediate value, must cast intermediate value to type short or byte.
    public static boolean m32(short a) { return -a > 0; }
    // unsupported int type of intermediate value, must cast intermediate value to type short or byte.
    public static boolean m36(short a) { return (a >>> 3) > 0; }
    // unsupported int type of intermediate value, must cast intermediate value to type short or byte.
    public static boolean n1(short a, short b) { return a / b > 0; }
    // unsupported int type of intermediate value, must cast intermediate value to type short or byte.
    public static boolean n5(short a, short b, boolean c) { return (c ? a + b : a) > 0; }
    // unsupported int type constant.
    public static boolean n7(short a) { return a > 40000; }
    // unsupported int type constant.
    public static short n8(short a) { return (short) (a + 40000); }
    // unsupported int type of intermediate value, must cast intermediate value to type short or byte.
    public static void n10(short a, short b) { switch (a + b) { case 1: s1 = 1; break; default: s1 = 2; } }
    // unsupported int type constant.
    public static boolean n13(short a) { return (a & 0xFFFF) == 0; }
    // unsupported int type of intermediate value, must cast intermediate value to type short or byte.
    public static short n20(short a, short b) { return (short) ((a * b) >> 8); }
    // unsupported int type of intermediate value, must cast intermediate value to type short or byte.
    public static boolean n25(short a, short b) { return (short) (a / (b + 1)) > 0; }
}
