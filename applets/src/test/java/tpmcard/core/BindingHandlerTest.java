package tpmcard.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;

import com.licel.jcardsim.base.Simulator;
import com.licel.jcardsim.utils.AIDUtil;
import java.util.Arrays;
import javacard.framework.AID;
import org.junit.Before;
import org.junit.Test;

/**
 * BindingHandler through BindingTestApplet in jCardSim: the answers that need no host TPM. The
 * full flows (pairing, sessions, PIN lockout, tampering) run with the real host library in
 * tests/sim/test_binding_jcardsim.py.
 */
public class BindingHandlerTest {
    private Simulator simulator;
    private AID aid;

    @Before
    public void install() {
        simulator = SimulatedCard.newSimulator();
        aid = AIDUtil.create("F074706D63FF00B1");
        simulator.installApplet(aid, BindingTestApplet.class);
        simulator.selectApplet(aid);
    }

    private byte[] send(int cla, int ins, int p1, int p2, byte[] data) {
        byte[] apdu;
        if (data.length == 0) {
            apdu = new byte[] {(byte) cla, (byte) ins, (byte) p1, (byte) p2, 0, 0, 0};
        } else {
            apdu = new byte[7 + data.length + 2];
            apdu[0] = (byte) cla;
            apdu[1] = (byte) ins;
            apdu[2] = (byte) p1;
            apdu[3] = (byte) p2;
            apdu[5] = (byte) (data.length >> 8);
            apdu[6] = (byte) data.length;
            System.arraycopy(data, 0, apdu, 7, data.length);
        }
        return simulator.transmitCommand(apdu);
    }

    private static int sw(byte[] response) {
        return ((response[response.length - 2] & 0xFF) << 8) | (response[response.length - 1] & 0xFF);
    }

    @Test
    public void challengeIsFreshAndThirtyTwoBytes() {
        byte[] a = send(0x00, 0x84, 0, 0, new byte[0]);
        byte[] b = send(0x00, 0x84, 0, 0, new byte[0]);
        assertEquals(0x9000, sw(a));
        assertEquals(34, a.length);
        assertFalse(Arrays.equals(a, b));
        assertEquals(0x6A86, sw(send(0x00, 0x84, 1, 0, new byte[0])));
    }

    @Test
    public void pinStatusAndEmptyTable() {
        assertEquals(0x63C3, sw(send(0x00, 0x20, 0, 0x80, new byte[0])));
        assertEquals(0x63C5, sw(send(0x00, 0x20, 0, 0x81, new byte[0])));
        assertEquals(0x6A86, sw(send(0x00, 0x20, 0, 0x82, new byte[0])));
        byte[] list = send(0x80, 0x52, 0, 0, new byte[0]);
        assertArrayEquals(new byte[] {(byte) 0xD0, 1, 8, (byte) 0x90, 0}, list);
    }

    @Test
    public void handshakeAndSecureMessagingFailUniformly() {
        byte[] point = Arrays.copyOfRange(send(0x00, 0xCA, 0x7F, 0x49, new byte[0]), 5, 70);
        byte[] init = new byte[67];
        init[0] = (byte) 0xC9;
        init[1] = 65;
        System.arraycopy(point, 0, init, 2, 65);
        assertEquals("no pairing in slot 0", 0x6982, sw(send(0x80, 0x56, 0, 0, init)));
        assertEquals("slot out of range", 0x6982, sw(send(0x80, 0x56, 0x80, 0, init)));
        assertEquals("AUTH without INIT", 0x6982, sw(send(0x80, 0x58, 0, 0, new byte[20])));
        assertEquals("protected without a session", 0x6982, sw(send(0x84, 0xEE, 0, 0, new byte[24])));
        assertEquals("close without a session", 0x6982, sw(send(0x84, 0x5A, 0, 0, new byte[8])));
        assertEquals("unprotected close", 0x6985, sw(send(0x80, 0x5A, 0, 0, new byte[0])));
    }

    @Test
    public void pinCommandsWithoutChallengeOrWithGarbageUseNoTry() {
        byte[] point = Arrays.copyOfRange(send(0x00, 0xCA, 0x7F, 0x49, new byte[0]), 5, 70);
        byte[] data = new byte[2 + 65 + 2 + 48];
        data[0] = (byte) 0xC9;
        data[1] = 65;
        System.arraycopy(point, 0, data, 2, 65);
        data[67] = (byte) 0xCA;
        data[68] = 48;
        assertEquals("no challenge", 0x6982, sw(send(0x80, 0x24, 0, 0x80, data)));
        send(0x00, 0x84, 0, 0, new byte[0]);
        assertEquals("bad cryptogram", 0x6982, sw(send(0x80, 0x24, 0, 0x80, data)));
        send(0x00, 0x84, 0, 0, new byte[0]);
        data[10] ^= 1;  // the ephemeral is now off the curve
        assertEquals("bad point", 0x6982, sw(send(0x80, 0x24, 0, 0x80, data)));
        assertEquals(0x63C3, sw(send(0x00, 0x20, 0, 0x80, new byte[0])));
        assertEquals("unpair of an empty slot", 0x6A88, sw(send(0x80, 0x54, 0, 0, new byte[0])));
        assertEquals("malformed pairing", 0x6A80, sw(send(0x80, 0x50, 0, 0, new byte[] {(byte) 0xC1, 5, 0, 0x23})));
    }
}
