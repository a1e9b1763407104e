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
 * <p>Layout of the APDU buffer during a call: {@code [0, SLOT_LENGTH)} is the slot HostPcrs
 * writes to, the command data starts at {@link #DATA_OFFSET}, the answer starts right after it
 * ({@code outOffset = inOffset + inLength}) and must end at {@code outLimit}. So command data plus
 * answer never exceed the window ({@code outLimit - DATA_OFFSET}), which the host reads in the
 * SELECT response (tag 85) and respects.
 */
public interface SuiteService extends Shareable {
    /** The parameter the core applet passes to getShareableInterfaceObject. */
    byte SERVICE_PARAMETER = (byte) 0x53;

    /** Length of the host PCR block the core keeps per session: PCRs 0..8, SHA-256. */
    short HOST_PCR_BLOCK_LENGTH = (short) (9 * 32);

    /** The first bytes of the APDU buffer: where {@link HostPcrs#copyHostPcr} writes a PCR. */
    short SLOT_OFFSET = (short) 0;
    short SLOT_LENGTH = (short) 32;
    /** Where the core puts the command data in the APDU buffer. */
    short DATA_OFFSET = (short) 32;

    /**
     * Process one command.
     *
     * @param ins       the service's own instruction byte
     * @param p1        the service's P1
     * @param p2        the service's P2
     * @param buffer    the APDU buffer (a global array): command data at [inOffset, inOffset +
     *                  inLength); the answer goes to [outOffset, outLimit), outOffset = inOffset +
     *                  inLength; [SLOT_OFFSET, SLOT_OFFSET + SLOT_LENGTH) is the PCR slot
     * @param hostPcrs  the host's PCRs 0..8 as verified in this session's handshake quote, one at a
     *                  time into the slot (a Shareable object of the core applet)
     * @param sessionId changes with every new secure session (and is never 0 inside one), so a
     *                  service can tell sessions apart
     * @return the answer length (at outOffset); errors are thrown as ISOException with their status word
     */
    short invoke(byte ins, byte p1, byte p2, byte[] buffer, short inOffset, short inLength,
            short outOffset, short outLimit, HostPcrs hostPcrs, short sessionId);
}
