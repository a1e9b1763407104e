package tpmcard.core;

import javacard.framework.JCSystem;
import javacard.framework.Util;
import javacard.security.CryptoException;
import javacard.security.MessageDigest;

/**
 * ANSI X9.63 key derivation with SHA-256 (SEC 1 v2 §3.6.1; NIST SP 800-56C rev. 2 §4.1, the
 * one-step KDF with a hash, as GP SCP11 uses it):
 * <pre>  K = H(Z || 00000001 || SharedInfo) || H(Z || 00000002 || SharedInfo) || ...</pre>
 * truncated to the requested length. Built from the card's MessageDigest; nothing hand-rolled
 * below the hash.
 */
final class Kdf {
    private static final short HASH_LENGTH = (short) 32;
    private static final short COUNTER_LENGTH = (short) 4;

    private final MessageDigest sha256;
    /** CLEAR_ON_DESELECT: the 4-byte counter, then one hash block for a partial last block. */
    private final byte[] scratch;

    Kdf(MessageDigest sha256) {
        this.sha256 = sha256;
        scratch = JCSystem.makeTransientByteArray((short) (COUNTER_LENGTH + HASH_LENGTH),
                JCSystem.CLEAR_ON_DESELECT);
    }

    /**
     * Writes outLength bytes of key material to out[outOffset]. The output must not overlap
     * Z or SharedInfo. Leaves no key material in the scratch buffer.
     */
    void derive(byte[] z, short zOffset, short zLength, byte[] info, short infoOffset, short infoLength,
                byte[] out, short outOffset, short outLength) {
        if (outLength <= 0 || outLength > (short) (HASH_LENGTH * 8)) {
            CryptoException.throwIt(CryptoException.ILLEGAL_VALUE);
        }
        Util.arrayFillNonAtomic(scratch, (short) 0, COUNTER_LENGTH, (byte) 0);
        short done = 0;
        while (done < outLength) {
            scratch[3]++;  // counter = 1, 2, ... (at most 8 blocks, so one byte is enough)
            sha256.reset();
            sha256.update(z, zOffset, zLength);
            sha256.update(scratch, (short) 0, COUNTER_LENGTH);
            short remaining = (short) (outLength - done);
            if (remaining >= HASH_LENGTH) {
                sha256.doFinal(info, infoOffset, infoLength, out, (short) (outOffset + done));
                done += HASH_LENGTH;
            } else {
                sha256.doFinal(info, infoOffset, infoLength, scratch, COUNTER_LENGTH);
                Util.arrayCopyNonAtomic(scratch, COUNTER_LENGTH, out, (short) (outOffset + done), remaining);
                done = outLength;
            }
        }
        Util.arrayFillNonAtomic(scratch, (short) 0, (short) scratch.length, (byte) 0);
    }
}
