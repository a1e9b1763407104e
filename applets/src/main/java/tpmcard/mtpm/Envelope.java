package tpmcard.mtpm;

import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.Util;
import javacard.security.AESKey;
import javacard.security.Signature;
import javacardx.crypto.Cipher;
import tpmcard.lib.AesCmac;
import tpmcard.lib.ConstantTime;

/**
 * Authenticated encryption for sealed blobs and migration duplicates: AES-256-CBC, then AES-CMAC
 * (NIST SP 800-38B) over header || ciphertext (encrypt-then-MAC). jCardSim 3.0.6.0's AEADCipher
 * GCM appends the tag to doFinal's output instead of keeping it for retrieveTag, so GCM is not used.
 *
 * <p>Layout: header (caller's) || ciphertext || MAC (16). The IV is E_K(nonce || 0^8): the
 * header's 8-byte nonce is unique per key, so the IV is unique and unpredictable without the key
 * (NIST SP 800-38A Appendix C). Plaintexts are padded by the caller to whole blocks.
 */
final class Envelope {
    static final short BLOCK = 16;
    static final short MAC_LENGTH = 16;
    private final Cipher cbc = Cipher.getInstance(Cipher.ALG_AES_BLOCK_128_CBC_NOPAD, true);
    private final Signature cmac = AesCmac.getInstance(true);
    private final byte[] iv = JCSystem.makeTransientByteArray((short) (2 * BLOCK), JCSystem.CLEAR_ON_RESET);

    static short padded(short length) {
        return (short) ((short) (length + BLOCK - 1) & (short) ~(BLOCK - 1));
    }

    private void initCipher(AESKey key, byte mode, byte[] nonce, short nonceOff) {
        Util.arrayFillNonAtomic(iv, (short) 0, (short) (2 * BLOCK), (byte) 0);
        Util.arrayCopyNonAtomic(nonce, nonceOff, iv, BLOCK, Constants.SERIAL_LENGTH);
        cbc.init(key, Cipher.MODE_ENCRYPT, iv, (short) 0, BLOCK);
        cbc.doFinal(iv, BLOCK, BLOCK, iv, BLOCK);
        cbc.init(key, mode, iv, BLOCK, BLOCK);
    }

    /**
     * The header is at buf[start..start+headerLength) with its nonce at nonceOff; encrypts
     * pt[ptOff..+ptLength) (whole blocks) after the header and appends the MAC. Returns the total length.
     */
    short wrap(AESKey encryption, AESKey mac, byte[] buf, short start, short headerLength, short nonceOff,
               byte[] pt, short ptOff, short ptLength) {
        short ctOff = (short) (start + headerLength);
        initCipher(encryption, Cipher.MODE_ENCRYPT, buf, nonceOff);
        cbc.doFinal(pt, ptOff, ptLength, buf, ctOff);
        cmac.init(mac, Signature.MODE_SIGN);
        cmac.sign(buf, start, (short) (headerLength + ptLength), buf, (short) (ctOff + ptLength));
        return (short) (headerLength + ptLength + MAC_LENGTH);
    }

    /**
     * Checks the MAC of buf[start..start+length) (header of headerLength, ciphertext, MAC) in
     * constant time, then decrypts into pt[ptOff]. Returns the plaintext length.
     * Any failure: SW_OBJECT_INVALID.
     */
    short unwrap(AESKey encryption, AESKey mac, byte[] buf, short start, short length, short headerLength,
                 short nonceOff, byte[] pt, short ptOff, byte[] scratch, short scratchOff) {
        short ctLength = (short) (length - headerLength - MAC_LENGTH);
        if (ctLength <= 0 || (short) (ctLength % BLOCK) != 0) {
            ISOException.throwIt(Constants.SW_OBJECT_INVALID);
        }
        short ctOff = (short) (start + headerLength);
        cmac.init(mac, Signature.MODE_SIGN);
        cmac.sign(buf, start, (short) (headerLength + ctLength), scratch, scratchOff);
        if (!ConstantTime.equals(scratch, scratchOff, buf, (short) (ctOff + ctLength), MAC_LENGTH)) {
            ISOException.throwIt(Constants.SW_OBJECT_INVALID);
        }
        initCipher(encryption, Cipher.MODE_DECRYPT, buf, nonceOff);
        return cbc.doFinal(buf, ctOff, ctLength, pt, ptOff);
    }
}
