package tpmcard.lib;

import javacard.framework.JCSystem;
import javacard.framework.Util;
import javacard.security.CryptoException;
import javacard.security.Key;
import javacard.security.MessageDigest;
import javacard.security.Signature;
import javacardx.crypto.Cipher;

/**
 * AES-CMAC-128 (NIST SP 800-38B, RFC 4493) in card code over AES-ECB, for cards without
 * {@code Signature.ALG_AES_CMAC_128} (an NXP J3H145, per JCAlgTest). It is a {@link Signature},
 * so callers do not change: {@link #getInstance} returns the card's own CMAC where it exists and
 * this class where {@code getInstance} throws NO_SUCH_ALGORITHM, once, at install.
 *
 * <p>Constant time: the subkey derivation (RFC 4493 §2.3) selects the 0x87 reduction with a
 * mask, never a branch on the key; the only branches are on data lengths, which are public.
 * RAM: one CLEAR_ON_RESET array of 33 bytes (the chaining value, one buffered block, its fill)
 * beside the AES engine. The subkeys are not kept: L = AES-K(0^128), then K1 or K2, are computed
 * when the last block is processed, in the buffer the last block leaves free (one AES block per
 * MAC more, 16 bytes of RAM less).
 *
 * <p>The engine is its own AES-ECB, or one the caller shares ({@link #getInstance(Cipher, boolean)}:
 * an AES-128 ECB or CBC cipher without padding, which on a J3H145 saves the 51 bytes of RAM of an
 * engine of its own): a shared engine is initialised with this MAC's key at the start of every
 * call that uses it (a CBC engine with its zero IV, so a one-block doFinal is AES-K of the block),
 * so the owner initialises it again before each use of its own, and a MAC may be computed over
 * several calls with other uses of the engine in between.
 */
public final class AesCmac extends Signature {
    private static final short BLOCK = 16;
    private static final short X = 0;           // chaining value
    private static final short BUFFER = 16;     // the last block seen, not yet chained; then L, K1, K2
    private static final short FILL = 32;       // bytes in BUFFER
    private static final short STATE_LENGTH = 33;

    private final Cipher aes;
    private final byte[] state;
    /**
     * A shared engine's key: the key of the last init, with which the engine is initialised at
     * every use (CLEAR_ON_RESET, so that init writes no EEPROM); null for an engine of its own.
     */
    private final Object[] key;

    /**
     * The card's AES-CMAC-128 where it has one, else this software implementation, working with
     * {@code engine} (an AES-128 ECB or CBC cipher without padding that the caller shares and
     * initialises before each use of its own). Any other failure of {@code getInstance} propagates.
     */
    public static Signature getInstance(Cipher engine, boolean externalAccess) {
        try {
            return Signature.getInstance(Signature.ALG_AES_CMAC_128, externalAccess);
        } catch (CryptoException e) {
            if (e.getReason() != CryptoException.NO_SUCH_ALGORITHM) {
                CryptoException.throwIt(e.getReason());
            }
        }
        return new AesCmac(engine);
    }

    /** The software implementation, whatever the card has (tests, and a provider told to). */
    public AesCmac(boolean externalAccess) {
        aes = Cipher.getInstance(Cipher.ALG_AES_BLOCK_128_ECB_NOPAD, externalAccess);
        key = null;
        state = JCSystem.makeTransientByteArray(STATE_LENGTH, JCSystem.CLEAR_ON_RESET);
    }

    /** The software implementation over a shared engine ({@link #getInstance(Cipher, boolean)}). */
    public AesCmac(Cipher engine) {
        aes = engine;
        key = JCSystem.makeTransientObjectArray((short) 1, JCSystem.CLEAR_ON_RESET);
        state = JCSystem.makeTransientByteArray(STATE_LENGTH, JCSystem.CLEAR_ON_RESET);
    }

    public void init(Key theKey, byte theMode) {
        if (theMode != MODE_SIGN && theMode != MODE_VERIFY) {
            CryptoException.throwIt(CryptoException.ILLEGAL_VALUE);
        }
        if (key != null) {
            key[0] = theKey;
        }
        aes.init(theKey, Cipher.MODE_ENCRYPT);
        Util.arrayFillNonAtomic(state, (short) 0, STATE_LENGTH, (byte) 0);
    }

    public void init(Key theKey, byte theMode, byte[] bArray, short bOff, short bLen) {
        CryptoException.throwIt(CryptoException.ILLEGAL_VALUE);
    }

    public void setInitialDigest(byte[] state, short stateOffset, short stateLength, byte[] digestedMsgLenBuf,
            short digestedMsgLenOffset, short digestedMsgLenLength) {
        CryptoException.throwIt(CryptoException.ILLEGAL_USE);
    }

    public byte getAlgorithm() {
        return ALG_AES_CMAC_128;
    }

