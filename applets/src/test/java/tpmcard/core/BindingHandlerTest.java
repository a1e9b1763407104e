package tpmcard.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static tpmcard.core.SimulatedCard.assertSw;

import java.util.Arrays;
import javacard.framework.ISO7816;
import org.junit.Test;

/**
 * The binding commands through CoreApplet in jCardSim: the answers that need no host TPM, and how
 * process() routes protected (CLA 04/84) commands. The full flows (pairing, sessions, secure
 * messaging of 0..4096-byte payloads, PIN lockout, tampering) run with the real host library and a
 * real TPM (swtpm) over both transports in tests/sim/test_binding.py.
 */
public class BindingHandlerTest {
    private static final short SECURITY = Constants.SW_SECURITY_STATUS_NOT_SATISFIED;

    private static Response send(SimulatedCard card, int cla, int ins, int p1, int p2, byte[] data) {
        return card.transmit(Apdu.extendedForm(cla, ins, p1, p2, data, 65536));
    }

    @Test
    public void challengeIsFreshAndThirtyTwoBytes() {
        SimulatedCard card = SimulatedCard.selected();
        Response a = send(card, 0x00, 0x84, 0, 0, new byte[0]);
        Response b = send(card, 0x00, 0x84, 0, 0, new byte[0]);
        assertSw("GET CHALLENGE", ISO7816.SW_NO_ERROR, a);
        assertEquals(Constants.CHALLENGE_LENGTH, a.data.length);
        assertFalse(Arrays.equals(a.data, b.data));
        assertSw("P1 01", ISO7816.SW_INCORRECT_P1P2, send(card, 0x00, 0x84, 1, 0, new byte[0]));
        assertSw("with data", ISO7816.SW_WRONG_LENGTH, send(card, 0x00, 0x84, 0, 0, new byte[1]));
        assertSw("chained", ISO7816.SW_COMMAND_CHAINING_NOT_SUPPORTED,
                card.transmit(Apdu.shortForm(0x10, 0x84, 0, 0, new byte[0], 32)));
        assertSw("under CLA 80", ISO7816.SW_CLA_NOT_SUPPORTED, send(card, 0x80, 0x84, 0, 0, new byte[0]));
        card.assertWorksNormally();
    }

    @Test
    public void pinStatusAndEmptyTable() {
        SimulatedCard card = SimulatedCard.selected();
        assertSw("PIN", (short) 0x63C3, send(card, 0x00, 0x20, 0, 0x80, new byte[0]));
        assertSw("PUK", (short) 0x63C5, send(card, 0x00, 0x20, 0, 0x81, new byte[0]));
        assertSw("reference 82", ISO7816.SW_INCORRECT_P1P2, send(card, 0x00, 0x20, 0, 0x82, new byte[0]));
        assertSw("a PIN in clear", ISO7816.SW_WRONG_DATA, send(card, 0x00, 0x20, 0, 0x80, Hex.decode("313233343536")));
        Response list = send(card, 0x80, 0x52, 0, 0, new byte[0]);
        assertSw("LIST PAIRINGS", ISO7816.SW_NO_ERROR, list);
        assertArrayEquals(new byte[] {(byte) 0xD0, 1, 8}, list.data);
    }

    @Test
    public void handshakeAndSecureMessagingFailUniformly() {
        SimulatedCard card = SimulatedCard.selected();
        byte[] init = new byte[67];
        init[0] = (byte) 0xC9;
        init[1] = 65;
        System.arraycopy(card.identityPoint(), 0, init, 2, 65);
        assertSw("no pairing in slot 0", SECURITY, send(card, 0x80, 0x56, 0, 0, init));
        assertSw("slot out of range", SECURITY, send(card, 0x80, 0x56, 0x80, 0, init));
        assertSw("AUTH without INIT", SECURITY, send(card, 0x80, 0x58, 0, 0, new byte[20]));
        assertSw("protected without a session", SECURITY, send(card, 0x84, 0xEE, 0, 0, new byte[24]));
        assertSw("protected ISO command", SECURITY, send(card, 0x04, 0xCA, 0x7F, 0x49, new byte[8]));
        assertSw("close without a session", SECURITY, send(card, 0x84, 0x5A, 0, 0, new byte[8]));
        assertSw("unprotected close", ISO7816.SW_CONDITIONS_NOT_SATISFIED, send(card, 0x80, 0x5A, 0, 0, new byte[0]));
        assertSw("protected, unknown INS", SECURITY, send(card, 0x84, 0xF0, 0, 0, new byte[8]));
        card.assertWorksNormally();
    }

    @Test
    public void protectedCommandsTakeUpTo4120BytesAnyFailureIsUniform() {
        SimulatedCard card = SimulatedCard.selected();
        int largest = Constants.SM_MAX_PAYLOAD + Constants.SM_OVERHEAD;
        assertEquals(Constants.MAX_COMMAND_DATA, largest);
        // Reassembled whole (extended or chained), then refused by the secure channel: no session.
        assertSw("4120 bytes, extended", SECURITY, send(card, 0x84, 0xEE, 0, 0, new byte[largest]));
        for (int i = 0; i < 16; i++) {
            assertSw("segment " + i, ISO7816.SW_NO_ERROR,
                    card.transmit(Apdu.extendedForm(0x94, 0xEE, 0, 0, new byte[256], Apdu.NO_LE)));
        }
        assertSw("4120 bytes, chained", SECURITY,
                card.transmit(Apdu.shortForm(0x84, 0xEE, 0, 0, new byte[24], 256)));
        // Longer: also the uniform answer, not 6700 (a secure-messaging failure says nothing more).
        assertSw("4121 bytes", SECURITY, send(card, 0x84, 0xEE, 0, 0, new byte[largest + 1]));
        // GET RESPONSE is never protected.
        assertSw("04 C0", ISO7816.SW_CLA_NOT_SUPPORTED, card.transmit(Apdu.shortForm(0x04, 0xC0, 0, 0, new byte[0], 256)));
        // Unprotected commands keep their 4096-byte limit.
        assertSw("ECHO 4097", ISO7816.SW_WRONG_LENGTH, card.echoExtended(new byte[4097]));
        card.assertWorksNormally();
    }

