package tpmcard.core;

import static org.junit.Assert.assertArrayEquals;
import static tpmcard.core.SimulatedCard.assertSw;

import java.util.Arrays;
import javacard.framework.ISO7816;
import org.junit.Test;

/**
 * Bad input: each answer carries the ISO 7816-4 status word, no data, drops any chain and any
 * pending response, and the card then works normally. What jCardSim rejects before the applet
 * sees the command (Lc that disagrees with the bytes sent) is in SimulatorBehaviourTest.
 */
public class BadInputTest {
    private static final byte[] NO_DATA = new byte[0];

    @Test
    public void unknownClassIs6E00() {
        SimulatedCard card = SimulatedCard.selected();
        // Logical channels, secure messaging other than the binding's (04, 84: BindingHandlerTest),
        // the further-interindustry range, other proprietary classes, and FF (reserved for PPS).
        for (int cla : new int[] {0x01, 0x03, 0x08, 0x0C, 0x20, 0x40, 0x60, 0x81, 0x88, 0x8C, 0xA0, 0xB0, 0xC0, 0xE0, 0xFF}) {
            assertSw(String.format("CLA %02X ECHO", cla), ISO7816.SW_CLA_NOT_SUPPORTED,
                    card.transmit(Apdu.shortForm(cla, 0xEE, 0, 0, Hex.decode("01"), 256)));
            assertSw(String.format("CLA %02X GET DATA", cla), ISO7816.SW_CLA_NOT_SUPPORTED,
                    card.transmit(Apdu.shortForm(cla, 0xCA, 0x7F, 0x49, NO_DATA, 256)));
        }
        card.assertWorksNormally();
    }

    @Test
    public void commandUnderTheWrongClassIs6E00() {
        SimulatedCard card = SimulatedCard.selected();
        assertSw("ECHO under CLA 00", ISO7816.SW_CLA_NOT_SUPPORTED,
                card.transmit(Apdu.shortForm(0x00, 0xEE, 0, 0, Hex.decode("01"), 256)));
        assertSw("GET DATA under CLA 80", ISO7816.SW_CLA_NOT_SUPPORTED,
                card.transmit(Apdu.shortForm(0x80, 0xCA, 0x7F, 0x49, NO_DATA, 256)));
        assertSw("GET RESPONSE under CLA 80", ISO7816.SW_CLA_NOT_SUPPORTED,
                card.transmit(Apdu.shortForm(0x80, 0xC0, 0, 0, NO_DATA, 256)));
        card.assertWorksNormally();
    }

    @Test
    public void unknownInstructionIs6D00() {
        SimulatedCard card = SimulatedCard.selected();
        for (int cla : new int[] {0x00, 0x80}) {
            for (int ins : new int[] {0x00, 0x02, 0x22, 0x44, 0x86, 0x88, 0xB0, 0xCB, 0xD6, 0xDB, 0xED, 0xEF, 0xF0, 0xFE}) {
                assertSw(String.format("%02X %02X", cla, ins), ISO7816.SW_INS_NOT_SUPPORTED,
                        card.transmit(Apdu.shortForm(cla, ins, 0, 0, NO_DATA, 256)));
            }
        }
        card.assertWorksNormally();
    }

    @Test
    public void wrongParametersAre6A86() {
        SimulatedCard card = SimulatedCard.selected();
        for (int[] p : new int[][] {{0, 1}, {1, 0}, {0x80, 0}, {0xFF, 0xFF}}) {
            assertSw("ECHO P1P2 " + p[0] + " " + p[1], ISO7816.SW_INCORRECT_P1P2,
                    card.transmit(Apdu.shortForm(0x80, 0xEE, p[0], p[1], Hex.decode("0102"), 256)));
        }
        card.assertWorksNormally();
    }

    @Test
    public void getResponseWithWrongParametersIs6A86AndDropsThePendingResponse() {
        SimulatedCard card = SimulatedCard.selected();
        assertSw("partial", (short) 0x6100,
                card.transmit(Apdu.extendedForm(0x80, 0xEE, 0, 0, TestData.pattern(600, 1), 256)));
        assertSw("GET RESPONSE 00 C0 01 00", ISO7816.SW_INCORRECT_P1P2,
                card.transmit(Apdu.shortForm(0x00, 0xC0, 1, 0, NO_DATA, 256)));
        assertSw("dropped", ISO7816.SW_CONDITIONS_NOT_SATISFIED, card.transmit(SimulatedCard.getResponse(256)));
        card.assertWorksNormally();
    }

