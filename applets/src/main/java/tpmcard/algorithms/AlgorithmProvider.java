package tpmcard.algorithms;

import javacard.framework.Shareable;

/**
 * A replaceable algorithm provider (docs/algorithms.md): an applet of its own package and AID that
 * the algorithm {@link Registry} (hosted by the core applet) reaches with
 * JCSystem.getAppletShareableInterfaceObject(aid, {@link ProviderConstants#PROVIDER_PARAMETER}).
 * A provider hands this interface only to the core applet's context, so the host reaches it only
 * through INVOKE inside a bound secure session, and only while the registry has it enabled, and
 * to the mobile TPM's, for closures (PCALL, docs/closures.md "Providers"): one-shot commands with
 * keys kept apart from the core's (ProviderApplet).
 *
 * <p>Firewall contract (docs/core-applet.md "Service contract"): the only array a provider is
 * given is the APDU buffer (global); it is never stored. Command data and answer both live in it,
 * the answer right after the data, so they share the service window. For the length of the call
 * the whole window is the provider's: it may use the room after the data (and data it has
 * consumed) as scratch before it writes the answer, instead of RAM of its own.
 */
public interface AlgorithmProvider extends Shareable {
    /**
     * Write the provider descriptor ({@link ProviderConstants#DESCRIPTOR_LENGTH} bytes) into the
     * APDU buffer at outOffset: algorithm id, version major, version minor, capability bits (2),
     * largest command data (2), implementation (ProviderConstants.IMPLEMENTATION_*: native or
     * software, chosen at install).
     */
    short describe(byte[] buffer, short outOffset);

    /**
     * Run one provider command (ProviderConstants INS_*). Errors are ISOExceptions.
     *
     * @param buffer    the APDU buffer: data at [inOffset, inOffset + inLength), the answer at
     *                  outOffset (after the data), at most up to outLimit
     * @param sessionId the secure session's id (never 0): streams belong to the session that opened them
     * @return the response length written at outOffset
     */
    short call(byte ins, byte p1, byte p2, byte[] buffer, short inOffset, short inLength,
            short outOffset, short outLimit, short sessionId);
}
