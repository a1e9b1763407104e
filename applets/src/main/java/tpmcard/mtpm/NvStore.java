package tpmcard.mtpm;

import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.Util;
import tpmcard.lib.ConstantTime;

/**
 * NV indices (TPM 2.0 Part 3 §31): NV_SLOTS slots of up to MAX_NV_SIZE bytes, each with a 4-byte
 * handle, attributes, a size and SHA-256(auth value). An index with NV_ATTRIBUTE_COUNTER is a
 * monotonic counter (TPM_NT_COUNTER, Part 2 §13.4): 8 bytes, big-endian, changed only by
 * NV_INCREMENT.
 *
 * <p>Counters never go back: each increment writes the index and the card-wide high-water mark
 * in one JCSystem transaction, and a new counter starts at the high-water mark (as a TPM
 * initialises a new counter to the largest count it ever held, Part 3 §31.3.1), so neither a
 * card reset, a torn write, an undefine-and-define nor a CLEAR can make a counter repeat a value.
 */
final class NvStore {
    private static final short HANDLE_LENGTH = 4;
    private final byte[] handles = new byte[(short) (Constants.NV_SLOTS * HANDLE_LENGTH)];
    private final byte[] attributes = new byte[Constants.NV_SLOTS];
    private final short[] sizes = new short[Constants.NV_SLOTS];
    private final boolean[] defined = new boolean[Constants.NV_SLOTS];
    private final byte[] authHashes = new byte[(short) (Constants.NV_SLOTS * Constants.DIGEST_LENGTH)];
    private final byte[] data = new byte[(short) (Constants.NV_SLOTS * Constants.MAX_NV_SIZE)];
    private final byte[] counterHighWater = new byte[Constants.COUNTER_SIZE];

    /** The slot holding handle at in[off], or SW_NOT_FOUND. */
    short find(byte[] in, short off) {
        short slot = lookup(in, off);
        if (slot < 0) {
            ISOException.throwIt(Constants.SW_NOT_FOUND);
        }
        return slot;
    }

    private short lookup(byte[] in, short off) {
        for (short i = 0; i < Constants.NV_SLOTS; i++) {
            if (defined[i] && Util.arrayCompare(handles, (short) (i * HANDLE_LENGTH), in, off, HANDLE_LENGTH) == 0) {
                return i;
            }
        }
        return -1;
    }

    /**
     * Defines an index; {@code authHash} is SHA-256 of its auth value, {@code initial} (may be null)
     * its first contents (migration). Call inside a transaction.
     */
    short define(byte[] in, short handleOff, byte attribute, short size, byte[] authHash, short authOff,
                 byte[] initial, short initialOff) {
        boolean counter = (attribute & Constants.NV_ATTRIBUTE_COUNTER) != 0;
        if ((attribute & ~(Constants.NV_ATTRIBUTE_COUNTER | Constants.NV_ATTRIBUTE_MIGRATABLE)) != 0
                || size <= 0 || size > Constants.MAX_NV_SIZE
                || (counter && size != Constants.COUNTER_SIZE)
                || in[handleOff] != (byte) 0x01) {  // TPM_HT_NV_INDEX (Part 2 §7.2)
            ISOException.throwIt(Constants.SW_WRONG_DATA);
        }
        if (lookup(in, handleOff) >= 0) {
            ISOException.throwIt(Constants.SW_ALREADY_EXISTS);
        }
        short slot = -1;
        for (short i = 0; i < Constants.NV_SLOTS && slot < 0; i++) {
            if (!defined[i]) {
                slot = i;
            }
        }
        if (slot < 0) {
            ISOException.throwIt(Constants.SW_NOT_ENOUGH_MEMORY);
        }
        short at = (short) (slot * Constants.MAX_NV_SIZE);
        Util.arrayCopy(in, handleOff, handles, (short) (slot * HANDLE_LENGTH), HANDLE_LENGTH);
        attributes[slot] = attribute;
        sizes[slot] = size;
        Util.arrayCopy(authHash, authOff, authHashes, (short) (slot * Constants.DIGEST_LENGTH), Constants.DIGEST_LENGTH);
        // The slot's data is all zero already: undefine and clear wipe it in their transaction.
        if (counter) {
            Util.arrayCopy(counterHighWater, (short) 0, data, at, Constants.COUNTER_SIZE);
            if (initial != null) {
                raiseTo(initial, initialOff, slot);
            }
        } else if (initial != null) {
            Util.arrayCopy(initial, initialOff, data, at, size);
        }
        defined[slot] = true;
        return slot;
    }

    /** A migrated counter continues from max(its value, this card's high-water mark). */
    private void raiseTo(byte[] value, short off, short slot) {
        short at = (short) (slot * Constants.MAX_NV_SIZE);
        if (Util.arrayCompare(value, off, data, at, Constants.COUNTER_SIZE) > 0) {
            Util.arrayCopy(value, off, data, at, Constants.COUNTER_SIZE);
            Util.arrayCopy(value, off, counterHighWater, (short) 0, Constants.COUNTER_SIZE);
        }
    }

    /**
     * The index goes and its data and auth hash are wiped, in one transaction: the slot is either
     * still defined with all its bytes, or free and all zero (what {@link #define} relies on).
     */
    void undefine(short slot) {
        JCSystem.beginTransaction();
        erase(slot);
        JCSystem.commitTransaction();
    }

