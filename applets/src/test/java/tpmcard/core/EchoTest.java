package tpmcard.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static tpmcard.core.SimulatedCard.assertSw;

import java.io.ByteArrayOutputStream;
import java.util.Arrays;
import javacard.framework.ISO7816;
import org.junit.Test;

/**
 * ECHO 80 EE 00 00: the data back unchanged, 0..4096 bytes, through every transport path:
 * one extended APDU, command chaining over short APDUs, and response chaining (61xx + GET
 * RESPONSE) with short and extended APDUs.
 */
public class EchoTest {
    private static final int[] SIZES = {0, 1, 255, 256, 257, 1024, 4095, 4096};

    @Test
    public void extendedApduAtEverySize() {
        for (int size : SIZES) {
            SimulatedCard card = SimulatedCard.selected();
            byte[] data = TestData.pattern(size, size);
            Response r = card.echoExtended(data);
            assertSw("extended ECHO of " + size, ISO7816.SW_NO_ERROR, r);
            assertArrayEquals("extended ECHO of " + size, data, r.data);
        }
    }

    @Test
    public void extendedApduWithoutLe() {
        for (int size : SIZES) {
            if (size == 0) {
                continue;   // an extended APDU without data and without Le does not exist
            }
            SimulatedCard card = SimulatedCard.selected();
            byte[] data = TestData.pattern(size, size + 1);
            Response r = card.transmit(Apdu.extendedForm(0x80, 0xEE, 0, 0, data, Apdu.NO_LE));
            assertSw("extended case 3 ECHO of " + size, ISO7816.SW_NO_ERROR, r);
            assertArrayEquals(data, r.data);
        }
    }

    @Test
    public void shortApduCommandChainingWith255ByteSegments() {
        for (int size : SIZES) {
            SimulatedCard card = SimulatedCard.selected();
            byte[] data = TestData.pattern(size, size + 2);
            Response r = card.echoChained(data, 255);
            assertSw("chained ECHO of " + size, ISO7816.SW_NO_ERROR, r);
            assertArrayEquals("chained ECHO of " + size, data, r.data);
        }
    }

    @Test
    public void shortApduCommandChainingWithOddSegments() {
        for (int segment : new int[] {1, 17, 128, 254}) {
            for (int size : new int[] {0, 1, 257, 1024, 4096}) {
                if (segment == 1 && size > 257) {
                    continue;
                }
                SimulatedCard card = SimulatedCard.selected();
                byte[] data = TestData.pattern(size, segment);
                Response r = card.echoChained(data, segment);
                assertSw("ECHO of " + size + " in segments of " + segment, ISO7816.SW_NO_ERROR, r);
                assertArrayEquals(data, r.data);
            }
        }
    }

    @Test
    public void chainedSegmentsMayBeExtendedApdus() {
        SimulatedCard card = SimulatedCard.selected();
        byte[] data = TestData.pattern(4096, 9);
        Response r = card.transmit(Apdu.extendedForm(0x90, 0xEE, 0, 0, Arrays.copyOf(data, 3000), Apdu.NO_LE));
        assertSw("first extended segment", ISO7816.SW_NO_ERROR, r);
        assertEquals(0, r.data.length);
        r = card.transmit(Apdu.shortForm(0x80, 0xEE, 0, 0, Arrays.copyOfRange(data, 3000, 3200), 256));
        // The last segment was short, so the response is chained in parts of 256.
        assertSw("last short segment", (short) 0x6100, r);
        ByteArrayOutputStream joined = new ByteArrayOutputStream();
        joined.writeBytes(r.data);
        while (r.sw1() == 0x61) {
            r = card.transmit(SimulatedCard.getResponse(256));
            joined.writeBytes(r.data);
        }
        assertSw("end", ISO7816.SW_NO_ERROR, r);
        assertArrayEquals(Arrays.copyOf(data, 3200), joined.toByteArray());
    }

    /** Response chaining: the exact status word sequence for each size over short APDUs. */
    @Test
    public void responseChainingStatusWordsOverShortApdus() {
        for (int size : SIZES) {
            SimulatedCard card = SimulatedCard.selected();
            byte[] data = TestData.pattern(size, size + 3);
            // Send the command as one extended APDU with Le 256: the response must come in
            // parts of 256 with 61xx announcing what is left.
            Response r = card.transmit(Apdu.extendedForm(0x80, 0xEE, 0, 0, data, 256));
            ByteArrayOutputStream joined = new ByteArrayOutputStream();
            int remaining = size;
            while (true) {
                int part = Math.min(remaining, 256);
                assertEquals("part length, size " + size, part, r.data.length);
                joined.writeBytes(r.data);
                remaining -= part;
                if (remaining == 0) {
                    assertSw("last part, size " + size, ISO7816.SW_NO_ERROR, r);
                    break;
                }
                short expected = (short) (0x6100 | (remaining >= 256 ? 0 : remaining));
                assertSw("61xx, size " + size, expected, r);
                r = card.transmit(SimulatedCard.getResponse(256));
            }
            assertArrayEquals(data, joined.toByteArray());
        }
    }

