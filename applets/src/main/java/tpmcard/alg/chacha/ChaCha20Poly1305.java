package tpmcard.alg.chacha;

import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.Util;
import tpmcard.algorithms.ProviderConstants;
import tpmcard.lib.ConstantTime;

/**
 * ChaCha20 and Poly1305 as the AEAD of RFC 8439 §2.8, in JavaCard code (no card API offers them),
 * in short and byte arithmetic only: no {@code int}, so it runs on cards without the optional
 * int type.
 *
 * <p>ChaCha20: each 32-bit word is a (high, low) pair of shorts. Addition carries from the low
 * half with the unsigned-overflow formula {@code ((a & b) | ((a | b) & ~sum)) >> 15 & 1}; rotations
 * shift both halves and move the bits that cross over under a constant mask. The block input
 * (constants, key, counter, nonce) is not kept: it is read again from the key and the nonce for
 * the final addition.
 *
 * <p>Poly1305 (§2.5): h has 17 limbs of 8 bits in shorts, r 16 bytes. A product h * r is
 * accumulated byte by byte (each 8 x 8-bit product fits 16 bits, taken as unsigned by masking)
 * into 33 limbs, carried, and reduced mod 2^130 - 5 by adding 5 times the part above 2^130; h
 * stays below 2^131. The final reduction (h - p if h >= p) selects with a mask, and the tag is
 * compared in constant time before anything is decrypted. No branch, loop bound or index depends
 * on the key, r, s, h or the text: only on the (public) lengths.
 *
 * <p>RAM: 134 bytes in three CLEAR_ON_RESET arrays (the rounds, whose 34 shorts also hold the
 * Poly1305 product; h; r and s).
 */
public final class ChaCha20Poly1305 {
    private static final short LIMBS = 17;
    private static final short PRODUCT_LIMBS = 34;

    private final short[] work;      // 16 words as 32 shorts (high, low): the rounds; or the Poly1305 product
    private final short[] h;         // Poly1305 accumulator, 17 limbs of 8 bits
    private final byte[] rs;         // Poly1305 r (clamped) | s, then s holds the tag

    public ChaCha20Poly1305() {
        work = JCSystem.makeTransientShortArray(PRODUCT_LIMBS, JCSystem.CLEAR_ON_RESET);
        h = JCSystem.makeTransientShortArray(LIMBS, JCSystem.CLEAR_ON_RESET);
        rs = JCSystem.makeTransientByteArray((short) 32, JCSystem.CLEAR_ON_RESET);
    }

    // ---- ChaCha20 (RFC 8439 §2.3) ----

    /** Half {@code high ? 0 : 1} of little-endian word at b[o]. */
    private static short half(byte[] b, short o, boolean high) {
        short at = high ? (short) (o + 2) : o;
        return (short) ((b[at] & 0xFF) | (b[(short) (at + 1)] << 8));
    }

    /**
     * Half of block input word i (§2.3): constants, key, block counter, nonce. The counter is
     * below 2^15 here (a command's data is at most 4,000 bytes).
     */
    private static short input(short i, boolean high, byte[] key, short keyOffset, short counter,
            byte[] nonce, short nonceOffset) {
        switch (i) {
            case 0: return high ? (short) 0x6170 : (short) 0x7865;   // "expa"
            case 1: return high ? (short) 0x3320 : (short) 0x646E;   // "nd 3"
            case 2: return high ? (short) 0x7962 : (short) 0x2D32;   // "2-by"
            case 3: return high ? (short) 0x6B20 : (short) 0x6574;   // "te k"
            case 12: return high ? 0 : counter;
            default:
                if (i < 12) {
                    return half(key, (short) (keyOffset + 4 * (i - 4)), high);
                }
                return half(nonce, (short) (nonceOffset + 4 * (i - 13)), high);
        }
    }

    /** work[a] += work[b] (mod 2^32). */
    private void add(short a, short b) {
        short al = work[(short) (2 * a + 1)];
        short bl = work[(short) (2 * b + 1)];
        short sum = (short) (al + bl);
        short carry = (short) ((((al & bl) | ((al | bl) & ~sum)) >> 15) & 1);
        work[(short) (2 * a + 1)] = sum;
        work[(short) (2 * a)] = (short) (work[(short) (2 * a)] + work[(short) (2 * b)] + carry);
    }

    /** work[d] ^= work[a]; then rotate left by n (16, 12, 8 or 7); mask = 2^n - 1 for n < 16. */
    private void xorRotate(short d, short a, short n, short mask) {
        short hi = (short) (work[(short) (2 * d)] ^ work[(short) (2 * a)]);
        short lo = (short) (work[(short) (2 * d + 1)] ^ work[(short) (2 * a + 1)]);
        if (n == 16) {
            work[(short) (2 * d)] = lo;
            work[(short) (2 * d + 1)] = hi;
            return;
        }
        short back = (short) (16 - n);
        work[(short) (2 * d)] = (short) ((hi << n) | ((lo >> back) & mask));
        work[(short) (2 * d + 1)] = (short) ((lo << n) | ((hi >> back) & mask));
    }

