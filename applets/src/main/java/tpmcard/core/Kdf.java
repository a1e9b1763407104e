package tpmcard.core;

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

    /** Bytes of scratch the caller lends: the 4-byte counter, then one hash block for a partial last block. */
    static final short SCRATCH_LENGTH = (short) (COUNTER_LENGTH + HASH_LENGTH);

    private final MessageDigest sha256;
    /** RAM the caller lends (the binding's work area, BindingTransients KDF), at scratchOffset. */
    private final byte[] scratch;
    private final short scratchOffset;

    Kdf(MessageDigest sha256, byte[] scratch, short scratchOffset) {
        this.sha256 = sha256;
        this.scratch = scratch;
        this.scratchOffset = scratchOffset;
    }

    /**
     * Writes outLength bytes of key material to out[outOffset]. The output must not overlap
     * Z, SharedInfo or the scratch. Leaves no key material in the scratch.
     */
    void derive(byte[] z, short zOffset, short zLength, byte[] info, short infoOffset, short infoLength,
                byte[] out, short outOffset, short outLength) {
        if (outLength <= 0 || outLength > (short) (HASH_LENGTH * 8)) {
            CryptoException.throwIt(CryptoException.ILLEGAL_VALUE);
        }
        Util.arrayFillNonAtomic(scratch, scratchOffset, COUNTER_LENGTH, (byte) 0);
        short counter = (short) (scratchOffset + COUNTER_LENGTH - 1);
        short block = (short) (scratchOffset + COUNTER_LENGTH);
        short done = 0;
        while (done < outLength) {
            scratch[counter]++;  // counter = 1, 2, ... (at most 8 blocks, so one byte is enough)
            sha256.reset();
            sha256.update(z, zOffset, zLength);
            sha256.update(scratch, scratchOffset, COUNTER_LENGTH);
            short remaining = (short) (outLength - done);
            if (remaining >= HASH_LENGTH) {
                sha256.doFinal(info, infoOffset, infoLength, out, (short) (outOffset + done));
                done += HASH_LENGTH;
            } else {
                sha256.doFinal(info, infoOffset, infoLength, scratch, block);
                Util.arrayCopyNonAtomic(scratch, block, out, (short) (outOffset + done), remaining);
                done = outLength;
            }
        }
        Util.arrayFillNonAtomic(scratch, scratchOffset, SCRATCH_LENGTH, (byte) 0);
    }
}
