package planted.ints;

/**
 * Passes: short arithmetic that javac writes with int opcodes and the converter accepts.
 * Each method alone was run through Oracle's converter (kit 3.1.0, -target 3.0.5, no -i);
 * its answer follows the method.
 */
public final class IntAccepted {
    static short s1;
    static byte[] arr;
    static short[] sarr;

    // converts
    public static boolean m2(short i) { return (arr[0] & (short) (1 << (i & 7))) != 0; }
    // converts
    public static short m3(short a, short b) { return (short) (a + b); }
    // converts
    public static boolean m4(short a, short b) { return (short) (a + b) > 3; }
    // converts
    public static short m6(short a, short b, short c) { return (short) (a * b + c); }
    // converts
    public static boolean m7(short i) { return (arr[i] & 0xFF) > 0x7F; }
    // converts
    public static short m8(short a, short b) { short x = a; x += b; x++; return x; }
    // converts
    public static short m9(short a) { return (short) (a >>> 1); }
    // converts
    public static short m10(short a) { return (short) (a >> 1); }
    // converts
    public static short m12(short i) { return (short) ((arr[i] << 8) | (arr[(short) (i + 1)] & 0xFF)); }
    // converts
    public static short m14(short a, short b) { return (short) (a / b); }
    // converts
    public static void m17(short a, short b) { s1 = (short) (a + b); }
    // converts
    public static short m18(short a) { return (short) -a; }
    // converts
    public static boolean m19(short a, short b) { return (a & b) != 0; }
    // converts
    public static boolean m20(short a, short b) { return (a ^ b) == 0; }
    // converts
    public static short m21(short a) { return (short) (a << 3); }
    // converts
    public static byte m23(short a) { return (byte) (a >> 8); }
    // converts
    public static short m24(short a, short b) { return (short) (a - b - 1); }
    // converts
    public static short m26(short a, short b) { return (short) (a % b); }
    // converts
    public static void m27(short i, short v) { sarr[(short) (i + 1)] = (short) (v + 1); }
    // converts
    public static void m28(short i, short v) { sarr[i] += v; }
    // converts
    public static boolean m29(byte a) { return (byte) (a + 1) == 0; }
    // converts
    public static short m30(byte a, byte b) { return (short) (a + b); }
    // converts
    public static short m33(short a) { short r = 0; for (short i = 0; i < a; i++) { r = (short) (r + i); } return r; }
    // converts
    public static boolean m34(short a, short b) { return (short) (a * b) > 0; }
    // converts
    public static boolean m35(short a, short b) { return (a | b) > 0; }
    // converts
    public static short m37(short i) { return (short) (arr[i] & 0xFF); }
    // converts
    public static void m38(short a) { s1 = (short) ((short) (a + 1) >> 1); }
    // converts
    public static boolean m39(short a, short b) { return ((short) (a + b) & 0xFF) == 3; }
    // converts
    public static byte m40(short a, short b) { return (byte) (a + b); }
    // converts
    public static boolean n2(short a, short b) { return a % b > 0; }
    // converts
    public static boolean n3(short a) { return (a >> 1) > 0; }
    // converts
    public static boolean n4(short a, short b, boolean c) { return (short) (c ? a + b : a) > 0; }
    // converts
    public static void n6(short a) { int x = a; s1 = (short) x; }
    // converts
    public static boolean n9(short a) { return (byte) a > 0; }
    // converts
    public static void n11(short a, short b) { switch ((short) (a + b)) { case 1: s1 = 1; break; default: s1 = 2; } }
    // converts
    public static short n12(short a) { return (short) (a & 0x7FFF); }
    // converts
    public static short n14(short a, short b) { return (short) (a >>> b); }
    // converts
    public static boolean n15(short a, short b) { return a == b; }
    // converts
    public static boolean n16(short a) { return ~a == 0; }
    // converts
    public static short n17(short a, short b) { return (short) ((a + b) * 2); }
    // converts
    public static short n18(short a, short b) { return (short) ((a + b) & 0xFF); }
    // converts
    public static boolean n19(short a, short b) { return ((a + b) & 0xFF) == 0; }
    // converts
    public static void n21(short a) { arr[(short) (a << 1)] = (byte) (a >> 1); }
    // converts
    public static void n22(short a, short b) { arr[a] = (byte) (a + b); }
    // converts
    public static short n23(short a, short b) { return (short) (a >> (b + 1)); }
    // converts
    public static short n24(short a, short b) { return (short) (a << (b + 1)); }
    // converts
    public static short n26(byte a) { return (short) (a & 0xFF); }
    // converts
    public static boolean n27(short a) { return (a ^ (short) 0x80) > 0; }
}
