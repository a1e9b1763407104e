package tpmcard.mtpm;

import javacard.framework.Util;

/**
 * Each closure slot's persistent store (docs/closures.md): MAX_STORE bytes per slot, of which a
 * closure reaches its header's quota, addressed only relative to its own slot (the engine checks
 * offset and length against the quota before it calls here). Writes are Util.arrayCopy, so
 * inside RUN's transaction they are journaled and roll back when the closure stops on a
 * violation. {@code used} is one past the highest byte ever written (CLOSURE STORE reports it).
 */
final class ClosureStore {
    private final byte[] data = new byte[(short) (ClosureConstants.CLOSURE_SLOTS * ClosureConstants.MAX_STORE)];
    private final short[] used = new short[ClosureConstants.CLOSURE_SLOTS];

    private static short base(short slot) {
        return (short) (slot * ClosureConstants.MAX_STORE);
    }

    void read(short slot, short off, byte[] out, short outOff, short len) {
        Util.arrayCopyNonAtomic(data, (short) (base(slot) + off), out, outOff, len);
    }

    /** Inside the caller's transaction (RUN). */
    void write(short slot, short off, byte[] in, short inOff, short len) {
        if (len == 0) {
            return;
        }
        Util.arrayCopy(in, inOff, data, (short) (base(slot) + off), len);
        short end = (short) (off + len);
        if (end > used[slot]) {
            used[slot] = end;
        }
    }

    short used(short slot) {
        return used[slot];
    }

    /** REMOVE, inside its transaction: journaled zeros (a torn remove keeps the closure and its store). */
    void erase(short slot) {
        Wipe.zero(data, base(slot), ClosureConstants.MAX_STORE);
        used[slot] = 0;
    }
}
