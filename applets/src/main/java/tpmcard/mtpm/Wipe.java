package tpmcard.mtpm;

import javacard.framework.Util;

/**
 * Zeroing persistent memory inside a transaction. {@code Util.arrayFillNonAtomic} takes no part in
 * transactions (JC API 3.0.5 Util: after an abort its bytes are undefined), and JavaCard 3.0.5 has
 * no atomic fill, so this copies zeros with {@code Util.arrayCopy}, which is journaled: a
 * wipe in the same transaction as the fields that say what the bytes mean rolls back with them.
 * Each copy is one commit-buffer record of at most {@link #CHUNK} bytes.
 */
final class Wipe {
    private static final short CHUNK = 16;
    private static final byte[] ZEROS = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};

    private Wipe() {
    }

    /** dest[off..off+length) = 0, journaled when a transaction is open. */
    static void zero(byte[] dest, short off, short length) {
        while (length > 0) {
            short n = length < CHUNK ? length : CHUNK;
            Util.arrayCopy(ZEROS, (short) 0, dest, off, n);
            off += n;
            length -= n;
        }
    }
}