    @Test
    public void getResponseHonoursItsLe() {
        SimulatedCard card = SimulatedCard.selected();
        byte[] data = TestData.pattern(1000, 4);
        Response r = card.transmit(Apdu.extendedForm(0x80, 0xEE, 0, 0, data, 100));
        assertSw("first 100", (short) 0x6100, r);   // 900 left
        assertArrayEquals(Arrays.copyOf(data, 100), r.data);
        r = card.transmit(SimulatedCard.getResponse(1));
        assertSw("one byte", (short) 0x6100, r);    // 899 left
        assertArrayEquals(Arrays.copyOfRange(data, 100, 101), r.data);
        r = card.transmit(Apdu.extendedForm(0x00, 0xC0, 0, 0, new byte[0], 700));
        assertSw("extended GET RESPONSE", (short) 0x61C7, r);   // 199 left
        assertArrayEquals(Arrays.copyOfRange(data, 101, 801), r.data);
        r = card.transmit(SimulatedCard.getResponse(256));
        assertSw("rest", ISO7816.SW_NO_ERROR, r);
        assertArrayEquals(Arrays.copyOfRange(data, 801, 1000), r.data);
        assertSw("nothing left", ISO7816.SW_CONDITIONS_NOT_SATISFIED, card.transmit(SimulatedCard.getResponse(256)));
    }

    @Test
    public void extendedGetResponseFetchesEverythingLeft() {
        SimulatedCard card = SimulatedCard.selected();
        byte[] data = TestData.pattern(4096, 5);
        Response r = card.transmit(Apdu.extendedForm(0x80, 0xEE, 0, 0, data, 10));
        assertSw("first 10", (short) 0x6100, r);
        r = card.transmit(Apdu.extendedForm(0x00, 0xC0, 0, 0, new byte[0], 65536));
        assertSw("the other 4086", ISO7816.SW_NO_ERROR, r);
        assertArrayEquals(Arrays.copyOfRange(data, 10, 4096), r.data);
    }

    @Test
    public void shortApduWithSmallLe() {
        SimulatedCard card = SimulatedCard.selected();
        byte[] data = TestData.pattern(5, 6);
        Response r = card.transmit(Apdu.shortForm(0x80, 0xEE, 0, 0, data, 2));
        assertSw("2 of 5", (short) 0x6103, r);
        assertArrayEquals(Arrays.copyOf(data, 2), r.data);
        r = card.transmit(SimulatedCard.getResponse(256));
        assertSw("the other 3", ISO7816.SW_NO_ERROR, r);
        assertArrayEquals(Arrays.copyOfRange(data, 2, 5), r.data);
    }

    @Test
    public void shortApduWithoutChaining() {
        for (int size : new int[] {0, 1, 100, 254}) {
            SimulatedCard card = SimulatedCard.selected();
            byte[] data = TestData.pattern(size, 7);
            Response r = card.transmit(Apdu.shortForm(0x80, 0xEE, 0, 0, data, 256));
            assertSw("short ECHO of " + size, ISO7816.SW_NO_ERROR, r);
            assertArrayEquals(data, r.data);
        }
        // Case 3 (no Le): Ne counts as 256.
        SimulatedCard card = SimulatedCard.selected();
        byte[] data = TestData.pattern(255, 8);
        Response r = card.transmit(Apdu.shortForm(0x80, 0xEE, 0, 0, data, Apdu.NO_LE));
        assertSw("case 3 ECHO of 255", ISO7816.SW_NO_ERROR, r);
        assertArrayEquals(data, r.data);
    }

    @Test
    public void echoWithoutDataForms() {
        SimulatedCard card = SimulatedCard.selected();
        for (String command : new String[] {"80EE0000", "80EE000000", "80EE000010", "80EE0000000000", "80EE0000000100"}) {
            Response r = card.transmit(Hex.decode(command));
            assertSw("empty ECHO " + command, ISO7816.SW_NO_ERROR, r);
            assertEquals(0, r.data.length);
        }
    }

    @Test
    public void manyCommandsInOneSession() {
        SimulatedCard card = SimulatedCard.selected();
        for (int i = 0; i < 40; i++) {
            int size = (i * 997) % 4097;
            byte[] data = TestData.pattern(size, i);
            Response r = (i % 2 == 0) ? card.echoExtended(data) : card.echoChained(data, 200);
            assertSw("ECHO #" + i, ISO7816.SW_NO_ERROR, r);
            assertArrayEquals(data, r.data);
        }
    }
}