    /** RFC 8439 §2.1 quarter round on words a, b, c, d of work. */
    private void quarterRound(short a, short b, short c, short d) {
        add(a, b); xorRotate(d, a, (short) 16, (short) 0);
        add(c, d); xorRotate(b, c, (short) 12, (short) 0x0FFF);
        add(a, b); xorRotate(d, a, (short) 8, (short) 0x00FF);
        add(c, d); xorRotate(b, c, (short) 7, (short) 0x007F);
    }

    /**
     * out[0..n) = in[0..n) xor keystream block {@code counter} (§2.3.1, §2.4); n at most 64. Each
     * input byte is read before the output byte at the same index is written.
     */
    private void xorBlock(byte[] key, short keyOffset, short counter, byte[] nonce, short nonceOffset,
            byte[] in, short inOffset, byte[] out, short outOffset, short n) {
        for (short i = 0; i < 16; i++) {
            work[(short) (2 * i)] = input(i, true, key, keyOffset, counter, nonce, nonceOffset);
            work[(short) (2 * i + 1)] = input(i, false, key, keyOffset, counter, nonce, nonceOffset);
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
            short il = input(i, false, key, keyOffset, counter, nonce, nonceOffset);
            short ih = input(i, true, key, keyOffset, counter, nonce, nonceOffset);
            short wl = work[(short) (2 * i + 1)];
            short lo = (short) (wl + il);
            short carry = (short) ((((wl & il) | ((wl | il) & ~lo)) >> 15) & 1);
            short hi = (short) (work[(short) (2 * i)] + ih + carry);
            for (short b = 0; b < 4; b++) {
                short at = (short) (4 * i + b);
                if (at >= n) {
                    break;   // the length is public
                }
                byte k = (byte) (b == 0 ? lo : b == 1 ? (short) (lo >> 8) : b == 2 ? hi : (short) (hi >> 8));
                out[(short) (outOffset + at)] = (byte) (in[(short) (inOffset + at)] ^ k);
            }
        }
    }

    /** XOR data with the keystream from block counter 1 (§2.4). */
    private void xorStream(byte[] key, short keyOffset, byte[] nonce, short nonceOffset,
            byte[] in, short inOffset, short length, byte[] out, short outOffset) {
        short counter = 1;
        for (short done = 0; done < length; done += 64) {
            short n = (short) (length - done) < 64 ? (short) (length - done) : (short) 64;
            xorBlock(key, keyOffset, counter, nonce, nonceOffset, in, (short) (inOffset + done), out,
                    (short) (outOffset + done), n);
            counter++;
        }
    }

    // ---- Poly1305 (RFC 8439 §2.5) ----

    /** Poly1305 key from keystream block 0 (§2.6): r clamped, s; h = 0. */
    private void polyKey(byte[] key, short keyOffset, byte[] nonce, short nonceOffset) {
        Util.arrayFillNonAtomic(rs, (short) 0, (short) 32, (byte) 0);
        xorBlock(key, keyOffset, (short) 0, nonce, nonceOffset, rs, (short) 0, rs, (short) 0, (short) 32);
        rs[3] &= 15; rs[7] &= 15; rs[11] &= 15; rs[15] &= 15;
        rs[4] &= (byte) 252; rs[8] &= (byte) 252; rs[12] &= (byte) 252;
        for (short i = 0; i < LIMBS; i++) {
            h[i] = 0;
        }
    }

    /** h += 2^128 + 16 bytes of m with n of them read (the others zero: pad16, §2.8), carried. */
    private void polyAdd(byte[] m, short off, short n) {
        for (short j = 0; j < n; j++) {
            h[j] += (short) (m[(short) (off + j)] & 0xFF);
        }
        h[16] += 1;
        carryH();
    }

    /** Limbs 0..15 of h back to 8 bits, the carries into limb 16. */
    private void carryH() {
        for (short j = 0; j < 16; j++) {
            h[(short) (j + 1)] += (short) (h[j] >> 8);
            h[j] &= 0xFF;
        }
    }

    /**
     * h = h * r mod 2^130 - 5, partly reduced (limbs 0..15 below 2^8, h below 2^131). Each
     * h[i] * r[j] is below 2^16 (h[16] is small) and is split into its two bytes, so a column
     * sum stays below 2^15.
     */
    private void polyMultiply() {
        short[] p = work;
        for (short k = 0; k < PRODUCT_LIMBS; k++) {
            p[k] = 0;
        }
        for (short i = 0; i < LIMBS; i++) {
            short hi = h[i];
            for (short j = 0; j < 16; j++) {
                short t = (short) (hi * (short) (rs[j] & 0xFF));
                p[(short) (i + j)] += (short) (t & 0xFF);
                p[(short) (i + j + 1)] += (short) ((t >> 8) & 0xFF);
            }
        }
        for (short k = 0; k < (short) (PRODUCT_LIMBS - 1); k++) {
            p[(short) (k + 1)] += (short) (p[k] >> 8);
            p[k] &= 0xFF;
        }
        // 2^130 = 5 (mod p): h = (p mod 2^130) + 5 * (p >> 130). Limb k of p >> 130 is
        // (p[16+k] >> 2) | (p[17+k] << 6), 8 bits.
        for (short k = 0; k < LIMBS; k++) {
            short above = (short) ((short) ((p[(short) (16 + k)] >> 2) | (k < 16 ? (short) (p[(short) (17 + k)] << 6) : 0))
                    & 0xFF);
            short low = k < 16 ? p[k] : (short) (p[16] & 3);
            h[k] = (short) (low + (short) (5 * above));
        }
        carryH();
        for (short k = 0; k < PRODUCT_LIMBS; k++) {
            p[k] = 0;
        }
    }