    @Test
    public void getResponseWithNothingPendingIs6985() {
        SimulatedCard card = SimulatedCard.selected();
        assertSw("fresh", ISO7816.SW_CONDITIONS_NOT_SATISFIED, card.transmit(SimulatedCard.getResponse(256)));
        card.echoExtended(TestData.pattern(10, 1));
        assertSw("after a complete response", ISO7816.SW_CONDITIONS_NOT_SATISFIED,
                card.transmit(SimulatedCard.getResponse(256)));
        assertSw("case 1 GET RESPONSE", ISO7816.SW_CONDITIONS_NOT_SATISFIED, card.transmit(Hex.decode("00C00000")));
        card.assertWorksNormally();
    }

    @Test
    public void getResponseWithDataIs6700() {
        SimulatedCard card = SimulatedCard.selected();
        card.transmit(Apdu.extendedForm(0x80, 0xEE, 0, 0, TestData.pattern(600, 1), 256));
        assertSw("GET RESPONSE with data", ISO7816.SW_WRONG_LENGTH,
                card.transmit(Apdu.shortForm(0x00, 0xC0, 0, 0, Hex.decode("00"), 256)));
        card.assertWorksNormally();
    }

    @Test
    public void anyOtherCommandDropsAPendingResponse() {
        SimulatedCard card = SimulatedCard.selected();
        assertSw("partial", (short) 0x6100,
                card.transmit(Apdu.extendedForm(0x80, 0xEE, 0, 0, TestData.pattern(600, 2), 256)));
        assertSw("GET DATA meanwhile", ISO7816.SW_NO_ERROR, card.getData(0x7F49));
        assertSw("dropped", ISO7816.SW_CONDITIONS_NOT_SATISFIED, card.transmit(SimulatedCard.getResponse(256)));

        assertSw("partial again", (short) 0x6100,
                card.transmit(Apdu.extendedForm(0x80, 0xEE, 0, 0, TestData.pattern(600, 2), 256)));
        assertSw("an unknown INS", ISO7816.SW_INS_NOT_SUPPORTED, card.transmit(Hex.decode("80F00000")));
        assertSw("dropped again", ISO7816.SW_CONDITIONS_NOT_SATISFIED, card.transmit(SimulatedCard.getResponse(256)));

        // A new long response replaces the old one.
        card.transmit(Apdu.extendedForm(0x80, 0xEE, 0, 0, TestData.pattern(600, 3), 256));
        byte[] second = TestData.pattern(300, 4);
        assertSw("second", (short) 0x612C, card.transmit(Apdu.extendedForm(0x80, 0xEE, 0, 0, second, 256)));
        Response rest = card.transmit(SimulatedCard.getResponse(256));
        assertSw("rest of the second", ISO7816.SW_NO_ERROR, rest);
        assertArrayEquals(Arrays.copyOfRange(second, 256, 300), rest.data);
        card.assertWorksNormally();
    }

    @Test
    public void extendedCommandLongerThan4096Is6700() {
        SimulatedCard card = SimulatedCard.selected();
        for (int size : new int[] {4097, 5000, 32767}) {
            assertSw("extended ECHO of " + size, ISO7816.SW_WRONG_LENGTH,
                    card.echoExtended(TestData.pattern(size, size)));
        }
        card.assertWorksNormally();
    }

    @Test
    public void chainLongerThan4096Is6700AndDropsTheChain() {
        SimulatedCard card = SimulatedCard.selected();
        byte[] segment = TestData.pattern(256, 1);
        for (int i = 0; i < 16; i++) {   // 16 x 256 = 4096: still fits
            assertSw("segment " + i, ISO7816.SW_NO_ERROR,
                    card.transmit(Apdu.extendedForm(0x90, 0xEE, 0, 0, segment, Apdu.NO_LE)));
        }
        assertSw("byte 4097", ISO7816.SW_WRONG_LENGTH,
                card.transmit(Apdu.shortForm(0x90, 0xEE, 0, 0, Hex.decode("01"), Apdu.NO_LE)));
        // The chain is gone: a last segment now stands alone.
        Response r = card.transmit(Apdu.shortForm(0x80, 0xEE, 0, 0, Hex.decode("0203"), 256));
        assertSw("new command", ISO7816.SW_NO_ERROR, r);
        assertArrayEquals(Hex.decode("0203"), r.data);
        card.assertWorksNormally();
    }

