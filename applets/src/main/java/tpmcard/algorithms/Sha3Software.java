package tpmcard.algorithms;

import javacard.framework.JCSystem;
import javacard.framework.Util;
import javacard.security.CryptoException;
import javacard.security.MessageDigest;

/**
 * SHA3-256 (FIPS 202) in card code, for cards without {@code MessageDigest.ALG_SHA3_256} (an NXP
 * J3R180, per JCAlgTest). A {@link MessageDigest}, so the provider's code does not change.
 *
 * <p>Keccak-f[1600] on 25 lanes of 64 bits held as 8 little-endian bytes each (the state is the
 * byte string FIPS 202 §B.1 describes). Every step is byte arithmetic: theta xors columns, rho
 * rotates a lane by a bit count and pi moves it (both fixed by the lane's position: a constant
 * of the permutation, never of the data), chi combines with AND/NOT, iota xors a round constant
 * made by the LFSR of FIPS 202 §3.2.5 (computed, since a library package holds no static arrays).
 * No branch or index depends on the message or the state. Input is xored straight into the
 * state at a position counter, so no block buffer is kept.
 *
 * <p>RAM: one CLEAR_ON_RESET array of 200 + 40 + 2 = 242 bytes (the state; theta's column
 * parities, the lanes rho and pi carry, chi's row; the position).
 */
public final class Sha3Software extends MessageDigest {
    private static final short RATE = 136;          // SHA3-256: 1600 - 2 * 256 bits
    private static final short OUTPUT = 32;
    private static final short ROW = 200;           // 5 lanes: column parities (theta), a row (chi)
    private static final short POSITION = 240;      // bytes absorbed into the current block
    private static final short STATE_LENGTH = 242;

    private final byte[] s;

    public Sha3Software() {
        s = JCSystem.makeTransientByteArray(STATE_LENGTH, JCSystem.CLEAR_ON_RESET);
    }

    public byte getAlgorithm() {
        return ALG_SHA3_256;
    }

    public byte getLength() {
        return (byte) OUTPUT;
    }

    public void reset() {
        Util.arrayFillNonAtomic(s, (short) 0, STATE_LENGTH, (byte) 0);
    }

    public void update(byte[] inBuff, short inOffset, short inLength) {
        short position = Util.getShort(s, POSITION);
        for (short i = 0; i < inLength; i++) {
            s[position] ^= inBuff[(short) (inOffset + i)];
            position++;
            if (position == RATE) {
                permute();
                position = 0;
            }
        }
        Util.setShort(s, POSITION, position);
    }

    public short doFinal(byte[] inBuff, short inOffset, short inLength, byte[] outBuff, short outOffset) {
        update(inBuff, inOffset, inLength);
        // SHA-3 padding: the suffix 01, then pad10*1 (FIPS 202 §6.1, §5.1): 0x06 ... 0x80.
        short position = Util.getShort(s, POSITION);
        s[position] ^= (byte) 0x06;
        s[(short) (RATE - 1)] ^= (byte) 0x80;
        permute();
        Util.arrayCopyNonAtomic(s, (short) 0, outBuff, outOffset, OUTPUT);
        reset();
        return OUTPUT;
    }

    public void setInitialDigest(byte[] initialDigestBuf, short initialDigestOffset, short initialDigestLength,
            byte[] digestedMsgLenBuf, short digestedMsgLenOffset, short digestedMsgLenLength) {
        CryptoException.throwIt(CryptoException.ILLEGAL_USE);
    }

    /** Rotate lane at s[from] left by n bits (0..63) into s[to] (not overlapping). */
    private void rotate(short from, short n, short to) {
        short bytes = (short) (n >> 3);
        short bits = (short) (n & 7);
        for (short i = 0; i < 8; i++) {
            short hi = (short) (s[(short) (from + ((short) (i - bytes) & 7))] & 0xFF);
            short lo = (short) (s[(short) (from + ((short) (i - bytes - 1) & 7))] & 0xFF);
            s[(short) (to + i)] = (byte) ((hi << bits) | (lo >> (short) (8 - bits)));
        }
    }

