package tpmcard.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static tpmcard.core.SimulatedCard.assertSw;

import javacard.framework.ISO7816;
import org.junit.Test;

/**
 * The fallback for cards without 2 x 4 KB of transient RAM: the same protocol over persistent
 * buffers, reported by clear FEATURE_*_BUFFER_IN_RAM bits. jCardSim never runs out of RAM, so
 * this test installs a subclass that asks for persistent buffers.
 */
public class PersistentBufferTest {
    /** CoreApplet with persistent I/O buffers. */
    public static class PersistentBufferCoreApplet extends CoreApplet {
        protected PersistentBufferCoreApplet(byte[] bArray, short bOffset, byte bLength) {
            super(bArray, bOffset, bLength, false);
        }

        public static void install(byte[] bArray, short bOffset, byte bLength) {
            new PersistentBufferCoreApplet(bArray, bOffset, bLength);
        }
    }

    private static SimulatedCard card() {
        SimulatedCard card = SimulatedCard.installed(PersistentBufferCoreApplet.class, new byte[] {1, 2, 3});
        return card;
    }

    @Test
    public void featureBitsReportPersistentBuffers() {
        byte[] info = card().selectOk();
        assertEquals(Constants.TAG_FEATURES, info[24]);
        int features = ((info[26] & 0xFF) << 8) | (info[27] & 0xFF);
        assertEquals(0, features & (Constants.FEATURE_COMMAND_BUFFER_IN_RAM | Constants.FEATURE_RESPONSE_BUFFER_IN_RAM));
        assertEquals(0x0007, features & 0x0007);
    }

    @Test
    public void echoWorksOverPersistentBuffers() {
        SimulatedCard card = card();
        card.selectOk();
        for (int size : new int[] {0, 255, 257, 4096}) {
            byte[] data = TestData.pattern(size, 11);
            Response r = card.echoChained(data, 255);
            assertSw("chained " + size, ISO7816.SW_NO_ERROR, r);
            assertArrayEquals(data, r.data);
            r = card.echoExtended(data);
            assertSw("extended " + size, ISO7816.SW_NO_ERROR, r);
            assertArrayEquals(data, r.data);
        }
    }

    @Test
    public void chainStateStillLivesInRam() {
        SimulatedCard card = card();
        card.selectOk();
        card.transmit(Hex.decode("90EE000002A1A2"));
        card.selectOk();   // deselect clears the transient chain state even though the data was persistent
        Response r = card.transmit(Hex.decode("80EE000001A300"));
        assertArrayEquals(Hex.decode("A3"), r.data);
        card.assertWorksNormally();
    }
}
