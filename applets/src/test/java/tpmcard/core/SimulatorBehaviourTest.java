package tpmcard.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;
import static tpmcard.core.SimulatedCard.assertSw;

import com.licel.jcardsim.base.Simulator;
import com.licel.jcardsim.utils.AIDUtil;
import java.util.Arrays;
import javacard.framework.AID;
import javacard.framework.ISO7816;
import org.junit.Test;

/**
 * What jCardSim 3.0.6.0 does with malformed or unusual APDUs before CoreApplet sees them,
 * found by sending raw bytes through Simulator.transmitCommand. Host code that talks to the
 * simulator must live with these; a real card's reader and JCRE behave differently.
 *
 * <ul>
 * <li>com.licel.jcardsim.base.ApduCase.getCase classifies the command by its total length. An Lc
 *     that disagrees with the bytes present makes transmitCommand throw IllegalArgumentException
 *     (it never answers 6700): the applet cannot see a truncated command in the simulator. The
 *     applet still checks received == Lc (ApduIo.receive) for real cards.</li>
 * <li>A short APDU whose byte 4 is 00 and that is longer than 5 bytes is read as extended.</li>
 * <li>The short APDU buffer is 260 bytes: a case 4 short APDU with Lc = 255 (261 bytes)
 *     overflows it and the simulator answers 6F00 without calling process().</li>
 * <li>An extended Le of 0000 (Ne = 65536) reaches the applet as Le = 0; so does an absent Le.</li>
 * <li>Only a short SELECT with P1 = 04 selects; an extended SELECT goes to the selected applet.</li>
 * <li>{@code new Simulator()} is not a new card: all such simulators share the static
 *     SimulatorSystem.DEFAULT_RUNTIME, and each constructor resets it, deleting the applets
 *     installed through earlier simulators. Independent cards need
 *     {@code new Simulator(new SimulatorRuntime())}. Simulator.resetRuntime() deletes applets too.</li>
 * </ul>
 */
public class SimulatorBehaviourTest {

    /** A chain in progress survives: proof that the applet never saw the malformed command. */
    private static SimulatedCard cardWithChainInProgress() {
        SimulatedCard card = SimulatedCard.selected();
        assertSw("segment", ISO7816.SW_NO_ERROR, card.transmit(Hex.decode("90EE000002A1A2")));
        return card;
    }

    private static void assertChainSurvived(SimulatedCard card) {
        Response r = card.transmit(Hex.decode("80EE000001A300"));
        assertSw("last segment", ISO7816.SW_NO_ERROR, r);
        assertArrayEquals("the chain was untouched", Hex.decode("A1A2A3"), r.data);
        card.assertWorksNormally();
    }

    @Test
    public void lcLongerThanTheDataThrowsBeforeTheApplet() {
        SimulatedCard card = cardWithChainInProgress();
        for (String command : new String[] {"80EE0000050102", "80EE0000FF01", "80EE000002AA", "80EE000000FFFF0102"}) {
            IllegalArgumentException e = assertThrows(command, IllegalArgumentException.class,
                    () -> card.simulator.transmitCommand(Hex.decode(command)));
            assertEquals(true, e.getMessage().contains("Lc or Le is invalid"));
        }
        assertChainSurvived(card);
    }

    @Test
    public void lcShorterThanTheDataByTwoOrMoreThrows() {
        SimulatedCard card = cardWithChainInProgress();
        assertThrows(IllegalArgumentException.class,
                () -> card.simulator.transmitCommand(Hex.decode("80EE000001AABBCC")));
        assertThrows(IllegalArgumentException.class,
                () -> card.simulator.transmitCommand(Hex.decode("80EE0000000002AABBCCDDEE")));
        assertChainSurvived(card);
    }