    /** CLEAR: every index goes; the counters' high-water mark stays. Call inside a transaction. */
    void clear() {
        for (short i = 0; i < Constants.NV_SLOTS; i++) {
            if (defined[i]) {
                erase(i);
            }
        }
    }

    /** Undefines a slot and wipes it, inside the caller's transaction. */
    void erase(short slot) {
        defined[slot] = false;
        Wipe.zero(data, (short) (slot * Constants.MAX_NV_SIZE), Constants.MAX_NV_SIZE);
        Wipe.zero(authHashes, (short) (slot * Constants.DIGEST_LENGTH), Constants.DIGEST_LENGTH);
        Wipe.zero(handles, (short) (slot * HANDLE_LENGTH), HANDLE_LENGTH);
        attributes[slot] = 0;
        sizes[slot] = 0;
    }

    /**
     * Compares SHA-256(auth) (at hash[off]) with the slot's, in constant time, under the
     * dictionary-attack guard (a try is charged before the comparison; indices without an auth
     * value are exempt).
     */
    void checkAuth(short slot, byte[] hash, short off, DictionaryGuard guard) {
        short stored = (short) (slot * Constants.DIGEST_LENGTH);
        boolean guarded = !DictionaryGuard.hasNoAuth(authHashes, stored);
        if (guarded) {
            guard.charge();
        }
        if (!ConstantTime.equals(authHashes, stored, hash, off, Constants.DIGEST_LENGTH)) {
            ISOException.throwIt(Constants.SW_AUTH_FAILED);
        }
        if (guarded) {
            guard.succeeded();
        }
    }

    boolean isCounter(short slot) {
        return (attributes[slot] & Constants.NV_ATTRIBUTE_COUNTER) != 0;
    }

    /** Defined with NV_ATTRIBUTE_MIGRATABLE: MIGRATE EXPORT may take it. */
    boolean isMigratable(short slot) {
        return (attributes[slot] & Constants.NV_ATTRIBUTE_MIGRATABLE) != 0;
    }

    private short checkRange(short slot, short offset, short length) {
        if (offset < 0 || length < 0 || (short) (offset + length) > sizes[slot] || (short) (offset + length) < 0) {
            ISOException.throwIt(Constants.SW_OUT_OF_RANGE);
        }
        return (short) (slot * Constants.MAX_NV_SIZE + offset);
    }

    void write(short slot, short offset, byte[] in, short off, short length) {
        if (isCounter(slot)) {
            ISOException.throwIt(Constants.SW_NV_TYPE_MISMATCH);
        }
        Util.arrayCopy(in, off, data, checkRange(slot, offset, length), length);  // atomic
    }

    short read(short slot, short offset, short length, byte[] out, short outOff) {
        return Util.arrayCopyNonAtomic(data, checkRange(slot, offset, length), out, outOff, length);
    }

    /** Counter + 1 and the high-water mark, in one transaction; new value at out[outOff]. */
    short increment(short slot, byte[] out, short outOff) {
        if (!isCounter(slot)) {
            ISOException.throwIt(Constants.SW_NV_TYPE_MISMATCH);
        }
        short at = (short) (slot * Constants.MAX_NV_SIZE);
        Util.arrayCopyNonAtomic(data, at, out, outOff, Constants.COUNTER_SIZE);
        Marshal.increment(out, outOff, Constants.COUNTER_SIZE);
        if (ConstantTime.isZero(out, outOff, Constants.COUNTER_SIZE)) {
            ISOException.throwIt(Constants.SW_NOT_ENOUGH_MEMORY);  // 2^64 increments: never
        }
        JCSystem.beginTransaction();
        Util.arrayCopy(out, outOff, data, at, Constants.COUNTER_SIZE);
        if (Util.arrayCompare(out, outOff, counterHighWater, (short) 0, Constants.COUNTER_SIZE) > 0) {
            Util.arrayCopy(out, outOff, counterHighWater, (short) 0, Constants.COUNTER_SIZE);
        }
        JCSystem.commitTransaction();
        return (short) (outOff + Constants.COUNTER_SIZE);
    }

    /** Each index: handle 4 || attributes 1 || size 2. */
    short list(byte[] out, short off) {
        for (short i = 0; i < Constants.NV_SLOTS; i++) {
            if (defined[i]) {
                off = Util.arrayCopyNonAtomic(handles, (short) (i * HANDLE_LENGTH), out, off, HANDLE_LENGTH);
                out[off++] = attributes[i];
                off = Util.setShort(out, off, sizes[i]);
            }
        }
        return off;
    }

    /** For migration: handle 4 || attributes 1 || size 2 || authHash 32 || data (size). */
    short export(short slot, byte[] out, short off) {
        off = Util.arrayCopyNonAtomic(handles, (short) (slot * HANDLE_LENGTH), out, off, HANDLE_LENGTH);
        out[off++] = attributes[slot];
        off = Util.setShort(out, off, sizes[slot]);
        off = Util.arrayCopyNonAtomic(authHashes, (short) (slot * Constants.DIGEST_LENGTH), out, off,
                Constants.DIGEST_LENGTH);
        return Util.arrayCopyNonAtomic(data, (short) (slot * Constants.MAX_NV_SIZE), out, off, sizes[slot]);
    }
}
