package tpmcard.core;

import javacard.framework.Shareable;

/**
 * A service applet of the suite (the mobile TPM, the algorithm providers), reached only through
 * the core applet: the host sends INS_INVOKE inside a secure session, the core applet unwraps it,
 * looks the service up by AID with JCSystem.getAppletShareableInterfaceObject(aid, SERVICE_PARAMETER)
 * and calls {@link #invoke}; the service's status word and response travel back inside secure
 * messaging. A service therefore never sees an unauthenticated command, and never needs its own
 * channel.
 *
 * <p>Firewall: on a real card the core passes global arrays (the APDU buffer) for {@code in},
 * {@code out} and {@code hostPcrs}. jCardSim does not enforce the applet firewall, so the tests do
 * not prove that; keep every array a service receives a parameter, never a stored reference.
 */
public interface SuiteService extends Shareable {
    /** The parameter the core applet passes to getShareableInterfaceObject. */
    byte SERVICE_PARAMETER = (byte) 0x53;

    /** Length of the host PCR block: PCRs 0..8, SHA-256, in index order. */
    short HOST_PCR_BLOCK_LENGTH = (short) (9 * 32);

    /**
     * Process one command.
     *
     * @param ins       the service's own instruction byte
     * @param p1        the service's P1
     * @param p2        the service's P2
     * @param in        command data at [inOffset, inOffset + inLength)
     * @param out       where the response goes, from outOffset; {@code out} never aliases {@code in}
     * @param hostPcrs  the host's PCRs 0..8 as verified in this session's handshake quote
     *                  ({@link #HOST_PCR_BLOCK_LENGTH} bytes at hostPcrsOffset)
     * @param sessionId changes with every new secure session (and is never 0 inside one), so a
     *                  service can tell sessions apart
     * @return the response length; errors are thrown as ISOException with their status word
     */
    short invoke(byte ins, byte p1, byte p2, byte[] in, short inOffset, short inLength,
            byte[] out, short outOffset, byte[] hostPcrs, short hostPcrsOffset, short sessionId);
}