    @Test
    public void chainOverflowOnTheLastSegmentIs6700() {
        SimulatedCard card = SimulatedCard.selected();
        assertSw("4000 bytes", ISO7816.SW_NO_ERROR,
                card.transmit(Apdu.extendedForm(0x90, 0xEE, 0, 0, TestData.pattern(4000, 1), Apdu.NO_LE)));
        assertSw("97 more", ISO7816.SW_WRONG_LENGTH,
                card.transmit(Apdu.shortForm(0x80, 0xEE, 0, 0, TestData.pattern(97, 2), 256)));
        card.assertWorksNormally();
    }

    @Test
    public void interleavedCommandIs6883AndDropsTheChain() {
        String[] interleaved = {
            "00CA7F4900",          // GET DATA
            "00C0000000",          // GET RESPONSE
            "80F0000000",          // unknown INS
            "80EE000102AABB00",    // ECHO, other P2
            "80EE010002AABB00",    // ECHO, other P1
            "00EE000002AABB00",    // same INS under another class
            "00A4000002AABB",      // SELECT that is not an applet selection
        };
        for (String command : interleaved) {
            SimulatedCard card = SimulatedCard.selected();
            assertSw("first segment", ISO7816.SW_NO_ERROR,
                    card.transmit(Apdu.shortForm(0x90, 0xEE, 0, 0, Hex.decode("1111"), Apdu.NO_LE)));
            assertSw("interleaved " + command, Constants.SW_LAST_COMMAND_EXPECTED, card.transmit(Hex.decode(command)));
            Response r = card.transmit(Apdu.shortForm(0x80, 0xEE, 0, 0, Hex.decode("2222"), 256));
            assertSw("after the interleaving", ISO7816.SW_NO_ERROR, r);
            assertArrayEquals("the first segment was dropped", Hex.decode("2222"), r.data);
            card.assertWorksNormally();
        }
    }

    @Test
    public void unknownClassInsideAChainIs6E00AndDropsTheChain() {
        SimulatedCard card = SimulatedCard.selected();
        card.transmit(Apdu.shortForm(0x90, 0xEE, 0, 0, Hex.decode("1111"), Apdu.NO_LE));
        assertSw("CLA 88", ISO7816.SW_CLA_NOT_SUPPORTED, card.transmit(Hex.decode("88EE000001AA00")));
        Response r = card.transmit(Apdu.shortForm(0x80, 0xEE, 0, 0, Hex.decode("2222"), 256));
        assertArrayEquals(Hex.decode("2222"), r.data);
        card.assertWorksNormally();
    }

    @Test
    public void selectOfAnUnknownAidReachesTheAppletAndIs6A82() {
        SimulatedCard card = SimulatedCard.selected();
        // jCardSim finds no applet for this AID, so the command goes to the selected applet.
        assertSw("SELECT unknown AID", ISO7816.SW_FILE_NOT_FOUND,
                card.transmit(Apdu.shortForm(0x00, 0xA4, 0x04, 0x00, Hex.decode("A000000000FFFF"), 256)));
        assertSw("SELECT by file id", ISO7816.SW_FILE_NOT_FOUND,
                card.transmit(Apdu.shortForm(0x00, 0xA4, 0x00, 0x00, Hex.decode("3F00"), Apdu.NO_LE)));
        card.assertWorksNormally();
    }

    @Test
    public void intermediateSegmentWithoutDataIsAccepted() {
        SimulatedCard card = SimulatedCard.selected();
        assertSw("empty segment", ISO7816.SW_NO_ERROR, card.transmit(Hex.decode("90EE0000")));
        assertSw("data segment", ISO7816.SW_NO_ERROR, card.transmit(Hex.decode("90EE000002ABCD")));
        Response r = card.transmit(Hex.decode("80EE000001EF00"));
        assertSw("last", ISO7816.SW_NO_ERROR, r);
        assertArrayEquals(Hex.decode("ABCDEF"), r.data);
    }
}
