package tpmcard.algorithms;

import javacard.framework.JCSystem;
import javacard.framework.Util;
import javacard.security.CryptoException;
import javacard.security.Key;
import javacardx.crypto.AEADCipher;
import javacardx.crypto.Cipher;
import tpmcard.lib.ConstantTime;

/**
 * AES-GCM (NIST SP 800-38D) in card code over AES-ECB, for cards without
 * {@code AEADCipher.ALG_AES_GCM} (an NXP J3R180, per JCAlgTest). An {@link AEADCipher} with the
 * JavaCard 3.0.5 contract: doFinal returns the text only, the tag comes from retrieveTag and is
 * checked with verifyTag. 96-bit nonces only (SP 800-38D §8.2.1's recommended form, the only one
 * the providers take).
 *
 * <p>GHASH multiplies in GF(2^128) bit by bit, in short arithmetic (§6.3, Algorithm 1): Z, V and
 * H are 8 big-endian 16-bit words each. For each of the 128 bits of X, Z ^= V AND mask, where
 * mask is 0x0000 or 0xFFFF made from the bit by negation; V is shifted right one bit and the
 * reduction constant 0xE100 is xored into its first word under the mask of V's lowest bit. No
 * branch and no table index depends on H, X or the data; the loops run 128 x 8 times whatever
 * the values. The counter (public: it comes from the nonce) is incremented with a ripple carry.
 * RAM: two CLEAR_ON_RESET arrays, 56 bytes and 24 shorts (H, Z, V), beside the AES engine: an
 * AES-ECB of its own, or one the caller shares ({@link #AesGcmSoftware(Cipher)}: an AES-128 ECB or
 * CBC cipher without padding, initialised with this cipher's key at the start of every call that
 * uses it, so the owner initialises it again before each use of its own).
 */
public final class AesGcmSoftware extends AEADCipher {
    private static final short BLOCK = 16;
    private static final short COUNTER = 0;     // J0, then the counter block of the last keystream block
    private static final short X = 16;          // GHASH accumulator
    private static final short STREAM = 32;     // keystream block, then the tag
    private static final short AAD_LENGTH = 48; // 2 bytes each: AAD length, text length
    private static final short TEXT_LENGTH = 50;
    private static final short HASH_FILL = 52;  // bytes xored into X since the last multiplication
    private static final short STREAM_USED = 53; // keystream bytes used from STREAM (16: none left)
    private static final short MODE = 54;       // 0: not initialised, else Cipher.MODE_*
    private static final short PHASE = 55;      // 0: AAD, 1: text, 2: finished (tag in STREAM)
    private static final short STATE_LENGTH = 56;
    private static final short WORDS = 8;       // 16-bit words of a block
    private static final short H = 0;           // in words: hash subkey AES-K(0^128)
    private static final short Z = 8;           // multiplication product
    private static final short V = 16;          // multiplication operand, shifted
    private static final short NONCE_LENGTH = 12;

    private final Cipher aes;
    private final byte[] state;
    private final short[] words;
    /**
     * A shared engine's key: the key of the last init, with which the engine is initialised at
     * every use (CLEAR_ON_RESET, so that init writes no EEPROM); null for an engine of its own.
     */
    private final Object[] key;

    public AesGcmSoftware() {
        this(Cipher.getInstance(Cipher.ALG_AES_BLOCK_128_ECB_NOPAD, true), false);
    }

    /** Over {@code engine}, an AES-128 ECB or CBC cipher without padding that the caller shares. */
    public AesGcmSoftware(Cipher engine) {
        this(engine, true);
    }

    private AesGcmSoftware(Cipher engine, boolean shared) {
        aes = engine;
        key = shared ? JCSystem.makeTransientObjectArray((short) 1, JCSystem.CLEAR_ON_RESET) : null;
        state = JCSystem.makeTransientByteArray(STATE_LENGTH, JCSystem.CLEAR_ON_RESET);
        words = JCSystem.makeTransientShortArray((short) (3 * WORDS), JCSystem.CLEAR_ON_RESET);
    }

    public byte getAlgorithm() {
        return ALG_AES_GCM;
    }

    public byte getCipherAlgorithm() {
        return CIPHER_AES_GCM;
    }

    public byte getPaddingAlgorithm() {
        return PAD_NULL;
    }

    public void init(Key theKey, byte theMode) {
        CryptoException.throwIt(CryptoException.ILLEGAL_VALUE);   // GCM needs a nonce
    }

