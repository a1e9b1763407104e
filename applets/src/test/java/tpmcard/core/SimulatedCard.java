package tpmcard.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import com.licel.jcardsim.base.Simulator;
import com.licel.jcardsim.base.SimulatorRuntime;
import com.licel.jcardsim.utils.AIDUtil;
import java.io.ByteArrayOutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import javacard.framework.AID;
import javacard.framework.Applet;
import javacard.framework.ISO7816;
import tpmcard.sim.enforce.CardRandom;

/**
 * One simulated card: a fresh jCardSim Simulator with the core applet installed under the AID
 * from the manifest. Host-side conventions the tests share live here: command chaining in
 * segments, following 61xx with GET RESPONSE.
 */
final class SimulatedCard {
    static final int CLA_ISO = Constants.CLA_ISO & 0xFF;
    static final int CLA_PROPRIETARY = Constants.CLA_PROPRIETARY & 0xFF;
    static final int CHAINING = Constants.CLA_CHAINING_BIT & 0xFF;
    static final int INS_ECHO = Constants.INS_ECHO & 0xFF;
    static final int INS_GET_DATA = Constants.INS_GET_DATA & 0xFF;
    static final int INS_GET_RESPONSE = Constants.INS_GET_RESPONSE & 0xFF;

    final Simulator simulator;
    final AID aid;

    private SimulatedCard(Simulator simulator, AID aid) {
        this.simulator = simulator;
        this.aid = aid;
    }

    /** A fresh simulator with CoreApplet installed (no install entropy), not yet selected. */
    static SimulatedCard installed() {
        return installed(CoreApplet.class, new byte[0]);
    }

    static SimulatedCard installed(byte[] entropy) {
        return installed(CoreApplet.class, entropy);
    }

    /**
     * A simulator with a runtime of its own. {@code new Simulator()} would not do: every such
     * simulator shares the static SimulatorSystem.DEFAULT_RUNTIME and resets it, deleting the
     * applets of the simulators made before (see SimulatorBehaviourTest).
     */
    static Simulator newSimulator() {
        SimulatorRuntime runtime = new SimulatorRuntime();
        if (fixedSeed != null) {
            CardRandom.useFixedSeed(runtime, fixedSeed);
        }
        return new Simulator(runtime);
    }

    /**
     * Known-answer tests set this (and clear it after): the simulators made meanwhile draw their
     * randomness from this seed instead of the OS (tpmcard.sim.enforce.CardRandom).
     */
    static byte[] fixedSeed;

    static SimulatedCard installed(Class<? extends Applet> appletClass, byte[] entropy) {
        Simulator simulator = newSimulator();
        AID aid = AIDUtil.create(Manifest.core().appletAid);
        byte[] parameters = installParameters(aid, new byte[0], entropy);
        simulator.installApplet(aid, appletClass, parameters, (short) 0, (byte) parameters.length);
        return new SimulatedCard(simulator, aid);
    }

    /** A fresh simulator with CoreApplet installed and selected. */
    static SimulatedCard selected() {
        SimulatedCard card = installed();
        card.selectOk();
        return card;
    }

    /** The install bArray: [len AID][AID][len control][control][len params][params]. */
    static byte[] installParameters(AID aid, byte[] control, byte[] params) {
        byte[] aidBytes = new byte[16];
        byte aidLength = aid.getBytes(aidBytes, (short) 0);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(aidLength);
        out.write(aidBytes, 0, aidLength);
        out.write(control.length);
        out.writeBytes(control);
        out.write(params.length);
        out.writeBytes(params);
        return out.toByteArray();
    }

    Response transmit(byte[] command) {
        return new Response(simulator.transmitCommand(command));
    }

    Response select() {
        return transmit(AIDUtil.select(aid));
    }

    /** SELECT; asserts 9000 and returns the info template. */
    byte[] selectOk() {
        Response r = select();
        assertEquals("SELECT", ISO7816.SW_NO_ERROR, r.sw);
        return r.data;
    }

    /** Sends a command and follows 61xx with GET RESPONSE (Le 00) until the final status word. */
    Response transmitAndCollect(byte[] command) {
        Response r = transmit(command);
        ByteArrayOutputStream data = new ByteArrayOutputStream();
        data.writeBytes(r.data);
        while (r.sw1() == 0x61) {
            int pending = r.sw2() == 0 ? 256 : r.sw2();
            r = transmit(getResponse(256));
            assertEquals("GET RESPONSE part length", Math.min(pending, 256), r.data.length);
            data.writeBytes(r.data);
        }
        byte[] all = data.toByteArray();
        byte[] raw = Arrays.copyOf(all, all.length + 2);
        raw[all.length] = (byte) r.sw1();
        raw[all.length + 1] = (byte) r.sw2();
        return new Response(raw);
    }