    @Test
    public void pinCommandsWithoutChallengeOrWithGarbageUseNoTry() {
        SimulatedCard card = SimulatedCard.selected();
        byte[] data = new byte[2 + 65 + 2 + 48];
        data[0] = (byte) 0xC9;
        data[1] = 65;
        System.arraycopy(card.identityPoint(), 0, data, 2, 65);
        data[67] = (byte) 0xCA;
        data[68] = 48;
        assertSw("no challenge", SECURITY, send(card, 0x80, 0x24, 0, 0x80, data));
        send(card, 0x00, 0x84, 0, 0, new byte[0]);
        assertSw("bad cryptogram", SECURITY, send(card, 0x80, 0x24, 0, 0x80, data));
        send(card, 0x00, 0x84, 0, 0, new byte[0]);
        data[10] ^= 1;  // the ephemeral is now off the curve
        assertSw("bad point", SECURITY, send(card, 0x80, 0x24, 0, 0x80, data));
        send(card, 0x00, 0x84, 0, 0, new byte[0]);
        send(card, 0x80, 0x52, 0, 0, new byte[0]);   // the challenge lives for one command only
        data[10] ^= 1;
        assertSw("stale challenge", SECURITY, send(card, 0x80, 0x24, 0, 0x80, data));
        assertSw("tries untouched", (short) 0x63C3, send(card, 0x00, 0x20, 0, 0x80, new byte[0]));
        assertSw("unpair of an empty slot", Constants.SW_REFERENCED_DATA_NOT_FOUND,
                send(card, 0x80, 0x54, 0, 0, new byte[0]));
        assertSw("PAIR with the factory PIN and PUK", Constants.SW_PIN_CHANGE_REQUIRED,
                send(card, 0x80, 0x50, 0, 0, new byte[] {(byte) 0xC1, 5, 0, 0x23}));
        card.assertWorksNormally();
    }

    /**
     * PUT DATA (the attestation CA key): public checks before the PIN cryptogram, which needs a
     * fresh challenge; a card without a CA key refuses every PAIR with 6A88, whatever it holds.
     * Installing, refusing a PIN replacement and replacing with the PUK run with the host
     * library over both transports (tests/sim/test_attestation.py).
     */
    @Test
    public void caKeyInstallChecksBeforeThePinAndPairNeedsTheKey() {
        SimulatedCard card = SimulatedCard.selected();
        byte[] data = new byte[2 + 65 + 2 + 65 + 2 + 32];
        data[0] = Constants.TAG_CA_KEY;
        data[1] = 65;
        System.arraycopy(card.identityPoint(), 0, data, 2, 65);  // any P-256 point
        data[67] = Constants.TAG_HOST_EPHEMERAL;
        data[68] = 65;
        System.arraycopy(card.identityPoint(), 0, data, 69, 65);
        data[134] = Constants.TAG_PIN_CRYPTOGRAM;
        data[135] = 32;
        assertSw("reference 82", ISO7816.SW_INCORRECT_P1P2, send(card, 0x80, 0xDA, 0, 0x82, data));
        assertSw("under CLA 00", ISO7816.SW_CLA_NOT_SUPPORTED, send(card, 0x00, 0xDA, 0, 0x80, data));
        byte[] wrongTag = data.clone();
        wrongTag[0] = (byte) 0xD5;
        assertSw("wrong tag", ISO7816.SW_WRONG_DATA, send(card, 0x80, 0xDA, 0, 0x80, wrongTag));
        byte[] notUncompressed = data.clone();
        notUncompressed[2] = 0x02;
        assertSw("compressed point", ISO7816.SW_WRONG_DATA, send(card, 0x80, 0xDA, 0, 0x80, notUncompressed));
        assertSw("no challenge", SECURITY, send(card, 0x80, 0xDA, 0, 0x80, data));
        send(card, 0x00, 0x84, 0, 0, new byte[0]);
        assertSw("bad cryptogram", SECURITY, send(card, 0x80, 0xDA, 0, 0x81, data));
        assertSw("PIN tries untouched", (short) 0x63C3, send(card, 0x00, 0x20, 0, 0x80, new byte[0]));
        assertSw("PUK tries untouched", (short) 0x63C5, send(card, 0x00, 0x20, 0, 0x81, new byte[0]));
        assertSw("PAIR still refused (the factory PIN is checked first)", Constants.SW_PIN_CHANGE_REQUIRED, send(card, 0x80, 0x50, 0, 0, new byte[0]));
        card.assertWorksNormally();
    }

    @Test
    public void challengeDoesNotSurviveAResetButPinTriesDo() {
        SimulatedCard card = SimulatedCard.selected();
        send(card, 0x00, 0x84, 0, 0, new byte[0]);
        card.simulator.reset();
        card.selectOk();
        // The challenge was transient: gone with the reset.
        byte[] data = new byte[2 + 65 + 2 + 48];
        data[0] = (byte) 0xC9;
        data[1] = 65;
        System.arraycopy(card.identityPoint(), 0, data, 2, 65);
        data[67] = (byte) 0xCA;
        data[68] = 48;
        assertSw("challenge gone", SECURITY, send(card, 0x80, 0x24, 0, 0x80, data));
        assertSw("PIN tries", (short) 0x63C3, send(card, 0x00, 0x20, 0, 0x80, new byte[0]));
    }
}
