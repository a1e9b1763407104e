package tpmcard.algorithms;

import javacard.framework.ISO7816;
import javacard.framework.ISOException;
import javacard.framework.Util;

/**
 * Parser of the AEAD command data shared by the AEAD providers:
 * {@code handle (4) | nonce length (1) | nonce | aad length (2) | aad | text}. Offsets land in a
 * caller-owned transient short array: [0] nonce, [1] nonce length, [2] aad, [3] aad length,
 * [4] text, [5] text length.
 */
public final class AeadRequest {
    private AeadRequest() {}

    public static void parse(byte[] in, short off, short length, short nonceLength, short minText, short[] fields) {
        short end = (short) (off + length);
        short p = (short) (off + ProviderConstants.HANDLE_LENGTH);
        if ((short) (p + 1) > end) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
        short n = (short) (in[p] & 0xFF);
        if (n != nonceLength) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
        fields[0] = (short) (p + 1);
        fields[1] = n;
        p = (short) (p + 1 + n);
        if ((short) (p + 2) > end) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
        short a = Util.getShort(in, p);
        p += 2;
        if (a < 0 || a > (short) (end - p)) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
        fields[2] = p;
        fields[3] = a;
        fields[4] = (short) (p + a);
        fields[5] = (short) (end - fields[4]);
        if (fields[5] < minText) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
    }
}
