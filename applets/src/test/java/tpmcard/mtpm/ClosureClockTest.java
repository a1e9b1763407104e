package tpmcard.mtpm;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;

import java.util.Arrays;
import java.util.HexFormat;
import org.junit.Test;
import tpmcard.core.ServiceCard;
import tpmcard.core.SuiteService;

/**
 * CLOCK (docs/closures.md): a closure reads the TPM Clock of its session's handshake quote, as
 * the core keeps it (HostPcrs.copyClock, docs/binding.md 3.10), through the real CoreApplet,
 * INVOKE and the mobile TPM.
 */
public class ClosureClockTest {
    static final String MTPM = "F074706D63020001";  // the mobile TPM (ServiceCard.MTPM_AID)

    /** pushb 0, clock, pushb 0, pushb 8, out, halt: the clock's 8 bytes are the answer. */
    static final byte[] CLOCK_CODE = HexFormat.of().parseHex("1100561100110840" + "00");

    /** A plain image (header || code) named {@code name} with these limits. */
    static byte[] plainImage(String name, int stack, int memory, int output, int store, int steps, byte[] code) {
        byte[] image = new byte[ClosureConstants.HEADER_LENGTH + code.length];
        byte[] n = name.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        System.arraycopy(n, 0, image, 0, n.length);
        image[ClosureConstants.H_VERSION + 1] = 1;
        image[ClosureConstants.H_STACK] = (byte) stack;
        image[ClosureConstants.H_MEMORY] = (byte) (memory >> 8);
        image[ClosureConstants.H_MEMORY + 1] = (byte) memory;
        image[ClosureConstants.H_OUTPUT] = (byte) output;
        image[ClosureConstants.H_STORE] = (byte) (store >> 8);
        image[ClosureConstants.H_STORE + 1] = (byte) store;
        image[ClosureConstants.H_STEPS] = (byte) (steps >> 8);
        image[ClosureConstants.H_STEPS + 1] = (byte) steps;
        image[ClosureConstants.H_CODE] = (byte) (code.length >> 8);
        image[ClosureConstants.H_CODE + 1] = (byte) code.length;
        System.arraycopy(code, 0, image, ClosureConstants.HEADER_LENGTH, code.length);
        return image;
    }

    /** The inner answer of an INVOKE of the mobile TPM: data, then the 2-byte status word. */
    static byte[] invoke(ServiceCard card, byte ins, int p1, byte[] data) {
        return card.invokeRaw(MTPM, ins & 0xFF, p1, 0, data);
    }

    static int sw(byte[] answer) {
        return ((answer[answer.length - 2] & 0xFF) << 8) | (answer[answer.length - 1] & 0xFF);
    }

    static byte[] data(byte[] answer) {
        assertEquals("SW", 0x9000, sw(answer));
        return Arrays.copyOf(answer, answer.length - 2);
    }

    static byte[] seal(ServiceCard card, byte[] plain) {
        return data(invoke(card, ClosureConstants.INS_CLOSURE_SEAL, 0, plain));
    }

    /** RUN with a host-held image (P1 01): args length 1 || args || sealed image. */
    static byte[] runImage(ServiceCard card, byte[] sealed, byte[] args) {
        byte[] in = new byte[1 + args.length + sealed.length];
        in[0] = (byte) args.length;
        System.arraycopy(args, 0, in, 1, args.length);
        System.arraycopy(sealed, 0, in, 1 + args.length, sealed.length);
        return invoke(card, ClosureConstants.INS_CLOSURE_RUN, ClosureConstants.P1_RUN_IMAGE, in);
    }

    @Test
    public void clockIsTheSessionsQuotedTpmClock() {
        ServiceCard card = ServiceCard.installed(new byte[] {0x31});
        byte[] pcrs = new byte[SuiteService.HOST_PCR_BLOCK_LENGTH];
        byte[] first = HexFormat.of().parseHex("0000017A2B3C4D5E" + "00000007" + "00000002" + "01");
        card.openSession(pcrs, first);
        byte[] sealed = seal(card, plainImage("clock", 4, 16, 8, 0, 16, CLOCK_CODE));
        assertArrayEquals(Arrays.copyOf(first, 8), data(runImage(card, sealed, new byte[0])));
        // A new session: the clock of its own quote, whatever its safe flag or counts say.
        byte[] second = HexFormat.of().parseHex("0000017A2B3C9999" + "00000008" + "00000000" + "00");
        card.openSession(pcrs, second);
        assertArrayEquals(Arrays.copyOf(second, 8), data(runImage(card, sealed, new byte[0])));
    }

    @Test
    public void clockOutsideTheMemoryStopsTheRunAndTheCardGoesOn() {
        ServiceCard card = ServiceCard.installed(new byte[] {0x32});
        card.openSession(new byte[SuiteService.HOST_PCR_BLOCK_LENGTH]);
        // pushb 9, clock: 9 + 8 > 16 bytes of memory
        byte[] code = HexFormat.of().parseHex("110956" + "00");
        byte[] sealed = seal(card, plainImage("clockoob", 4, 16, 8, 0, 16, code));
        assertEquals(ClosureConstants.SW_CLOSURE_MEMORY, (short) sw(runImage(card, sealed, new byte[0])));
        // pushb 8, clock: fits exactly
        byte[] edge = seal(card, plainImage("clockend", 4, 16, 8, 0, 16, HexFormat.of().parseHex("110856" + "00")));
        assertEquals(0x9000, sw(runImage(card, edge, new byte[0])));
        assertEquals(0x9000, sw(invoke(card, Constants.INS_GET_STATUS, 0, new byte[0])));
    }
}
