package tpmcard.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static tpmcard.core.SimulatedCard.assertSw;

import com.licel.jcardsim.utils.AIDUtil;
import java.util.Arrays;
import javacard.framework.ISO7816;
import org.junit.Test;

/** SELECT by AID: the info template A1 { 80 card id | 81 version | 82 features | 83 | 84 | 85 }. */
public class SelectTest {
    private static final short ALL_FEATURES = (short) (Constants.FEATURE_EXTENDED_LENGTH
            | Constants.FEATURE_COMMAND_CHAINING | Constants.FEATURE_RESPONSE_CHAINING
            | Constants.FEATURE_COMMAND_BUFFER_IN_RAM | Constants.FEATURE_RESPONSE_BUFFER_IN_RAM
            | Constants.FEATURE_IDENTITY_KEY_DERIVED);

    @Test
    public void manifestNamesTheCoreAids() {
        assertEquals("F074706D630100", Manifest.core().packageAid);
        assertEquals("F074706D63010001", Manifest.core().appletAid);
    }

    @Test
    public void selectReturnsTheInfoTemplate() {
        SimulatedCard card = SimulatedCard.installed();
        byte[] info = card.selectOk();

        assertEquals(40, info.length);
        assertEquals(Constants.TAG_INFO_TEMPLATE, info[0]);
        assertEquals(38, info[1]);
        assertEquals(Constants.TAG_CARD_ID, info[2]);
        assertEquals(Constants.CARD_ID_LENGTH, info[3]);
        byte[] rest = Arrays.copyOfRange(info, 20, 40);
        byte[] expected = new byte[] {
            Constants.TAG_APPLET_VERSION, 2, Constants.VERSION_MAJOR, Constants.VERSION_MINOR,
            Constants.TAG_FEATURES, 2, (byte) (ALL_FEATURES >> 8), (byte) ALL_FEATURES,
            Constants.TAG_MAX_COMMAND, 2, 0x10, 0x18,     // 4120: a protected 4096-byte payload
            Constants.TAG_MAX_RESPONSE, 2, 0x10, 0x18,
            // The service window: jCardSim's short APDU buffer, 260 bytes.
            Constants.TAG_SERVICE_WINDOW, 2, 0x01, 0x04,
        };
        assertArrayEquals(Hex.encode(rest), expected, rest);
    }

    @Test
    public void cardIdIsTheHashOfTheIdentityPoint() {
        SimulatedCard card = SimulatedCard.installed(Hex.decode("0102030405"));
        byte[] id = SimulatedCard.cardIdFrom(card.selectOk());
        byte[] point = card.identityPoint();
        assertArrayEquals(Arrays.copyOf(SimulatedCard.sha256(point), 16), id);
    }

    @Test
    public void selectWithLeGetsTheSameTemplate() {
        SimulatedCard card = SimulatedCard.installed();
        byte[] withoutLe = card.selectOk();
        byte[] aid = Hex.decode(Manifest.core().appletAid);
        Response r = card.transmit(Apdu.shortForm(0x00, 0xA4, 0x04, 0x00, aid, 256));
        assertSw("SELECT with Le 00", ISO7816.SW_NO_ERROR, r);
        assertArrayEquals(withoutLe, r.data);
    }

    @Test
    public void selectWithSmallLeChainsTheResponse() {
        SimulatedCard card = SimulatedCard.installed();
        byte[] whole = card.selectOk();
        byte[] aid = Hex.decode(Manifest.core().appletAid);
        Response first = card.transmit(Apdu.shortForm(0x00, 0xA4, 0x04, 0x00, aid, 16));
        assertSw("first part", (short) 0x6118, first);
        assertArrayEquals(Arrays.copyOf(whole, 16), first.data);
        Response second = card.transmit(SimulatedCard.getResponse(256));
        assertSw("rest", ISO7816.SW_NO_ERROR, second);
        assertArrayEquals(Arrays.copyOfRange(whole, 16, 40), second.data);
    }

    @Test
    public void selectIsStableAndRepeatable() {
        SimulatedCard card = SimulatedCard.installed();
        byte[] first = card.selectOk();
        assertArrayEquals(first, card.selectOk());
        card.simulator.reset();
        assertArrayEquals(first, card.selectOk());
    }

    @Test
    public void selectDropsAChainInProgress() {
        SimulatedCard card = SimulatedCard.selected();
        Response r = card.transmit(Apdu.shortForm(0x90, 0xEE, 0, 0, Hex.decode("AABB"), Apdu.NO_LE));
        assertSw("segment", ISO7816.SW_NO_ERROR, r);
        card.selectOk();
        r = card.transmit(Apdu.shortForm(0x80, 0xEE, 0, 0, Hex.decode("CC"), 256));
        assertSw("new command after SELECT", ISO7816.SW_NO_ERROR, r);
        assertArrayEquals(Hex.decode("CC"), r.data);
    }

    @Test
    public void selectDropsAPendingResponse() {
        SimulatedCard card = SimulatedCard.selected();
        Response r = card.transmit(Apdu.shortForm(0x80, 0xEE, 0, 0, TestData.pattern(200, 1), 16));
        assertSw("partial", (short) 0x61B8, r);
        card.selectOk();
        assertSw("after SELECT", ISO7816.SW_CONDITIONS_NOT_SATISFIED, card.transmit(SimulatedCard.getResponse(256)));
    }

    @Test
    public void selectByAidUtilMatchesTheManifest() {
        SimulatedCard card = SimulatedCard.installed();
        assertEquals(Manifest.core().appletAid, AIDUtil.toString(card.aid).toUpperCase());
        assertSw("SELECT", ISO7816.SW_NO_ERROR, card.select());
    }
}