    static byte[] getResponse(int le) {
        return Apdu.shortForm(CLA_ISO, INS_GET_RESPONSE, 0, 0, new byte[0], le);
    }

    /** ECHO in one extended APDU with Le 0000 (maximum). */
    Response echoExtended(byte[] data) {
        return transmit(Apdu.extendedForm(CLA_PROPRIETARY, INS_ECHO, 0, 0, data, 65536));
    }

    /**
     * ECHO over short APDUs: command chaining in segments of {@code segment} bytes (CLA 90 on all
     * but the last), then response chaining. Intermediate segments are case 3 (no Le) and must
     * answer 9000 without data. The last segment carries Le 00, except when it holds 255 bytes:
     * jCardSim 3.0.6.0 cannot take a 261-byte short APDU (its short APDU buffer is 260 bytes, it
     * answers 6F00 without reaching the applet), so such a segment goes without Le, which the
     * applet reads as Ne = 256 (see SimulatorBehaviourTest).
     */
    Response echoChained(byte[] data, int segment) {
        int offset = 0;
        while (data.length - offset > segment) {
            byte[] part = Arrays.copyOfRange(data, offset, offset + segment);
            Response r = transmit(Apdu.shortForm(CLA_PROPRIETARY | CHAINING, INS_ECHO, 0, 0, part, Apdu.NO_LE));
            assertEquals("intermediate segment", ISO7816.SW_NO_ERROR, r.sw);
            assertEquals("intermediate segment data", 0, r.data.length);
            offset += segment;
        }
        byte[] last = Arrays.copyOfRange(data, offset, data.length);
        int le = last.length == 255 ? Apdu.NO_LE : 256;
        return transmitAndCollect(Apdu.shortForm(CLA_PROPRIETARY, INS_ECHO, 0, 0, last, le));
    }

    Response getData(int tag) {
        return transmit(Apdu.shortForm(CLA_ISO, INS_GET_DATA, tag >> 8, tag & 0xFF, new byte[0], 256));
    }

    /** The identity public point 04||X||Y from GET DATA 7F49, checking the envelope. */
    byte[] identityPoint() {
        Response r = getData(Constants.DO_IDENTITY_KEY & 0xFFFF);
        assertEquals("GET DATA 7F49", ISO7816.SW_NO_ERROR, r.sw);
        assertEquals(70, r.data.length);
        assertArrayEquals(Hex.decode("7F49438641"), Arrays.copyOf(r.data, 5));
        return Arrays.copyOfRange(r.data, 5, 70);
    }

    byte[] identityPointAfterSelect() {
        selectOk();
        return identityPoint();
    }

    /** SELECT, then the whole GET DATA 7F49 response data. */
    byte[] getDataAfterSelect() {
        selectOk();
        Response r = getData(Constants.DO_IDENTITY_KEY & 0xFFFF);
        assertEquals(ISO7816.SW_NO_ERROR, r.sw);
        return r.data;
    }

    /** The card id from the SELECT response (after the 80 10 tag and length). */
    static byte[] cardIdFrom(byte[] info) {
        assertEquals(Constants.TAG_INFO_TEMPLATE, info[0]);
        assertEquals(Constants.TAG_CARD_ID, info[2]);
        assertEquals(16, info[3]);
        return Arrays.copyOfRange(info, 4, 20);
    }

    /** After any bad input: ECHO (extended, chained, response-chained) and GET DATA still work. */
    void assertWorksNormally() {
        byte[] data = TestData.pattern(300, 7);
        Response r = echoExtended(data);
        assertEquals("ECHO after bad input", ISO7816.SW_NO_ERROR, r.sw);
        assertArrayEquals(data, r.data);
        r = echoChained(data, 100);
        assertEquals("chained ECHO after bad input", ISO7816.SW_NO_ERROR, r.sw);
        assertArrayEquals(data, r.data);
        assertEquals(65, identityPoint().length);
        Response none = transmit(getResponse(256));
        assertEquals("nothing pending", ISO7816.SW_CONDITIONS_NOT_SATISFIED, none.sw);
    }

    static byte[] sha256(byte[] data) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(data);
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    static void assertSw(String what, short expected, Response r) {
        assertEquals(what + ": got " + r, String.format("%04X", expected & 0xFFFF), String.format("%04X", r.sw & 0xFFFF));
        assertTrue(what + ": an error carries no data", expected == ISO7816.SW_NO_ERROR || (expected >> 8) == 0x61
                || r.data.length == 0);
    }
}
