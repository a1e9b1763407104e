package tpmcard.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotEquals;
import static tpmcard.core.SimulatedCard.assertSw;

import java.security.MessageDigest;
import java.util.Arrays;
import javacard.framework.ISO7816;
import tpmcard.algorithms.ProviderConstants;
import org.junit.Test;

/**
 * INVOKE (0x70) through the real CoreApplet: secure messaging only, the service looked up by AID,
 * the registry at its virtual AID, the service's status word and data inside the protected
 * response, malformed requests refused, the session id and the host PCRs handed to the service.
 */
public class InvokeTest {
    private static final String REGISTRY = "F074706D63030001";
    private static final String SHA3 = "F074706D63030201";

    private static byte[] hostPcrs() {
        byte[] pcrs = new byte[SuiteService.HOST_PCR_BLOCK_LENGTH];
        for (int i = 0; i < pcrs.length; i++) {
            pcrs[i] = (byte) (i * 7 + 1);
        }
        return pcrs;
    }

    private static ServiceCard card() {
        ServiceCard card = ServiceCard.installed(new byte[] {1, 2, 3});
        card.openSession(hostPcrs());
        return card;
    }

    @Test
    public void theMobileTpmSeesTheSessionsHostPcrs() {
        ServiceCard card = card();
        Response r = card.invoke(ServiceCard.MTPM_AID, 0x10, 0, 0, new byte[] {(byte) 0xFF, 0x01, 0x00});
        assertSw("PCR_READ 0..8", ISO7816.SW_NO_ERROR, r);
        assertArrayEquals(hostPcrs(), r.data);
        // A service refusal travels inside secure messaging and leaves the session open.
        assertSw("extend a host PCR", (short) 0x6986, card.invoke(ServiceCard.MTPM_AID, 0x12, 3, 0, new byte[32]));
        assertSw("unknown service INS", ISO7816.SW_INS_NOT_SUPPORTED,
                card.invoke(ServiceCard.MTPM_AID, 0x7E, 0, 0, new byte[0]));
        assertSw("still open", ISO7816.SW_NO_ERROR, card.sendProtected(Constants.INS_ECHO, 0, 0, new byte[] {1}));
    }

    @Test
    public void theRegistryIsReachedAtItsVirtualAid() throws Exception {
        ServiceCard card = card();
        Response list = card.invoke(REGISTRY, 0x10, 0, 0, new byte[0]);
        assertSw("LIST", ISO7816.SW_NO_ERROR, list);
        assertEquals(5 * (1 + 1 + 8 + 1 + ProviderConstants.DESCRIPTOR_LENGTH), list.data.length);
        byte[] message = new byte[150];
        Arrays.fill(message, (byte) 'x');
        // CALL SHA3-256 (id 02) DIGEST (34): pP1 pP2 message, the whole request in one INVOKE.
        Response digest = card.invoke(REGISTRY, 0x20, 0x02, 0x34, ServiceCard.concat(new byte[2], message));
        assertSw("CALL", ISO7816.SW_NO_ERROR, digest);
        assertArrayEquals(MessageDigest.getInstance("SHA3-256").digest(message), digest.data);
        assertSw("registry refusal inside SM", (short) 0x6A83, card.invoke(REGISTRY, 0x20, 0x7F, 0x34, new byte[2]));
        assertSw("still open", ISO7816.SW_NO_ERROR, card.invoke(REGISTRY, 0x10, 0, 0, new byte[0]));
    }

