package tpmcard.algorithms;

import javacard.framework.ISOException;
import javacard.framework.Util;
import javacard.security.AESKey;
import javacard.security.CryptoException;
import javacardx.crypto.AEADCipher;
import javacardx.crypto.Cipher;

/**
 * AES-GCM through javacardx.crypto.AEADCipher (NIST SP 800-38D), 16-byte tags, with one adapter
 * for where implementations differ: JavaCard 3.0.5 says doFinal returns the ciphertext only and the
 * tag comes from retrieveTag/verifyTag, while jCardSim 3.0.6 appends the tag to doFinal's output
 * when encrypting and expects it after the ciphertext when decrypting. The constructor finds out
 * which with one empty encryption. A failed tag check wipes whatever plaintext was written.
 *
 * <p>On a card without AEADCipher GCM (NO_SUCH_ALGORITHM from getInstance: an NXP J3R180), or when
 * the owner asks for software, the cipher is {@link AesGcmSoftware}, over AES-ECB; the choice is
 * made once, here, at install.
 */
public final class Gcm {
    private final AEADCipher cipher;
    private final boolean tagInline;

    /**
     * @param probeKey any initialised-able AES key object (its value is overwritten with zeros)
     * @param scratch at least 48 bytes, overwritten (install only: the probe)
     * @param software use {@link AesGcmSoftware} even where the card has GCM
     */
    public Gcm(AESKey probeKey, byte[] scratch, boolean software) {
        this(probeKey, scratch, software, null);
    }

    /**
     * As {@link #Gcm(AESKey, byte[], boolean)}; the software implementation works with
     * {@code engine} (an AES-128 CBC or ECB cipher without padding the caller shares and
     * initialises before each use of its own), or with an AES-ECB of its own when it is null.
     */
    public Gcm(AESKey probeKey, byte[] scratch, boolean software, Cipher engine) {
        AEADCipher c = null;
        if (!software) {
            try {
                c = (AEADCipher) Cipher.getInstance(AEADCipher.ALG_AES_GCM, true);
            } catch (CryptoException e) {
                if (e.getReason() != CryptoException.NO_SUCH_ALGORITHM) {
                    CryptoException.throwIt(e.getReason());
                }
            }
        }
        if (c == null) {
            cipher = engine == null ? new AesGcmSoftware() : new AesGcmSoftware(engine);
            tagInline = false;
            return;
        }
        cipher = c;
        Util.arrayFillNonAtomic(scratch, (short) 0, (short) 48, (byte) 0);
        probeKey.setKey(scratch, (short) 0);
        cipher.init(probeKey, Cipher.MODE_ENCRYPT, scratch, (short) 0, (short) 12);
        tagInline = cipher.doFinal(scratch, (short) 0, (short) 0, scratch, (short) 16) == ProviderConstants.AEAD_TAG_LENGTH;
        probeKey.clearKey();
    }

    /** Whether this is the software implementation. */
    public boolean isSoftware() {
        return cipher instanceof AesGcmSoftware;
    }

    /** Encrypt; writes ciphertext || tag and returns its length. */
    public short encrypt(AESKey key, byte[] nonce, short nonceOffset, short nonceLength,
            byte[] aad, short aadOffset, short aadLength, byte[] in, short inOffset, short inLength,
            byte[] out, short outOffset) {
        cipher.init(key, Cipher.MODE_ENCRYPT, nonce, nonceOffset, nonceLength);
        if (aadLength > 0) {
            cipher.updateAAD(aad, aadOffset, aadLength);
        }
        short n = cipher.doFinal(in, inOffset, inLength, out, outOffset);
        if (!tagInline) {
            n += cipher.retrieveTag(out, (short) (outOffset + n), ProviderConstants.AEAD_TAG_LENGTH);
        }
        return n;
    }

    /**
     * Decrypt ciphertext || tag ({@code inLength} >= 16). On a bad tag the output is wiped and
     * {@link ProviderConstants#SW_VERIFICATION_FAILED} thrown.
     */
    public short decrypt(AESKey key, byte[] nonce, short nonceOffset, short nonceLength,
            byte[] aad, short aadOffset, short aadLength, byte[] in, short inOffset, short inLength,
            byte[] out, short outOffset) {
        short ctLength = (short) (inLength - ProviderConstants.AEAD_TAG_LENGTH);
        boolean ok;
        short n = 0;
        try {
            cipher.init(key, Cipher.MODE_DECRYPT, nonce, nonceOffset, nonceLength);
            if (aadLength > 0) {
                cipher.updateAAD(aad, aadOffset, aadLength);
            }
            n = cipher.doFinal(in, inOffset, tagInline ? inLength : ctLength, out, outOffset);
            ok = cipher.verifyTag(in, (short) (inOffset + ctLength), ProviderConstants.AEAD_TAG_LENGTH,
                    ProviderConstants.AEAD_TAG_LENGTH);
        } catch (CryptoException e) {
            ok = false;
        }
        if (!ok) {
            Util.arrayFillNonAtomic(out, outOffset, ctLength, (byte) 0);
            ISOException.throwIt(ProviderConstants.SW_VERIFICATION_FAILED);
        }
        return n;
    }
}
