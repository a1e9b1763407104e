package tpmcard.lib;

import javacard.framework.Util;
import javacard.security.MessageDigest;

/**
 * HMAC (RFC 2104, FIPS 198-1 §4) over a card's MessageDigest: H((K0 ^ opad) || H((K0 ^ ipad) ||
 * m)). An NXP J3R180 has neither HMAC signatures nor HMAC keys, so the algorithm provider
 * (tpmcard.algorithms.HmacApplet) and the mobile TPM's counted keys (tpmcard.mtpm.CountedKeys)
 * both compute it here, each with its own digest, key store and a few bytes of its own RAM.
 *
 * <p>K0 is the key zero-padded to the hash's block (FIPS 198-1 §4 step 3), kept by the caller.
 * Only static methods over the caller's objects: no state, nothing allocated.
 */
public final class Hmac {
    public static final byte IPAD = (byte) 0x36;
    public static final byte OPAD = (byte) 0x5C;

    private Hmac() {
    }

    /**
     * Feeds one block of K0 ^ pad to the digest, {@code pieceLength} bytes at a time through
     * {@code piece[pieceOffset..)}, which is wiped afterwards; {@code block} is a multiple of
     * {@code pieceLength}.
     */
    public static void updatePad(MessageDigest digest, byte[] k0, short k0Offset, short block, byte pad,
                                 byte[] piece, short pieceOffset, short pieceLength) {
        for (short done = 0; done < block; done += pieceLength) {
            for (short i = 0; i < pieceLength; i++) {
                piece[(short) (pieceOffset + i)] = (byte) (k0[(short) (k0Offset + done + i)] ^ pad);
            }
            digest.update(piece, pieceOffset, pieceLength);
        }
        Util.arrayFillNonAtomic(piece, pieceOffset, pieceLength, (byte) 0);
    }
}
