package tpmcard.alg.hmac;

import tpmcard.algorithms.HmacApplet;

/**
 * Version 1.0 of the HMAC provider: HMAC-SHA-256 and HMAC-SHA-512 with card-held keys. The
 * algorithm is {@link HmacApplet}'s, in the library package tpmcard.algorithms, which every
 * version shares.
 */
public final class HmacProvider extends HmacApplet {
    public static final byte VERSION_MAJOR = 1;
    public static final byte VERSION_MINOR = 0;
    /** Longest key KEY IMPORT takes: what the wrapped import carries (docs/algorithms.md §3, §4). */
    public static final short MAX_KEY_LENGTH = HmacApplet.MAX_KEY_LENGTH;

    private HmacProvider(byte[] bArray, short bOffset, byte bLength) {
        super(VERSION_MAJOR, VERSION_MINOR, bArray, bOffset, bLength);
    }

    public static void install(byte[] bArray, short bOffset, byte bLength) {
        new HmacProvider(bArray, bOffset, bLength).registerFromInstall(bArray, bOffset);
    }
}