    /**
     * The service contract: the payload goes into the APDU buffer, so one INVOKE carries at most
     * the window (min(APDU buffer, SERVICE_WINDOW_MAX) - DATA_OFFSET; these commands come
     * extended, so jCardSim's 32 KB extended buffer leaves SERVICE_WINDOW_MAX); more is 6700
     * inside secure messaging, before the service runs, and the session stays open. Nothing of
     * the call stays in the APDU buffer.
     */
    @Test
    public void thePayloadIsLimitedToTheWindowAndTheBufferIsWiped() throws Exception {
        ServiceCard card = card();
        int window = Constants.SERVICE_WINDOW_MAX;
        // SHA3 DIGEST: provider P1 P2 and the message, then the 32-byte answer.
        byte[] fits = new byte[window - 32];  // the registry drops P1 P2 before the provider runs
        Arrays.fill(fits, (byte) 'y');
        Response digest = card.invoke(REGISTRY, 0x20, 0x02, 0x34, ServiceCard.concat(new byte[2], fits));
        assertSw("data + answer = window", ISO7816.SW_NO_ERROR, digest);
        assertArrayEquals(MessageDigest.getInstance("SHA3-256").digest(fits), digest.data);
        assertSw("data over the window", ISO7816.SW_WRONG_LENGTH,
                card.invoke(REGISTRY, 0x20, 0x02, 0x34, new byte[window + 1]));
        assertSw("still open", ISO7816.SW_NO_ERROR, card.sendProtected(Constants.INS_ECHO, 0, 0, new byte[] {1}));
    }

    @Test
    public void unknownAbsentAndProviderAidsAreNotFound() {
        ServiceCard card = card();
        assertSw("no such applet", ISO7816.SW_FILE_NOT_FOUND, card.invoke("F074706D6302FF01", 0x10, 0, 0, new byte[0]));
        // A provider answers only the registry's parameter, the core only nobody.
        assertSw("provider as a service", ISO7816.SW_FILE_NOT_FOUND, card.invoke(SHA3, 0x34, 0, 0, new byte[0]));
        assertSw("the core itself", ISO7816.SW_FILE_NOT_FOUND,
                card.invoke(Manifest.core().appletAid, 0x10, 0, 0, new byte[0]));
        card.simulator.deleteApplet(com.licel.jcardsim.utils.AIDUtil.create(ServiceCard.MTPM_AID));
        assertSw("deleted service", ISO7816.SW_FILE_NOT_FOUND,
                card.invoke(ServiceCard.MTPM_AID, 0x10, 0, 0, new byte[] {1, 0, 0}));
    }

    @Test
    public void malformedRequestsAreRefusedInsideTheSession() {
        ServiceCard card = card();
        int ins = Constants.INS_INVOKE;
        assertSw("empty", ISO7816.SW_WRONG_LENGTH, card.sendProtected(ins, 0, 0, new byte[0]));
        assertSw("3 bytes", ISO7816.SW_WRONG_LENGTH, card.sendProtected(ins, 0, 0, new byte[] {5, 1, 2}));
        assertSw("AID of 4", ISO7816.SW_WRONG_DATA, card.sendProtected(ins, 0, 0, new byte[] {4, 1, 2, 3, 4, 0, 0, 0}));
        assertSw("AID of 17", ISO7816.SW_WRONG_DATA, card.sendProtected(ins, 0, 0, new byte[30]));
        byte[] cut = ServiceCard.concat(new byte[] {8}, Hex.decode(ServiceCard.MTPM_AID), new byte[] {0x10, 0});
        assertSw("no p2", ISO7816.SW_WRONG_LENGTH, card.sendProtected(ins, 0, 0, cut));
        byte[] aidPast = ServiceCard.concat(new byte[] {16}, Hex.decode(ServiceCard.MTPM_AID));
        assertSw("AID past the end", ISO7816.SW_WRONG_LENGTH, card.sendProtected(ins, 0, 0, aidPast));
        assertSw("P1 P2", ISO7816.SW_INCORRECT_P1P2, card.sendProtected(ins, 1, 0,
                ServiceCard.concat(new byte[] {8}, Hex.decode(ServiceCard.MTPM_AID), new byte[] {0x10, 0, 0, 1, 0, 0})));
        assertSw("still open", ISO7816.SW_NO_ERROR, card.sendProtected(Constants.INS_ECHO, 0, 0, new byte[0]));
    }

