package tpmcard.mtpm;

import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.Util;

/**
 * A bounds-checked reader over command data. Its position lives in CLEAR_ON_RESET RAM (the
 * service is never the selected applet, so CLEAR_ON_DESELECT RAM is out of reach on a real card).
 * Every short read answers SW_WRONG_LENGTH; trailing bytes are refused by {@link #end()}.
 */
final class Cursor {
    private static final short POSITION = 0;
    private static final short END = 1;
    private final short[] state = JCSystem.makeTransientShortArray((short) 2, JCSystem.CLEAR_ON_RESET);

    void begin(short offset, short length) {
        if (length < 0) {
            ISOException.throwIt(Constants.SW_WRONG_LENGTH);
        }
        state[POSITION] = offset;
        state[END] = (short) (offset + length);
    }

    short remaining() {
        return (short) (state[END] - state[POSITION]);
    }

    /** Consumes n bytes; returns the offset where they start. */
    short take(short n) {
        if (n < 0 || n > remaining()) {
            ISOException.throwIt(Constants.SW_WRONG_LENGTH);
        }
        short at = state[POSITION];
        state[POSITION] = (short) (at + n);
        return at;
    }

    /** Consumes the rest; returns the offset where it starts. */
    short rest() {
        return take(remaining());
    }

    short u8(byte[] in) {
        return (short) (in[take((short) 1)] & 0xFF);
    }

    short u16(byte[] in) {
        return Util.getShort(in, take((short) 2));
    }

    /** A one-byte length then that many bytes (at most max); returns the length, offset via position(). */
    short lengthPrefixed(byte[] in, short max) {
        short length = u8(in);
        if (length > max) {
            ISOException.throwIt(Constants.SW_WRONG_LENGTH);
        }
        return length;
    }

    short position() {
        return state[POSITION];
    }

    void end() {
        if (remaining() != 0) {
            ISOException.throwIt(Constants.SW_WRONG_LENGTH);
        }
    }
}