    public void init(Key theKey, byte theMode, byte[] nonceBuf, short nonceOff, short nonceLen) {
        if ((theMode != MODE_ENCRYPT && theMode != MODE_DECRYPT) || nonceLen != NONCE_LENGTH) {
            CryptoException.throwIt(CryptoException.ILLEGAL_VALUE);
        }
        if (key != null) {
            key[0] = theKey;
        }
        aes.init(theKey, MODE_ENCRYPT);
        Util.arrayFillNonAtomic(state, (short) 0, STATE_LENGTH, (byte) 0);
        aes.doFinal(state, X, BLOCK, state, STREAM);            // H = AES-K(0^128), as words
        for (short i = 0; i < WORDS; i++) {
            words[(short) (H + i)] = Util.getShort(state, (short) (STREAM + 2 * i));
        }
        Util.arrayFillNonAtomic(state, STREAM, BLOCK, (byte) 0);
        // J0 = IV || 0^31 || 1 (§7.1 step 2).
        Util.arrayCopyNonAtomic(nonceBuf, nonceOff, state, COUNTER, NONCE_LENGTH);
        state[(short) (COUNTER + BLOCK - 1)] = 1;
        state[STREAM_USED] = (byte) BLOCK;
        state[MODE] = theMode;
    }

    public void init(Key theKey, byte theMode, byte[] nonceBuf, short nonceOff, short nonceLen, short adataLen,
            short messageLen, short tagSize) {
        if (tagSize != BLOCK) {
            CryptoException.throwIt(CryptoException.ILLEGAL_VALUE);
        }
        init(theKey, theMode, nonceBuf, nonceOff, nonceLen);
    }

    private void requirePhase(short maxPhase) {
        if (state[MODE] == 0 || state[PHASE] > maxPhase) {
            CryptoException.throwIt(CryptoException.ILLEGAL_USE);
        }
    }

    public void updateAAD(byte[] aBuf, short aOff, short aLen) {
        requirePhase((short) 0);
        for (short i = 0; i < aLen; i++) {
            absorb(aBuf[(short) (aOff + i)]);
        }
        Util.setShort(state, AAD_LENGTH, (short) (Util.getShort(state, AAD_LENGTH) + aLen));
    }

    /** GHASH one byte: X[fill] ^= b; a full block multiplies X by H. */
    private void absorb(byte b) {
        short fill = state[HASH_FILL];
        state[(short) (X + fill)] ^= b;
        fill++;
        if (fill == BLOCK) {
            multiply();
            fill = 0;
        }
        state[HASH_FILL] = (byte) fill;
    }

    /** Ends a GHASH segment (AAD or text): zero padding to a block (§6.4). */
    private void padHash() {
        if (state[HASH_FILL] != 0) {
            multiply();
            state[HASH_FILL] = 0;
        }
    }

    /** X = X * H in GF(2^128) (§6.3, Algorithm 1), constant time, in 16-bit words. */
    private void multiply() {
        short[] w = words;
        for (short j = 0; j < WORDS; j++) {
            w[(short) (Z + j)] = 0;
            w[(short) (V + j)] = w[(short) (H + j)];
        }
        for (short i = 0; i < 128; i++) {
            // Bit i of X, most significant bit of X[0] first; the index is the loop counter's.
            short mask = (short) -(short) ((state[(short) (X + (i >> 3))] >> (short) (7 - (i & 7))) & 1);
            short reduce = (short) ((short) 0xE100 & (short) -(short) (w[(short) (V + WORDS - 1)] & 1));
            for (short j = (short) (WORDS - 1); j > 0; j--) {
                short v = w[(short) (V + j)];
                w[(short) (Z + j)] ^= (short) (v & mask);
                // V >> 1 across words: this word's bits down, the previous word's lowest bit in at the top.
                w[(short) (V + j)] = (short) (((v >> 1) & 0x7FFF) | (w[(short) (V + j - 1)] << 15));
            }
            short v0 = w[V];
            w[Z] ^= (short) (v0 & mask);
            w[V] = (short) ((((v0 >> 1) & 0x7FFF)) ^ reduce);
        }
        for (short j = 0; j < WORDS; j++) {
            Util.setShort(state, (short) (X + 2 * j), w[(short) (Z + j)]);
            w[(short) (Z + j)] = 0;
            w[(short) (V + j)] = 0;
        }
    }