    /** Keccak-f[1600], 24 rounds (FIPS 202 §3.3, §3.4). */
    private void permute() {
        short lfsr = 1;    // rc(t) state, FIPS 202 Algorithm 5
        for (short round = 0; round < 24; round++) {
            // theta: C[x] = xor of column x; D[x] = C[x-1] ^ rot(C[x+1], 1); A[x,y] ^= D[x].
            for (short x = 0; x < 5; x++) {
                for (short b = 0; b < 8; b++) {
                    short at = (short) (8 * x + b);
                    s[(short) (ROW + at)] = (byte) (s[at] ^ s[(short) (40 + at)] ^ s[(short) (80 + at)]
                            ^ s[(short) (120 + at)] ^ s[(short) (160 + at)]);
                }
            }
            for (short x = 0; x < 5; x++) {
                short right = (short) (ROW + 8 * ((short) (x + 1) % 5));
                short left = (short) (ROW + 8 * ((short) (x + 4) % 5));
                for (short b = 0; b < 8; b++) {
                    // Byte b of rot(C[x+1], 1): its bits shifted up, the top bit of byte b-1 in.
                    byte rotated = (byte) ((s[(short) (right + b)] << 1)
                            | ((s[(short) (right + ((short) (b - 1) & 7))] >> 7) & 1));
                    byte d = (byte) (s[(short) (left + b)] ^ rotated);
                    for (short y = 0; y < 5; y++) {
                        s[(short) (40 * y + 8 * x + b)] ^= d;
                    }
                }
            }
            // rho and pi together (FIPS 202 §3.2.2, §3.2.3): walk the 24 lanes of the cycle
            // (x, y) -> (y, 2x + 3y), carrying one lane; the offsets are (t+1)(t+2)/2 mod 64.
            short x = 1;
            short y = 0;
            Util.arrayCopyNonAtomic(s, (short) 8, s, ROW, (short) 8);   // lane (1, 0)
            for (short t = 0; t < 24; t++) {
                short nx = y;
                short ny = (short) ((short) (2 * x + 3 * y) % 5);
                short target = (short) (40 * ny + 8 * nx);
                Util.arrayCopyNonAtomic(s, target, s, (short) (ROW + 8), (short) 8);   // keep the next lane
                rotate(ROW, (short) ((short) ((short) ((short) (t + 1) * (short) (t + 2)) / 2) & 63), target);
                Util.arrayCopyNonAtomic(s, (short) (ROW + 8), s, ROW, (short) 8);
                x = nx;
                y = ny;
            }
            // chi: A[x,y] ^= ~A[x+1,y] & A[x+2,y], row by row through a copy.
            for (y = 0; y < 5; y++) {
                short row = (short) (40 * y);
                Util.arrayCopyNonAtomic(s, row, s, ROW, (short) 40);
                for (x = 0; x < 5; x++) {
                    short a1 = (short) (ROW + 8 * ((short) (x + 1) % 5));
                    short a2 = (short) (ROW + 8 * ((short) (x + 2) % 5));
                    for (short b = 0; b < 8; b++) {
                        s[(short) (row + 8 * x + b)] ^= (byte) (~s[(short) (a1 + b)] & s[(short) (a2 + b)]);
                    }
                }
            }
            // iota: bit 2^j - 1 of lane (0, 0) is rc(j + 7 * round), j = 0..6 (FIPS 202 Algorithm 6).
            short bit = 0;     // 2^j - 1
            for (short j = 0; j < 7; j++) {
                s[(short) (bit >> 3)] ^= (byte) ((short) (lfsr & 1) << (short) (bit & 7));
                bit = (short) (2 * bit + 1);
                // rc LFSR step: R = 0 || R; R[0] ^= R[8]; R[4] ^= R[8]; R[5] ^= R[8]; R[6] ^= R[8].
                short r8 = (short) ((lfsr >> 7) & 1);
                lfsr = (short) ((lfsr << 1) & 0xFF);
                lfsr ^= (short) (r8 * 0x71);
            }
        }
        Util.arrayFillNonAtomic(s, ROW, (short) (POSITION - ROW), (byte) 0);
    }
}
