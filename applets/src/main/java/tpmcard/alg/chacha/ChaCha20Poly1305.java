package tpmcard.alg.chacha;

import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.Util;
import tpmcard.algorithms.ProviderConstants;
import tpmcard.lib.ConstantTime;

/**
 * ChaCha20 and Poly1305 as the AEAD of RFC 8439 §2.8, in JavaCard code (no card API offers them).
 *
 * <p>Arithmetic: this class needs the JavaCard optional {@code int} type (JCRE 3.0.5 §2.2; JCOP,
 * Infineon SLE78 and most current cards offer it, the converter flag is -i). State lives in
 * transient {@code short} arrays (a card has no transient int arrays); only locals are int. No
 * long is used. ChaCha20 words are stored as (high, low) short pairs; Poly1305 uses 17 limbs of
 * 8 bits (2^130 = 5 mod p, so a product limb at 2^(8k), k >= 17, folds back times 5 * 2^6 = 320),
 * whose column sums stay below 2^31.
 */
public final class ChaCha20Poly1305 {
    private static final short LIMBS = 17;

    private final short[] state;     // 16 words as 32 shorts: the block input
    private final short[] work;      // 16 words as 32 shorts: the rounds
    private final byte[] stream;     // one 64-byte keystream block
    private final short[] r;
    private final short[] h;
    private final short[] x;
    private final byte[] s;          // Poly1305 s, then the computed tag
    private final byte[] block;      // a zero-padded 16-byte block

    public ChaCha20Poly1305() {
        state = JCSystem.makeTransientShortArray((short) 32, JCSystem.CLEAR_ON_RESET);
        work = JCSystem.makeTransientShortArray((short) 32, JCSystem.CLEAR_ON_RESET);
        stream = JCSystem.makeTransientByteArray((short) 64, JCSystem.CLEAR_ON_RESET);
        r = JCSystem.makeTransientShortArray(LIMBS, JCSystem.CLEAR_ON_RESET);
        h = JCSystem.makeTransientShortArray(LIMBS, JCSystem.CLEAR_ON_RESET);
        x = JCSystem.makeTransientShortArray(LIMBS, JCSystem.CLEAR_ON_RESET);
        s = JCSystem.makeTransientByteArray((short) 16, JCSystem.CLEAR_ON_RESET);
        block = JCSystem.makeTransientByteArray((short) 16, JCSystem.CLEAR_ON_RESET);
    }

    // ---- ChaCha20 (RFC 8439 §2.3) ----

    private static int get(short[] a, short i) {
        return (a[(short) (2 * i)] << 16) | (a[(short) (2 * i + 1)] & 0xFFFF);
    }

    private static void set(short[] a, short i, int v) {
        a[(short) (2 * i)] = (short) (v >>> 16);
        a[(short) (2 * i + 1)] = (short) v;
    }

    private static int le32(byte[] b, short o) {
        return (b[o] & 0xFF) | ((b[(short) (o + 1)] & 0xFF) << 8) | ((b[(short) (o + 2)] & 0xFF) << 16)
                | (b[(short) (o + 3)] << 24);
    }

    /** RFC 8439 §2.1 quarter round on words a, b, c, d of work. */
    private void quarterRound(short ia, short ib, short ic, short id) {
        int a = get(work, ia);
        int b = get(work, ib);
        int c = get(work, ic);
        int d = get(work, id);
        a += b; d ^= a; d = (d << 16) | (d >>> 16);
        c += d; b ^= c; b = (b << 12) | (b >>> 20);
        a += b; d ^= a; d = (d << 8) | (d >>> 24);
        c += d; b ^= c; b = (b << 7) | (b >>> 25);
        set(work, ia, a);
        set(work, ib, b);
        set(work, ic, c);
        set(work, id, d);
    }

