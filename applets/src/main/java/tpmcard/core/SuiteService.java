package tpmcard.core;

import javacard.framework.Shareable;

/**
 * A service applet of the suite (the mobile TPM), reached only through the core applet: the host
 * sends INS_INVOKE inside a secure session, the core applet unwraps it, looks the service up by
 * AID with JCSystem.getAppletShareableInterfaceObject(aid, SERVICE_PARAMETER) and calls
 * {@link #invoke}; the service's status word and response travel back inside secure messaging.
 * A service therefore never sees an unauthenticated command, and never needs its own channel.
 *
 * <p>Firewall contract (JCRE spec §6.2, docs/core-applet.md "Service contract"): data crosses the
 * applet firewall only in the APDU buffer (the one global array every context may use while a
 * command runs) and as primitives. The core copies the command data into the APDU buffer, calls
 * the service with offsets, and copies the answer back out before it wraps it. A service never
 * stores a reference to the buffer (the JCRE forbids it) and never receives one of the core's
 * own arrays. The host PCR block is not passed at all: the service asks for one PCR at a time
 * through {@link HostPcrs}, which writes it into the APDU buffer.
 *
 * <p>Layout of the APDU buffer during a call: the command data at {@code [inOffset, inOffset +
 * inLength)} ({@link #DATA_OFFSET} from the core), the answer right after it ({@code outOffset =
 * inOffset + inLength}), ending at {@code outLimit} at the latest. So command data plus answer
 * never exceed the window ({@code outLimit - DATA_OFFSET}), which the host reads in the SELECT
 * response (tag 85) and respects. The service may use the part of the window its data and answer
 * leave free as scratch, for instance as the slot HostPcrs writes a PCR to.
 */
public interface SuiteService extends Shareable {
    /** The parameter the core applet passes to getShareableInterfaceObject. */
    byte SERVICE_PARAMETER = (byte) 0x53;

    /** Length of the host PCR block the core keeps per session: PCRs 0..8, SHA-256. */
    short HOST_PCR_BLOCK_LENGTH = (short) (9 * 32);

    /** Where the core puts the command data in the APDU buffer. */
    short DATA_OFFSET = (short) 0;

    /**
     * Process one command.
     *
     * @param ins       the service's own instruction byte
     * @param p1        the service's P1
     * @param p2        the service's P2
     * @param buffer    the APDU buffer (a global array): command data at [inOffset, inOffset +
     *                  inLength); the answer goes to [outOffset, outLimit), outOffset = inOffset +
     *                  inLength
     * @param hostPcrs  the host's PCRs 0..8 as verified in this session's handshake quote, one at a
     *                  time into the APDU buffer (a Shareable object of the core applet)
     * @param sessionId changes with every new secure session (and is never 0 inside one), so a
     *                  service can tell sessions apart
     * @return the answer length (at outOffset); errors are thrown as ISOException with their status word
     */
    short invoke(byte ins, byte p1, byte p2, byte[] buffer, short inOffset, short inLength,
            short outOffset, short outLimit, HostPcrs hostPcrs, short sessionId);
}
