package tpmcard.alg.ecdsa;


/**
 * The strict DER check of a P-256 ECDSA signature, done before the signature reaches
 * Signature.verify. The signature is {@code Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }}
 * (ANSI X9.62, SEC 1 v2 §C.8) in DER (X.690 §10). Only one encoding of a signature is accepted,
 * whatever the card's own parser would tolerate. BER forms (long or indefinite lengths, leading
 * zeros, trailing bytes), negative integers and other tags are refused, and so is an r or s
 * outside [1, n-1]. That range check is SEC 1 §4.1.4 step 1; it makes the result the same on every
 * card implementation. Signatures and public keys are public, so none of this needs constant time.
 */
final class DerSignature {
    /** 30 len (02 len r) (02 len s); r and s at most 33 bytes each (a 00 before a high bit). */
    static final short MAX_LENGTH = (short) 72;
    private static final byte TAG_SEQUENCE = (byte) 0x30;
    private static final byte TAG_INTEGER = (byte) 0x02;
    private static final short SCALAR_LENGTH = (short) 32;

    private DerSignature() {}

    /**
     * True if {@code buf[off..off+length)} is exactly one DER ECDSA-Sig-Value with r, s in [1, n-1];
     * {@code order} is n, 32 bytes big-endian (P256.order).
     */
    static boolean isValid(byte[] buf, short off, short length, byte[] order) {
        // The smallest one is 30 06 02 01 r 02 01 s. Content is at most 70 bytes, so DER allows
        // only the short length form (X.690 §10.1: the definite form, minimal octets).
        if (length < 8 || length > MAX_LENGTH) {
            return false;
        }
        if (buf[off] != TAG_SEQUENCE || buf[(short) (off + 1)] != (byte) (length - 2)) {
            return false;
        }
        short end = (short) (off + length);
        short p = integerEnd(buf, (short) (off + 2), end, order);
        if (p < 0) {
            return false;
        }
        return integerEnd(buf, p, end, order) == end;
    }

    /**
     * The offset after the DER INTEGER at p if it is an ECDSA scalar in [1, n-1] that ends by end;
     * -1 otherwise.
     */
    private static short integerEnd(byte[] buf, short p, short end, byte[] order) {
        if ((short) (end - p) < 3 || buf[p] != TAG_INTEGER) {
            return -1;
        }
        short n = buf[(short) (p + 1)];   // a long-form length (0x80 and up) is negative here: refused
        if (n < 1 || n > (short) (SCALAR_LENGTH + 1) || n > (short) (end - p - 2)) {
            return -1;
        }
        short v = (short) (p + 2);
        short next = (short) (v + n);
        if ((buf[v] & 0x80) != 0) {
            return -1;   // negative (X.690 §8.3.2: two's complement)
        }
        if (buf[v] == 0 && n > 1) {
            if ((buf[(short) (v + 1)] & 0x80) == 0) {
                return -1;   // a leading 00 that is not needed: not minimal (X.690 §8.3.2)
            }
            v++;
            n--;
        }
        if (n > SCALAR_LENGTH) {
            return -1;
        }
        return inRange(buf, v, n, order) ? next : -1;
    }

    /** 1 <= the unsigned big-endian value buf[v..v+n) < n(P-256), for n <= 32 and no leading zero. */
    private static boolean inRange(byte[] buf, short v, short n, byte[] order) {
        if (n == 1 && buf[v] == 0) {
            return false;
        }
        if (n < SCALAR_LENGTH) {
            return true;   // below 2^248, and the order is above 2^255
        }
        for (short i = 0; i < SCALAR_LENGTH; i++) {
            short a = (short) (buf[(short) (v + i)] & 0xFF);
            short b = (short) (order[i] & 0xFF);
            if (a != b) {
                return a < b;
            }
        }
        return false;   // equal to the order
    }
}
