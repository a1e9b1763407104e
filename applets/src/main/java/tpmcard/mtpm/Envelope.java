package tpmcard.mtpm;

import javacard.framework.ISOException;
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
 *
 * <p>No RAM of its own: the IV block and the MAC to compare are 16 bytes each of the caller's
 * scratch. Encryption and decryption may work in place (the plaintext at the ciphertext's own
 * offset): CBC reads each input block before it writes that block's output. The steps are
 * separate so that migration can use one transient key for both (docs/mtpm.md "RAM").
 */
final class Envelope {
    static final short BLOCK = 16;
    static final short MAC_LENGTH = 16;
    private final Cipher cbc = Cipher.getInstance(Cipher.ALG_AES_BLOCK_128_CBC_NOPAD, true);
    private final Signature cmac = AesCmac.getInstance(true);

    /** The AES-CBC engine, also for counted AES keys (CountedKeys): one cipher object, no more RAM. */
    Cipher cbc() {
        return cbc;
    }

    static short padded(short length) {
        return (short) ((short) (length + BLOCK - 1) & (short) ~(BLOCK - 1));
    }

    /** scratch[ivOff..+16) = E_K(nonce || 0^8), then the cipher is set up with it as the IV. */
    private void initCipher(AESKey key, byte mode, byte[] nonce, short nonceOff, byte[] scratch, short ivOff) {
        Util.arrayFillNonAtomic(scratch, ivOff, BLOCK, (byte) 0);
        Util.arrayCopyNonAtomic(nonce, nonceOff, scratch, ivOff, Constants.SERIAL_LENGTH);
        cbc.init(key, Cipher.MODE_ENCRYPT);  // CBC with the all-zero IV (JavaCard 3.0.5 Cipher.init)
        cbc.doFinal(scratch, ivOff, BLOCK, scratch, ivOff);
        cbc.init(key, mode, scratch, ivOff, BLOCK);
        Util.arrayFillNonAtomic(scratch, ivOff, BLOCK, (byte) 0);
    }

    /**
     * The header is at buf[start..start+headerLength) with its nonce at nonceOff; encrypts
     * pt[ptOff..+ptLength) (whole blocks) to right after the header (pt may be exactly there).
     */
    void encrypt(AESKey encryption, byte[] buf, short start, short headerLength, short nonceOff,
                 byte[] pt, short ptOff, short ptLength, byte[] scratch, short scratchOff) {
        initCipher(encryption, Cipher.MODE_ENCRYPT, buf, nonceOff, scratch, scratchOff);
        cbc.doFinal(pt, ptOff, ptLength, buf, (short) (start + headerLength));
    }

    /** AES-CMAC of buf[off..off+len) to out[outOff..+16) (a closure image's synthetic nonce). */
    void mac(AESKey key, byte[] buf, short off, short len, byte[] out, short outOff) {
        cmac.init(key, Signature.MODE_SIGN);
        cmac.sign(buf, off, len, out, outOff);
    }

    /** Appends the MAC over buf[start..start+length) (header || ciphertext); returns length + 16. */
    short sign(AESKey mac, byte[] buf, short start, short length) {
        cmac.init(mac, Signature.MODE_SIGN);
        cmac.sign(buf, start, length, buf, (short) (start + length));
        return (short) (length + MAC_LENGTH);
    }

    /** encrypt, then sign: returns the total length (header, ciphertext, MAC). */
    short wrap(AESKey encryption, AESKey mac, byte[] buf, short start, short headerLength, short nonceOff,
               byte[] pt, short ptOff, short ptLength, byte[] scratch, short scratchOff) {
        encrypt(encryption, buf, start, headerLength, nonceOff, pt, ptOff, ptLength, scratch, scratchOff);
        return sign(mac, buf, start, (short) (headerLength + ptLength));
    }

    /**
     * Checks the MAC of buf[start..start+length) (header of headerLength, ciphertext, MAC) in
     * constant time (16 bytes of scratch); returns the ciphertext length. Any failure: SW_OBJECT_INVALID.
     */
    short verify(AESKey mac, byte[] buf, short start, short length, short headerLength, byte[] scratch,
                 short scratchOff) {
        short ctLength = (short) (length - headerLength - MAC_LENGTH);
        if (ctLength <= 0 || (short) (ctLength % BLOCK) != 0) {
            ISOException.throwIt(Constants.SW_OBJECT_INVALID);
        }
        cmac.init(mac, Signature.MODE_SIGN);
        cmac.sign(buf, start, (short) (headerLength + ctLength), scratch, scratchOff);
        if (!ConstantTime.equals(scratch, scratchOff, buf, (short) (start + headerLength + ctLength), MAC_LENGTH)) {
            ISOException.throwIt(Constants.SW_OBJECT_INVALID);
        }
        return ctLength;
    }

    /** Decrypts the ciphertext after the header (ctLength bytes) into pt[ptOff] (may be in place). */
    short decrypt(AESKey encryption, byte[] buf, short start, short headerLength, short ctLength, short nonceOff,
                  byte[] pt, short ptOff, byte[] scratch, short scratchOff) {
        initCipher(encryption, Cipher.MODE_DECRYPT, buf, nonceOff, scratch, scratchOff);
        return cbc.doFinal(buf, (short) (start + headerLength), ctLength, pt, ptOff);
    }

    /** verify, then decrypt: returns the plaintext length. */
    short unwrap(AESKey encryption, AESKey mac, byte[] buf, short start, short length, short headerLength,
                 short nonceOff, byte[] pt, short ptOff, byte[] scratch, short scratchOff) {
        short ctLength = verify(mac, buf, start, length, headerLength, scratch, scratchOff);
        return decrypt(encryption, buf, start, headerLength, ctLength, nonceOff, pt, ptOff, scratch, scratchOff);
    }
}