    public byte getMessageDigestAlgorithm() {
        return MessageDigest.ALG_NULL;
    }

    public byte getCipherAlgorithm() {
        return SIG_CIPHER_AES_CMAC128;
    }

    public byte getPaddingAlgorithm() {
        return Cipher.PAD_NULL;
    }

    public short getLength() {
        return BLOCK;
    }

    /** Chains every full block but the last one seen: CMAC treats the last block apart. */
    public void update(byte[] inBuff, short inOffset, short inLength) {
        if (key != null) {
            aes.init((Key) key[0], Cipher.MODE_ENCRYPT);  // another user may have set it up since the last call
        }
        while (inLength > 0) {
            short fill = state[FILL];
            if (fill == BLOCK) {
                chain();
                fill = 0;
            }
            short n = (short) (BLOCK - fill);
            if (n > inLength) {
                n = inLength;
            }
            Util.arrayCopyNonAtomic(inBuff, inOffset, state, (short) (BUFFER + fill), n);
            state[FILL] = (byte) (fill + n);
            inOffset += n;
            inLength -= n;
        }
    }

    /** X = AES-K(X xor BUFFER). */
    private void chain() {
        for (short i = 0; i < BLOCK; i++) {
            state[(short) (X + i)] ^= state[(short) (BUFFER + i)];
        }
        aes.doFinal(state, X, BLOCK, state, X);
    }

    /**
     * The tag into state[X..X+16) (RFC 4493 §2.4 steps 4..6): X ^= M_last, where M_last is the
     * last block xor K1 (complete) or its padding xor K2; the subkey is made in BUFFER once the
     * block is folded into X.
     */
    private void finish() {
        short fill = state[FILL];
        if (fill != BLOCK) {
            state[(short) (BUFFER + fill)] = (byte) 0x80;  // pad(M_n): 10..0
            Util.arrayFillNonAtomic(state, (short) (BUFFER + fill + 1), (short) (BLOCK - fill - 1), (byte) 0);
        }
        for (short i = 0; i < BLOCK; i++) {
            state[(short) (X + i)] ^= state[(short) (BUFFER + i)];
        }
        // L = AES-K(0^128); K1 = L << 1 (xor 0x87 when L's top bit is set); K2 = K1 << 1 likewise.
        Util.arrayFillNonAtomic(state, BUFFER, BLOCK, (byte) 0);
        aes.doFinal(state, BUFFER, BLOCK, state, BUFFER);
        doubleBuffer();
        if (fill != BLOCK) {
            doubleBuffer();
        }
        for (short i = 0; i < BLOCK; i++) {
            state[(short) (X + i)] ^= state[(short) (BUFFER + i)];
        }
        aes.doFinal(state, X, BLOCK, state, X);
    }

    /** BUFFER = BUFFER << 1 in GF(2^128), xor 0x87 under a mask of the top bit (RFC 4493 §2.3). */
    private void doubleBuffer() {
        short carry = (short) ((state[BUFFER] >> 7) & 1);
        for (short i = 0; i < BLOCK; i++) {
            short next = i < (short) (BLOCK - 1) ? (short) ((state[(short) (BUFFER + i + 1)] >> 7) & 1) : 0;
            state[(short) (BUFFER + i)] = (byte) ((state[(short) (BUFFER + i)] << 1) | next);
        }
        state[(short) (BUFFER + BLOCK - 1)] ^= (byte) (0x87 & -carry);
    }

    /** Ready for the next message under the same key. */
    private void restart() {
        Util.arrayFillNonAtomic(state, X, (short) (STATE_LENGTH - X), (byte) 0);
    }

    public short sign(byte[] inBuff, short inOffset, short inLength, byte[] sigBuff, short sigOffset) {
        update(inBuff, inOffset, inLength);
        finish();
        Util.arrayCopyNonAtomic(state, X, sigBuff, sigOffset, BLOCK);
        restart();
        return BLOCK;
    }

    public boolean verify(byte[] inBuff, short inOffset, short inLength, byte[] sigBuff, short sigOffset,
            short sigLength) {
        update(inBuff, inOffset, inLength);
        finish();
        boolean ok = sigLength == BLOCK && ConstantTime.equals(state, X, sigBuff, sigOffset, BLOCK);
        restart();
        return ok;
    }

    public short signPreComputedHash(byte[] hashBuff, short hashOff, short hashLength, byte[] sigBuff,
            short sigOffset) {
        CryptoException.throwIt(CryptoException.ILLEGAL_USE);
        return 0;
    }

    public boolean verifyPreComputedHash(byte[] hashBuff, short hashOff, short hashLength, byte[] sigBuff,
            short sigOffset, short sigLength) {
        CryptoException.throwIt(CryptoException.ILLEGAL_USE);
        return false;
    }
}