    /** Feed data as 16-byte blocks, the last one zero-padded (the AEAD's pad16, §2.8). */
    private void polyPadded(byte[] in, short off, short length) {
        short done = 0;
        while (done < length) {
            short n = (short) (length - done) < 16 ? (short) (length - done) : (short) 16;
            polyAdd(in, (short) (off + done), n);
            polyMultiply();
            done += 16;
        }
    }

    /** The tag into rs[16..32): the length block, full reduction mod p, then + s mod 2^128 (§2.5.1). */
    private void polyFinish(short aadLength, short textLength) {
        h[0] += (short) (aadLength & 0xFF);
        h[1] += (short) ((aadLength >> 8) & 0xFF);
        h[8] += (short) (textLength & 0xFF);
        h[9] += (short) ((textLength >> 8) & 0xFF);
        h[16] += 1;
        carryH();
        polyMultiply();
        // Fold the bits at and above 2^130 once more: h < 2^130 + 35 < 2p.
        h[0] += (short) (5 * (short) (h[16] >> 2));
        h[16] &= 3;
        carryH();
        // g = h + 5; if g >= 2^130 (bit 130 set), h = g - 2^130 (= h - p). Selected with a mask.
        short[] g = work;
        short carry = 5;
        for (short i = 0; i < LIMBS; i++) {
            short acc = (short) (h[i] + carry);
            g[i] = (short) (acc & 0xFF);
            carry = (short) (acc >> 8);
        }
        short mask = (short) -(short) ((g[16] >> 2) & 1);   // g[16] < 8: bit 130 of g
        carry = 0;
        for (short i = 0; i < 16; i++) {
            short v = (short) ((h[i] & ~mask) | (g[i] & mask));
            short acc = (short) (v + (short) (rs[(short) (16 + i)] & 0xFF) + carry);
            rs[(short) (16 + i)] = (byte) acc;
            carry = (short) ((acc >> 8) & 1);
        }
        for (short i = 0; i < LIMBS; i++) {
            h[i] = 0;
            g[i] = 0;
        }
    }

    // ---- AEAD (RFC 8439 §2.8) ----

    /** Encrypt; writes ciphertext || tag, returns its length. */
    public short seal(byte[] key, short keyOffset, byte[] nonce, short nonceOffset, byte[] aad, short aadOffset,
            short aadLength, byte[] in, short inOffset, short inLength, byte[] out, short outOffset) {
        polyKey(key, keyOffset, nonce, nonceOffset);
        xorStream(key, keyOffset, nonce, nonceOffset, in, inOffset, inLength, out, outOffset);
        polyPadded(aad, aadOffset, aadLength);
        polyPadded(out, outOffset, inLength);
        polyFinish(aadLength, inLength);
        Util.arrayCopyNonAtomic(rs, (short) 16, out, (short) (outOffset + inLength), (short) 16);
        wipe();
        return (short) (inLength + 16);
    }

    /** Check the tag first (constant time), then decrypt: no plaintext leaves on a bad tag. */
    public short open(byte[] key, short keyOffset, byte[] nonce, short nonceOffset, byte[] aad, short aadOffset,
            short aadLength, byte[] in, short inOffset, short inLength, byte[] out, short outOffset) {
        short ctLength = (short) (inLength - 16);
        polyKey(key, keyOffset, nonce, nonceOffset);
        polyPadded(aad, aadOffset, aadLength);
        polyPadded(in, inOffset, ctLength);
        polyFinish(aadLength, ctLength);
        if (!ConstantTime.equals(rs, (short) 16, in, (short) (inOffset + ctLength), (short) 16)) {
            wipe();
            ISOException.throwIt(ProviderConstants.SW_VERIFICATION_FAILED);
        }
        xorStream(key, keyOffset, nonce, nonceOffset, in, inOffset, ctLength, out, outOffset);
        wipe();
        return ctLength;
    }

    private void wipe() {
        Util.arrayFillNonAtomic(rs, (short) 0, (short) 32, (byte) 0);
        for (short i = 0; i < PRODUCT_LIMBS; i++) {
            work[i] = 0;
        }
        for (short i = 0; i < LIMBS; i++) {
            h[i] = 0;
        }
    }
}
