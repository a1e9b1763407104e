package tpmcard.mtpm;

import javacard.framework.ISOException;

/**
 * The closure engine's arithmetic on 16-bit values and its 32-bit helpers, in short arithmetic
 * only (no int: docs/closures.md). DIV32 and ADD32 let a closure work with 32-bit big-endian
 * words in its memory (HOTP's dynamic truncation and decimal digits, TOTP's time step).
 */
final class ClosureMath {
    private ClosureMath() {}

    /** The two-operand instructions ADD..ULT (except NOT): a op b. */
    static short binary(byte op, short a, short b) {
        switch (op) {
            case ClosureConstants.OP_ADD:
                return (short) (a + b);
            case ClosureConstants.OP_SUB:
                return (short) (a - b);
            case ClosureConstants.OP_MUL:
                return (short) (a * b);
            case ClosureConstants.OP_DIV:
                nonZero(b);
                return (short) (a / b);
            case ClosureConstants.OP_MOD:
                nonZero(b);
                return (short) (a % b);
            case ClosureConstants.OP_AND:
                return (short) (a & b);
            case ClosureConstants.OP_OR:
                return (short) (a | b);
            case ClosureConstants.OP_XOR:
                return (short) (a ^ b);
            case ClosureConstants.OP_SHL:
                return (short) (a << (short) (b & 15));
            case ClosureConstants.OP_SHR:
                return shr(a, (short) (b & 15));
            case ClosureConstants.OP_EQ:
                return a == b ? (short) 1 : 0;
            case ClosureConstants.OP_LT:
                return a < b ? (short) 1 : 0;
            case ClosureConstants.OP_ULT:
                return (short) (a ^ (short) 0x8000) < (short) (b ^ (short) 0x8000) ? (short) 1 : 0;
            default:
                ISOException.throwIt(ClosureConstants.SW_CLOSURE_CODE);
                return 0;
        }
    }

    private static void nonZero(short b) {
        if (b == 0) {
            ISOException.throwIt(ClosureConstants.SW_CLOSURE_ARITHMETIC);
        }
    }

    /** Logical shift right of the 16 bits of a by n (0..15). */
    static short shr(short a, short n) {
        if (n == 0) {
            return a;
        }
        return (short) ((short) (a >> n) & (short) (0x7FFF >> (short) (n - 1)));
    }

    /**
     * buf[off..off+4) (unsigned 32-bit big-endian) := its quotient by d (1..32767); returns the
     * remainder. Bit by bit: the running remainder is below d, so twice it plus one fits 16
     * unsigned bits, compared unsigned.
     */
    static short div32(byte[] buf, short off, short d) {
        short rem = 0;
        for (short i = 0; i < 4; i++) {
            short b = (short) (buf[(short) (off + i)] & 0xFF);
            short q = 0;
            for (short bit = 7; bit >= 0; bit--) {
                rem = (short) ((short) (rem << 1) | (short) ((short) (b >> bit) & 1));
                if (rem < 0 || rem >= d) {
                    rem = (short) (rem - d);
                    q = (short) (q | (short) (1 << bit));
                }
            }
            buf[(short) (off + i)] = (byte) q;
        }
        return rem;
    }

    /** buf[off..off+4) += v (unsigned 16-bit), mod 2^32; returns the carry out (0 or 1). */
    static short add32(byte[] buf, short off, short v) {
        short carry = 0;
        for (short i = 3; i >= 0; i--) {
            short addend = i == 3 ? (short) (v & 0xFF) : i == 2 ? (short) ((short) (v >> 8) & 0xFF) : 0;
            short s = (short) ((short) (buf[(short) (off + i)] & 0xFF) + addend + carry);
            buf[(short) (off + i)] = (byte) s;
            carry = (short) ((short) (s >> 8) & 1);
        }
        return carry;
    }
}