    @Test
    public void oneByteTooManyBecomesLe() {
        SimulatedCard card = SimulatedCard.selected();
        // Lc = 1, data AA, and BB is read as Le = 0xBB: a valid case 4 command.
        Response r = card.transmit(Hex.decode("80EE000001AABB"));
        assertSw("case 4", ISO7816.SW_NO_ERROR, r);
        assertArrayEquals(Hex.decode("AA"), r.data);
        // Lc = 3, data 01 02 03 and Le = 01: the applet honours Ne = 1 and chains the rest.
        r = card.transmit(Hex.decode("80EE00000301020301"));
        assertSw("Ne = 1", (short) 0x6102, r);
        assertArrayEquals(Hex.decode("01"), r.data);
    }

    @Test
    public void sixByteCommandWithZeroLcThrowsArrayIndexOutOfBounds() {
        SimulatedCard card = cardWithChainInProgress();
        assertThrows(ArrayIndexOutOfBoundsException.class,
                () -> card.simulator.transmitCommand(Hex.decode("80EE00000000")));
        assertThrows(ArrayIndexOutOfBoundsException.class,
                () -> card.simulator.transmitCommand(Hex.decode("80EE00000001")));
        assertChainSurvived(card);
    }

    @Test
    public void shorterThanAHeaderThrows() {
        SimulatedCard card = cardWithChainInProgress();
        assertThrows(IllegalArgumentException.class, () -> card.simulator.transmitCommand(Hex.decode("80EE00")));
        assertChainSurvived(card);
    }

    @Test
    public void zeroLcForms() {
        SimulatedCard card = SimulatedCard.selected();
        // 5 bytes: case 2 short, byte 4 is Le = 00 (256). Lc = 0 cannot be written short.
        assertSw("80EE000000", ISO7816.SW_NO_ERROR, card.transmit(Hex.decode("80EE000000")));
        // 7 bytes with byte 4 = 00: case 2 extended, Le = 0000.
        assertSw("80EE0000000000", ISO7816.SW_NO_ERROR, card.transmit(Hex.decode("80EE0000000000")));
        // 9 bytes 00 0000 0102: read as case 4 extended with Lc = 0 (ISO forbids an extended
        // Lc of 0000) and Le = 0102; the applet sees an empty command.
        Response r = card.transmit(Hex.decode("80EE0000000000" + "0102"));
        assertSw("extended Lc 0000", ISO7816.SW_NO_ERROR, r);
        assertEquals(0, r.data.length);
        card.assertWorksNormally();
    }

    @Test
    public void extendedLeOfZeroMeansTheMaximum() {
        SimulatedCard card = SimulatedCard.selected();
        byte[] data = TestData.pattern(4096, 1);
        Response r = card.transmit(Apdu.extendedForm(0x80, 0xEE, 0, 0, data, 65536));   // Le 0000
        assertSw("Le 0000", ISO7816.SW_NO_ERROR, r);
        assertArrayEquals(data, r.data);
        r = card.transmit(Hex.decode("00CA7F49000000"));   // case 2E, Le 0000
        assertSw("GET DATA case 2E", ISO7816.SW_NO_ERROR, r);
        assertEquals(70, r.data.length);
    }

    @Test
    public void extendedLengthAbove32767Throws() {
        SimulatedCard card = cardWithChainInProgress();
        byte[] command = new byte[7 + 40000];
        command[0] = (byte) 0x80;
        command[1] = (byte) 0xEE;
        command[5] = (byte) (40000 >> 8);
        command[6] = (byte) 40000;
        assertThrows(IllegalArgumentException.class, () -> card.simulator.transmitCommand(command));
        assertChainSurvived(card);
    }