    /** The next keystream block: inc32 of the counter (§6.2), then AES. */
    private void nextStream() {
        for (short i = (short) (COUNTER + BLOCK - 1); i >= (short) (COUNTER + BLOCK - 4); i--) {
            state[i]++;
            if (state[i] != 0) {
                break;
            }
        }
        aes.doFinal(state, COUNTER, BLOCK, state, STREAM);
        state[STREAM_USED] = 0;
    }

    public short update(byte[] inBuff, short inOffset, short inLength, byte[] outBuff, short outOffset) {
        requirePhase((short) 1);
        if (key != null) {
            aes.init((Key) key[0], MODE_ENCRYPT);  // another user may have set it up since the last call
        }
        if (state[PHASE] == 0) {
            padHash();
            state[PHASE] = 1;
        }
        boolean decrypt = state[MODE] == MODE_DECRYPT;
        // Byte by byte, each input byte read before its output byte is written, so the output may
        // overlap the input at the same or a lower offset.
        for (short i = 0; i < inLength; i++) {
            if (state[STREAM_USED] == BLOCK) {
                nextStream();
            }
            byte c = inBuff[(short) (inOffset + i)];
            short used = state[STREAM_USED];
            byte p = (byte) (c ^ state[(short) (STREAM + used)]);
            state[STREAM_USED] = (byte) (used + 1);
            outBuff[(short) (outOffset + i)] = p;
            absorb(decrypt ? c : p);
        }
        Util.setShort(state, TEXT_LENGTH, (short) (Util.getShort(state, TEXT_LENGTH) + inLength));
        return inLength;
    }

    public short doFinal(byte[] inBuff, short inOffset, short inLength, byte[] outBuff, short outOffset) {
        short n = update(inBuff, inOffset, inLength, outBuff, outOffset);
        padHash();
        // len(A) || len(C) in bits, 64 bits each (§7.1 step 5); the lengths are below 2^15 bytes.
        short a = Util.getShort(state, AAD_LENGTH);
        short t = Util.getShort(state, TEXT_LENGTH);
        state[(short) (X + 5)] ^= (byte) (a >> 13);
        state[(short) (X + 6)] ^= (byte) (a >> 5);
        state[(short) (X + 7)] ^= (byte) (a << 3);
        state[(short) (X + 13)] ^= (byte) (t >> 13);
        state[(short) (X + 14)] ^= (byte) (t >> 5);
        state[(short) (X + 15)] ^= (byte) (t << 3);
        multiply();
        // T = GCTR(J0, S) = AES-K(J0) xor S (§7.1 step 6): J0 is the counter with its last 32 bits 1.
        state[(short) (COUNTER + 12)] = 0;
        state[(short) (COUNTER + 13)] = 0;
        state[(short) (COUNTER + 14)] = 0;
        state[(short) (COUNTER + 15)] = 1;
        aes.doFinal(state, COUNTER, BLOCK, state, STREAM);
        for (short i = 0; i < BLOCK; i++) {
            state[(short) (STREAM + i)] ^= state[(short) (X + i)];
        }
        Util.arrayFillNonAtomic(state, (short) 0, STREAM, (byte) 0);   // counter, X
        wipeWords();
        state[PHASE] = 2;
        return n;
    }

    public short retrieveTag(byte[] tagBuf, short tagOff, short tagLen) {
        if (state[PHASE] != 2 || state[MODE] != MODE_ENCRYPT || tagLen < 0 || tagLen > BLOCK) {
            CryptoException.throwIt(CryptoException.ILLEGAL_USE);
        }
        Util.arrayCopyNonAtomic(state, STREAM, tagBuf, tagOff, tagLen);
        return tagLen;
    }

    public boolean verifyTag(byte[] receivedTagBuf, short receivedTagOff, short receivedTagLen,
            short requiredTagLen) {
        if (state[PHASE] != 2 || state[MODE] != MODE_DECRYPT) {
            CryptoException.throwIt(CryptoException.ILLEGAL_USE);
        }
        boolean ok = receivedTagLen == BLOCK && requiredTagLen == BLOCK
                && ConstantTime.equals(state, STREAM, receivedTagBuf, receivedTagOff, BLOCK);
        Util.arrayFillNonAtomic(state, (short) 0, STATE_LENGTH, (byte) 0);
        return ok;
    }

    private void wipeWords() {
        for (short j = 0; j < (short) (3 * WORDS); j++) {
            words[j] = 0;
        }
    }
}
