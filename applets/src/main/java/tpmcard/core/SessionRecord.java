package tpmcard.core;

import javacard.framework.JCSystem;
import javacard.framework.Util;

/**
 * The binding's persistent session record: the id of the last session given out, so that ids
 * differ across card resets too, and the host PCRs 0..8 of the last session opened, as its
 * handshake's quote proved them. Both are written once per session, together, in SESSION AUTH's
 * one transaction (one EEPROM write of SESSION_PCR_COUNT * DIGEST_LENGTH + 2 bytes per session,
 * docs/core-applet.md "Transient RAM"); the PCRs are read one at a time ({@link HostPcrs}) and only
 * while that session is open (the session itself is RAM state: a reset or a deselect ends it).
 */
final class SessionRecord {
    static final short HOST_PCRS_LENGTH = (short) (Constants.SESSION_PCR_COUNT * Constants.DIGEST_LENGTH);

    /** The host PCRs 0..8 of the last session opened (persistent). */
    private final byte[] hostPcrs;
    /** The last session id given out (persistent); never 0 once a session was opened. */
    private short lastSessionId;

    SessionRecord() {
        hostPcrs = new byte[HOST_PCRS_LENGTH];
    }

    /**
     * A new session: its host PCRs from pcrs[offset..+HOST_PCRS_LENGTH) and the next id (0 is
     * skipped), in one transaction. Returns the new id.
     */
    short commit(byte[] pcrs, short offset) {
        short id = (short) (lastSessionId + 1);
        if (id == 0) {
            id = 1;
        }
        JCSystem.beginTransaction();
        Util.arrayCopy(pcrs, offset, hostPcrs, (short) 0, HOST_PCRS_LENGTH);
        lastSessionId = id;
        JCSystem.commitTransaction();
        return id;
    }

    /** Copies host PCR index (0..8) of the last session opened to out[offset]; the caller checks both. */
    short copyHostPcr(short index, byte[] out, short offset) {
        return Util.arrayCopyNonAtomic(hostPcrs, (short) (index * Constants.DIGEST_LENGTH), out, offset,
                Constants.DIGEST_LENGTH);
    }
}
