package tpmcard.lib;

/**
 * Comparisons whose running time does not depend on the bytes compared, for MACs, PIN and
 * pairing secrets, and private scalars. Util.arrayCompare stops at the first difference and
 * must never see a secret. Each method touches every byte once and uses no data-dependent
 * branch; the only branch is on the loop counter.
 */
public final class ConstantTime {
    private ConstantTime() {}

    /** True when a[aOff..aOff+length) equals b[bOff..bOff+length). */
    public static boolean equals(byte[] a, short aOff, byte[] b, short bOff, short length) {
        short difference = 0;
        for (short i = 0; i < length; i++) {
            difference |= (short) (a[(short) (aOff + i)] ^ b[(short) (bOff + i)]);
        }
        return (short) (difference & 0xFF) == 0;
    }

    /** True when every byte of a[off..off+length) is zero. */
    public static boolean isZero(byte[] a, short off, short length) {
        short accumulated = 0;
        for (short i = 0; i < length; i++) {
            accumulated |= (short) (a[(short) (off + i)] & 0xFF);
        }
        return accumulated == 0;
    }

    /**
     * Compares two unsigned big-endian integers of the same length: -1, 0 or 1 as a is less than,
     * equal to or greater than b. Walks from the least to the most significant byte, so the most
     * significant difference decides, and selects with masks instead of branching.
     */
    public static short compareUnsigned(byte[] a, short aOff, byte[] b, short bOff, short length) {
        short result = 0;
        for (short i = (short) (length - 1); i >= 0; i--) {
            short x = (short) (a[(short) (aOff + i)] & 0xFF);
            short y = (short) (b[(short) (bOff + i)] & 0xFF);
            short greater = (short) (((short) (y - x) >> 8) & 1);  // 1 when x > y
            short less = (short) (((short) (x - y) >> 8) & 1);     // 1 when x < y
            short differs = (short) -(short) (greater | less);     // 0xFFFF when x != y
            result = (short) ((result & ~differs) | ((short) (greater - less) & differs));
        }
        return result;
    }
}