    @Test
    public void invokeOutsideSecureMessagingIsRefusedAndEndsTheSession() {
        ServiceCard card = ServiceCard.installed(new byte[] {4});
        card.simulator.selectApplet(card.coreAid);
        byte[] request = ServiceCard.concat(new byte[] {8}, Hex.decode(ServiceCard.MTPM_AID), new byte[] {0x54, 0, 0});
        assertSw("no session", Constants.SW_SECURITY_STATUS_NOT_SATISFIED, card.transmit(0x80, 0x70, 0, 0, request));
        assertSw("chained, first segment", Constants.SW_SECURITY_STATUS_NOT_SATISFIED,
                card.transmit(0x90, 0x70, 0, 0, request));
        assertSw("under CLA 00", ISO7816.SW_CLA_NOT_SUPPORTED, card.transmit(0x00, 0x70, 0, 0, request));
        card.openSession(hostPcrs());
        assertSw("in a session, in clear", Constants.SW_SECURITY_STATUS_NOT_SATISFIED,
                card.transmit(0x80, 0x70, 0, 0, request));
        assertEquals("the session ended", 0, card.sessionId());
        assertSw("protected afterwards", Constants.SW_SECURITY_STATUS_NOT_SATISFIED,
                card.invoke(ServiceCard.MTPM_AID, 0x54, 0, 0, new byte[0]));
    }

    @Test
    public void everySessionHasANewNonZeroIdAcrossResets() {
        ServiceCard card = card();
        short first = card.sessionId();
        assertNotEquals(0, first);
        // SHA3 stream opened in the first session ...
        assertSw("INIT", ISO7816.SW_NO_ERROR, card.invoke(REGISTRY, 0x20, 0x02, 0x40, new byte[] {0x34, 0}));
        card.openSession(hostPcrs());
        short second = card.sessionId();
        assertNotEquals(first, second);
        // ... is not the second session's.
        assertSw("UPDATE in another session", (short) 0x6985,
                card.invoke(REGISTRY, 0x20, 0x02, 0x42, new byte[] {0, 0, 1}));
        card.simulator.reset();
        card.openSession(hostPcrs());
        assertNotEquals(second, card.sessionId());
        assertNotEquals(0, card.sessionId());
    }

    /**
     * The TPMS_CLOCK_INFO of the session's quote is kept with its host PCRs (persistent, written
     * in SESSION AUTH's transaction) and handed out only while that session is open.
     */
    @Test
    public void theSessionKeepsItsQuotesClock() {
        ServiceCard card = ServiceCard.installed(new byte[] {5});
        byte[] clock = Hex.decode("000000000BADC0DE0000002A0000000701");
        card.openSession(hostPcrs(), clock);
        assertArrayEquals(clock, card.sessionClock());
        card.simulator.reset();  // power cycle: the session is gone, so is the clock's reader
        try {
            card.sessionClock();
            throw new AssertionError("the clock of a closed session was handed out");
        } catch (javacard.framework.ISOException e) {
            assertEquals(Constants.SW_SECURITY_STATUS_NOT_SATISFIED, e.getReason());
        }
        byte[] later = Hex.decode("000000000BADC1000000002B0000000000");
        card.openSession(hostPcrs(), later);
        assertArrayEquals(later, card.sessionClock());
    }

    @Test
    public void aLargeServiceResponseLeavesThroughResponseChaining() {
        ServiceCard card = card();
        byte[] all = {(byte) 0xFF, (byte) 0xFF, (byte) 0xFF};
        Response r = card.invoke(ServiceCard.MTPM_AID, 0x10, 0, 0, all);
        assertSw("PCR_READ 0..23", ISO7816.SW_NO_ERROR, r);
        assertEquals(24 * 32, r.data.length);
        assertArrayEquals(hostPcrs(), Arrays.copyOf(r.data, SuiteService.HOST_PCR_BLOCK_LENGTH));
    }
}
