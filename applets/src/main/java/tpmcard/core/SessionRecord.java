package tpmcard.core;

import javacard.framework.JCSystem;
import javacard.framework.Util;

/**
 * The binding's persistent session record: the id of the last session given out, so that ids
 * differ across card resets too, and the host PCRs 0..8 and the TPM's TPMS_CLOCK_INFO of the last
 * session opened, as its handshake's quote proved them. All are written once per session,
 * together, in SESSION AUTH's one transaction (one EEPROM write of SESSION_PCR_COUNT *
 * DIGEST_LENGTH + CLOCK_INFO_LENGTH + 2 bytes per session, docs/core-applet.md "Transient
 * RAM"); they are read ({@link HostPcrs}) only while that session is open (the session itself is RAM
 * state: a reset or a deselect ends it).
 */
final class SessionRecord {
    static final short HOST_PCRS_LENGTH = (short) (Constants.SESSION_PCR_COUNT * Constants.DIGEST_LENGTH);

    /** The host PCRs 0..8 of the last session opened (persistent). */
    private final byte[] hostPcrs;
    /**
     * The quote's TPMS_CLOCK_INFO (TPM 2.0 Part 2 §10.11.1) of the last session opened
     * (persistent): clock (8, milliseconds), resetCount (4), restartCount (4), safe (1).
     */
    private final byte[] clockInfo;
    /** The last session id given out (persistent); never 0 once a session was opened. */
    private short lastSessionId;

    SessionRecord() {
        hostPcrs = new byte[HOST_PCRS_LENGTH];
        clockInfo = new byte[HostPcrs.CLOCK_INFO_LENGTH];
    }

    /**
     * A new session: its host PCRs from pcrs[offset..+HOST_PCRS_LENGTH), its TPM clock from
     * clock[clockOffset..+CLOCK_INFO_LENGTH) and the next id (0 is skipped), in one transaction.
     * Returns the new id.
     */
    short commit(byte[] pcrs, short offset, byte[] clock, short clockOffset) {
        short id = (short) (lastSessionId + 1);
        if (id == 0) {
            id = 1;
        }
        JCSystem.beginTransaction();
        Util.arrayCopy(pcrs, offset, hostPcrs, (short) 0, HOST_PCRS_LENGTH);
        Util.arrayCopy(clock, clockOffset, clockInfo, (short) 0, HostPcrs.CLOCK_INFO_LENGTH);
        lastSessionId = id;
        JCSystem.commitTransaction();
        return id;
    }

    /** Copies the TPMS_CLOCK_INFO of the last session opened to out[offset]; the caller checks the session. */
    short copyClock(byte[] out, short offset) {
        return Util.arrayCopyNonAtomic(clockInfo, (short) 0, out, offset, HostPcrs.CLOCK_INFO_LENGTH);
    }

    /** Copies host PCR index (0..8) of the last session opened to out[offset]; the caller checks both. */
    short copyHostPcr(short index, byte[] out, short offset) {
        return Util.arrayCopyNonAtomic(hostPcrs, (short) (index * Constants.DIGEST_LENGTH), out, offset,
                Constants.DIGEST_LENGTH);
    }
}