    /** Set up the state (§2.3): constants, key, counter 0, nonce. */
    private void setUp(byte[] key, short keyOffset, byte[] nonce, short nonceOffset) {
        set(state, (short) 0, 0x61707865);
        set(state, (short) 1, 0x3320646e);
        set(state, (short) 2, 0x79622d32);
        set(state, (short) 3, 0x6b206574);
        for (short i = 0; i < 8; i++) {
            set(state, (short) (4 + i), le32(key, (short) (keyOffset + 4 * i)));
        }
        set(state, (short) 12, 0);
        for (short i = 0; i < 3; i++) {
            set(state, (short) (13 + i), le32(nonce, (short) (nonceOffset + 4 * i)));
        }
    }

    /** One 64-byte keystream block for the block counter in state word 12 (§2.3.1). */
    private void keystream() {
        for (short i = 0; i < 32; i++) {
            work[i] = state[i];
        }
        for (short i = 0; i < 10; i++) {
            quarterRound((short) 0, (short) 4, (short) 8, (short) 12);
            quarterRound((short) 1, (short) 5, (short) 9, (short) 13);
            quarterRound((short) 2, (short) 6, (short) 10, (short) 14);
            quarterRound((short) 3, (short) 7, (short) 11, (short) 15);
            quarterRound((short) 0, (short) 5, (short) 10, (short) 15);
            quarterRound((short) 1, (short) 6, (short) 11, (short) 12);
            quarterRound((short) 2, (short) 7, (short) 8, (short) 13);
            quarterRound((short) 3, (short) 4, (short) 9, (short) 14);
        }
        for (short i = 0; i < 16; i++) {
            int v = get(work, i) + get(state, i);
            short o = (short) (4 * i);
            stream[o] = (byte) v;
            stream[(short) (o + 1)] = (byte) (v >>> 8);
            stream[(short) (o + 2)] = (byte) (v >>> 16);
            stream[(short) (o + 3)] = (byte) (v >>> 24);
        }
    }

    /** XOR data with the keystream from block counter 1 (§2.4). in and out may be the same range. */
    private void xorStream(byte[] in, short inOffset, short length, byte[] out, short outOffset) {
        int counter = 1;
        for (short done = 0; done < length; done += 64) {
            set(state, (short) 12, counter++);
            keystream();
            short n = (short) (length - done) < 64 ? (short) (length - done) : (short) 64;
            for (short i = 0; i < n; i++) {
                out[(short) (outOffset + done + i)] = (byte) (in[(short) (inOffset + done + i)] ^ stream[i]);
            }
        }
    }

    // ---- Poly1305 (RFC 8439 §2.5) ----

    /** Poly1305 key from keystream block 0 (§2.6), r clamped. */
    private void polyKey() {
        set(state, (short) 12, 0);
        keystream();
        for (short i = 0; i < 16; i++) {
            r[i] = (short) (stream[i] & 0xFF);
        }
        r[3] &= 15; r[7] &= 15; r[11] &= 15; r[15] &= 15;
        r[4] &= 252; r[8] &= 252; r[12] &= 252;
        r[16] = 0;
        Util.arrayCopyNonAtomic(stream, (short) 16, s, (short) 0, (short) 16);
        Util.arrayFillNonAtomic(stream, (short) 0, (short) 64, (byte) 0);
        for (short i = 0; i < LIMBS; i++) {
            h[i] = 0;
        }
    }

    /** h = (h + block + 2^128) * r mod p, partly reduced (limbs < 256, h[16] small). */
    private void polyBlock(byte[] m, short off) {
        for (short j = 0; j < 16; j++) {
            h[j] += (short) (m[(short) (off + j)] & 0xFF);
        }
        h[16] += 1;
        int carry = 0;
        for (short i = 0; i < LIMBS; i++) {
            int acc = carry;
            for (short j = 0; j < LIMBS; j++) {
                acc += h[j] * (j <= i ? r[(short) (i - j)] : 320 * r[(short) (i + LIMBS - j)]);
            }
            x[i] = (short) (acc & 0xFF);
            carry = acc >>> 8;
        }
        // Bits at and above 2^130: x[16] >> 2 plus the carry out of limb 16 (at 2^136 = 2^130 * 64).
        int q = (x[16] >> 2) + carry * 64;
        x[16] &= 3;
        carry = q * 5;
        for (short i = 0; i < LIMBS; i++) {
            int acc = x[i] + carry;
            h[i] = (short) (i == 16 ? acc : acc & 0xFF);
            carry = acc >>> 8;
        }
    }

