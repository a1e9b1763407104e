package tpmcard.core;

import javacard.framework.Shareable;

/**
 * The host PCRs 0..8 of the current secure session, as the handshake's TPM quote proved them,
 * offered by the core applet to a service during {@link SuiteService#invoke}. The values stay in
 * the core's context: a call copies one of them into the APDU buffer, the only array both
 * contexts may touch.
 */
public interface HostPcrs extends Shareable {
    /**
     * Writes host PCR {@code index} (0..8, SHA-256, 32 bytes) to {@code buffer[offset]}.
     * {@code buffer} must be the APDU buffer; the core refuses any other array (6F00), and an
     * index outside 0..8 (6A86).
     */
    void copyHostPcr(short index, byte[] buffer, short offset);
}