    @Test
    public void shortCase4With255BytesIs6F00WithoutReachingTheApplet() {
        SimulatedCard card = cardWithChainInProgress();
        byte[] data = TestData.pattern(255, 1);
        Response r = card.transmit(Apdu.shortForm(0x80, 0xEE, 0, 0, data, 256));
        assertSw("261-byte short APDU", ISO7816.SW_UNKNOWN, r);
        // Had the applet seen it, the chain would have been completed or dropped.
        assertChainSurvived(card);

        // The same 255 bytes without Le (260 bytes) fit; the applet reads the absent Le as 256.
        r = card.transmit(Apdu.shortForm(0x80, 0xEE, 0, 0, data, Apdu.NO_LE));
        assertSw("260-byte short APDU", ISO7816.SW_NO_ERROR, r);
        assertArrayEquals(data, r.data);
        // And 254 bytes with Le (260 bytes) too.
        r = card.transmit(Apdu.shortForm(0x80, 0xEE, 0, 0, Arrays.copyOf(data, 254), 256));
        assertSw("254 + Le", ISO7816.SW_NO_ERROR, r);
    }

    @Test
    public void extendedSelectIsNotAnAppletSelection() {
        SimulatedCard card = SimulatedCard.installed();
        byte[] aid = Hex.decode(Manifest.core().appletAid);
        // Nothing selected yet: jCardSim has no applet to give it to.
        assertSw("extended SELECT, nothing selected", ISO7816.SW_COMMAND_NOT_ALLOWED,
                card.transmit(Apdu.extendedForm(0x00, 0xA4, 0x04, 0x00, aid, 256)));
        card.selectOk();
        // Selected: the command reaches process() as an ordinary command, answered 6A82.
        assertSw("extended SELECT, applet selected", ISO7816.SW_FILE_NOT_FOUND,
                card.transmit(Apdu.extendedForm(0x00, 0xA4, 0x04, 0x00, aid, 256)));
        card.assertWorksNormally();
    }

    @Test
    public void selectOfAnUnknownAidWithNothingSelectedIs6A99() {
        SimulatedCard card = SimulatedCard.installed();
        assertSw("unknown AID", ISO7816.SW_APPLET_SELECT_FAILED,
                card.transmit(Apdu.shortForm(0x00, 0xA4, 0x04, 0x00, Hex.decode("A000000000FFFF"), Apdu.NO_LE)));
        assertSw("command with nothing selected", ISO7816.SW_COMMAND_NOT_ALLOWED, card.transmit(Hex.decode("80EE0000")));
    }

    @Test
    public void reselectClearsClearOnDeselectMemory() {
        SimulatedCard card = cardWithChainInProgress();
        card.selectOk();
        Response r = card.transmit(Hex.decode("80EE000001A300"));
        assertArrayEquals("the chain is gone", Hex.decode("A3"), r.data);
    }

    @Test
    public void simulatorsMadeWithoutARuntimeShareOne() {
        AID aid = AIDUtil.create(Manifest.core().appletAid);
        Simulator first = new Simulator();
        first.installApplet(aid, CoreApplet.class);
        assertTrue(first.selectApplet(aid));
        Simulator second = new Simulator();
        assertSw("first simulator after the second was made", ISO7816.SW_APPLET_SELECT_FAILED,
                new Response(first.transmitCommand(AIDUtil.select(aid))));
        second.installApplet(aid, CoreApplet.class);
        assertTrue("the applet installed through the second shows in the first", first.selectApplet(aid));

        SimulatedCard own = SimulatedCard.installed();
        new Simulator();
        own.selectOk();   // a simulator with its own runtime is unaffected
    }

    @Test
    public void resetRuntimeDeletesTheApplets() {
        SimulatedCard card = SimulatedCard.selected();
        card.simulator.resetRuntime();
        assertSw("after resetRuntime", ISO7816.SW_APPLET_SELECT_FAILED, card.select());
    }

    @Test
    public void resetDeselectsTheApplet() {
        SimulatedCard card = SimulatedCard.selected();
        card.simulator.reset();
        assertSw("after reset", ISO7816.SW_COMMAND_NOT_ALLOWED, card.transmit(Hex.decode("80EE0000")));
        card.selectOk();
        card.assertWorksNormally();
    }
}