    /** Feed data as 16-byte blocks, the last one zero-padded (the AEAD's pad16, §2.8). */
    private void polyPadded(byte[] in, short off, short length) {
        short done = 0;
        while ((short) (length - done) >= 16) {
            polyBlock(in, (short) (off + done));
            done += 16;
        }
        if (done < length) {
            Util.arrayFillNonAtomic(block, (short) 0, (short) 16, (byte) 0);
            Util.arrayCopyNonAtomic(in, (short) (off + done), block, (short) 0, (short) (length - done));
            polyBlock(block, (short) 0);
        }
    }

    /** The tag into s: full reduction mod p, then + s mod 2^128 (§2.5.1). */
    private void polyFinish(short aadLength, short textLength) {
        Util.arrayFillNonAtomic(block, (short) 0, (short) 16, (byte) 0);
        block[0] = (byte) aadLength;
        block[1] = (byte) (aadLength >> 8);
        block[8] = (byte) textLength;
        block[9] = (byte) (textLength >> 8);
        polyBlock(block, (short) 0);
        // g = h + 5; if g >= 2^130, h = g - 2^130 (that is h - p). Selected without a branch on h.
        int carry = 5;
        for (short i = 0; i < LIMBS; i++) {
            int acc = h[i] + carry;
            x[i] = (short) (i == 16 ? acc : acc & 0xFF);
            carry = acc >>> 8;
        }
        int mask = -(x[16] >>> 2);              // all ones when g >= 2^130
        x[16] &= 3;
        carry = 0;
        for (short i = 0; i < 16; i++) {
            int v = (h[i] & ~mask) | (x[i] & mask);
            int acc = v + (s[i] & 0xFF) + carry;
            s[i] = (byte) acc;
            carry = acc >>> 8;
        }
        for (short i = 0; i < LIMBS; i++) {
            h[i] = 0;
            x[i] = 0;
            r[i] = 0;
        }
    }

    // ---- AEAD (RFC 8439 §2.8) ----

    /** Encrypt; writes ciphertext || tag, returns its length. */
    public short seal(byte[] key, short keyOffset, byte[] nonce, short nonceOffset, byte[] aad, short aadOffset,
            short aadLength, byte[] in, short inOffset, short inLength, byte[] out, short outOffset) {
        setUp(key, keyOffset, nonce, nonceOffset);
        polyKey();
        xorStream(in, inOffset, inLength, out, outOffset);
        polyPadded(aad, aadOffset, aadLength);
        polyPadded(out, outOffset, inLength);
        polyFinish(aadLength, inLength);
        Util.arrayCopyNonAtomic(s, (short) 0, out, (short) (outOffset + inLength), (short) 16);
        wipe();
        return (short) (inLength + 16);
    }

    /** Check the tag first (constant time), then decrypt: no plaintext leaves on a bad tag. */
    public short open(byte[] key, short keyOffset, byte[] nonce, short nonceOffset, byte[] aad, short aadOffset,
            short aadLength, byte[] in, short inOffset, short inLength, byte[] out, short outOffset) {
        short ctLength = (short) (inLength - 16);
        setUp(key, keyOffset, nonce, nonceOffset);
        polyKey();
        polyPadded(aad, aadOffset, aadLength);
        polyPadded(in, inOffset, ctLength);
        polyFinish(aadLength, ctLength);
        if (!ConstantTime.equals(s, (short) 0, in, (short) (inOffset + ctLength), (short) 16)) {
            wipe();
            ISOException.throwIt(ProviderConstants.SW_VERIFICATION_FAILED);
        }
        xorStream(in, inOffset, ctLength, out, outOffset);
        wipe();
        return ctLength;
    }

    private void wipe() {
        Util.arrayFillNonAtomic(stream, (short) 0, (short) 64, (byte) 0);
        Util.arrayFillNonAtomic(s, (short) 0, (short) 16, (byte) 0);
        for (short i = 0; i < 32; i++) {
            state[i] = 0;
            work[i] = 0;
        }
    }
}
