package tpmcard.core;

import javacard.framework.Shareable;

/**
 * What the handshake's TPM quote proved about the host for the current secure session, offered
 * by the core applet to a service during {@link SuiteService#invoke}: the host PCRs 0..8 and the
 * TPM's clock. The values stay in the core's context: a call copies one of them into the APDU
 * buffer, the only array both contexts may touch.
 */
public interface HostPcrs extends Shareable {
    /**
     * Length of TPMS_CLOCK_INFO (TPM 2.0 Part 2 §10.11.1) as {@link #copyClock} writes it:
     * clock (UINT64, milliseconds), resetCount (UINT32), restartCount (UINT32), safe (BYTE),
     * big-endian, exactly as in the quote.
     */
    short CLOCK_INFO_LENGTH = (short) 17;

    /**
     * Writes host PCR {@code index} (0..8, SHA-256, 32 bytes) to {@code buffer[offset]}.
     * {@code buffer} must be the APDU buffer; the core refuses any other array (6F00), and an
     * index outside 0..8 (6A86).
     */
    void copyHostPcr(short index, byte[] buffer, short offset);

    /**
     * Writes the TPMS_CLOCK_INFO of this session's handshake quote (CLOCK_INFO_LENGTH bytes) to
     * {@code buffer[offset]}: the host TPM's Clock when it signed the quote, as the card verified
     * it (docs/binding.md "The session's TPM clock" says what it claims). {@code buffer} must be
     * the APDU buffer (else 6F00); 6982 without a session.
     */
    void copyClock(byte[] buffer, short offset);

    /**
     * Returns normally when the algorithm registry this core hosts has an enabled entry for the
     * provider AID at {@code buffer[offset]} ({@code length} bytes), so that a service (a closure's
     * PCALL, docs/closures.md "Providers") reaches only the providers the card owner left enabled.
     * Throws 6A82 otherwise (disabled, unregistered or never registered: absent to the service).
     * {@code buffer} must be the APDU buffer (else 6F00).
     */
    void requireEnabledProvider(byte[] buffer, short offset, byte length);
}
