package tpmcard.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.util.Arrays;
import java.util.List;
import java.util.Map;

import javacard.framework.ISOException;
import javacard.security.Signature;
import javacardx.crypto.Cipher;
import org.junit.Before;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.Parameterized;
import tpmcard.lib.AesCmac;

/**
 * SecureChannel (the card half of secure messaging) against binding.json, and its refusals: with
 * the card's AES-CMAC, and compact with the software AES-CMAC over the channel's own AES-CBC
 * engine (what a card with little RAM and without AES-CMAC, a J3H145, runs).
 */
@RunWith(Parameterized.class)
public class SecureChannelVectorTest {
    private static final Map<String, Object> SM = BindingVectors.section("secure_messaging");
    private SecureChannel channel;

    @Parameterized.Parameter
    public String macs;

    @Parameterized.Parameters(name = "{0}")
    public static List<String> macs() {
        return Arrays.asList("native", "compact, software over the shared engine");
    }

    @Before
    public void open() {
        Cipher cbc = Cipher.getInstance(Cipher.ALG_AES_BLOCK_128_CBC_NOPAD, false);
        if (macs.equals("native")) {
            channel = new SecureChannel(cbc, Cipher.getInstance(Cipher.ALG_AES_BLOCK_128_ECB_NOPAD, false),
                    Signature.getInstance(Signature.ALG_AES_CMAC_128, false),
                    Signature.getInstance(Signature.ALG_AES_CMAC_128, false));
        } else {
            Signature mac = new AesCmac(cbc);
            channel = new SecureChannel(cbc, null, mac, mac);
        }
        byte[] keys = KdfVectorTest.concat(BindingVectors.bytes(SM, "s_enc"), BindingVectors.bytes(SM, "s_mac"),
                BindingVectors.bytes(SM, "s_rmac"));
        byte[] chain = BindingVectors.bytes(SM, "initial_chain");
        channel.open(keys, (short) 0, chain, (short) 0);
    }

    /** Unwraps one protected command; returns its plaintext, or null when the card refused it. */
    private byte[] unwrap(Map<String, Object> command) {
        byte[] data = BindingVectors.bytes(command, "data");
        byte[] buf = new byte[data.length + 40];
        System.arraycopy(data, 0, buf, 7, data.length);
        try {
            short n = channel.unwrapCommand((byte) BindingVectors.integer(command, "cla"),
                    (byte) BindingVectors.integer(command, "ins"), (byte) BindingVectors.integer(command, "p1"),
                    (byte) BindingVectors.integer(command, "p2"), buf, (short) 7, (short) data.length);
            return Arrays.copyOfRange(buf, 7, 7 + n);
        } catch (ISOException e) {
            assertEquals(Constants.SW_SECURITY_STATUS_NOT_SATISFIED, e.getReason());
            return null;
        }
    }

    private byte[] wrap(byte[] payload, int sw) {
        byte[] buf = new byte[payload.length + 3 + Constants.SM_OVERHEAD];
        System.arraycopy(payload, 0, buf, 3, payload.length);
        short n = channel.wrapResponse(buf, (short) 3, (short) payload.length, (short) sw);
        return Arrays.copyOfRange(buf, 3, 3 + n);
    }

    @Test
    public void commandsAndResponsesInSequence() {
        for (Object item : BindingVectors.list(SM.get("steps"))) {
            Map<String, Object> step = BindingVectors.object(item);
            Map<String, Object> response = BindingVectors.object(step.get("response"));
            byte[] plain = unwrap(BindingVectors.object(step.get("wrapped_command")));
            assertArrayEquals("step " + step.get("counter"),
                    BindingVectors.bytes(BindingVectors.object(step.get("command")), "data"), plain);
            assertArrayEquals("step " + step.get("counter"), BindingVectors.bytes(step, "wrapped_response"),
                    wrap(BindingVectors.bytes(response, "data"), BindingVectors.integer(response, "sw")));
        }
        assertTrue(channel.isOpen());
    }

    @Test
    public void tamperedReplayedReorderedDroppedAndTruncatedCommandsAreRefused() {
        for (Object item : BindingVectors.list(SM.get("card_negative"))) {
            Map<String, Object> c = BindingVectors.object(item);
            open();
            List<Object> commands = BindingVectors.list(c.get("commands"));
            int failsAt = BindingVectors.integer(c, "fails_at");
            for (int i = 0; i < commands.size(); i++) {
                Map<String, Object> command = BindingVectors.object(commands.get(i));
                boolean protectedCommand = (BindingVectors.integer(command, "cla") & 0x04) != 0;
                byte[] plain = protectedCommand ? unwrap(command) : null;
                if (!protectedCommand) {
                    // what BindingHandler.beginCommand does for an unprotected command in a session
                    channel.close();
                }
                if (i < failsAt) {
                    assertTrue(c.get("name") + " step " + i, plain != null);
                    wrap(new byte[0], 0x9000);
                } else {
                    assertEquals(c.get("name") + " step " + i, null, plain);
                    assertFalse(c.get("name") + ": the session ends", channel.isOpen());
                }
            }
        }
    }

    @Test
    public void closeAfterResponseProtectsTheResponseThenCloses() {
        Map<String, Object> first = BindingVectors.object(BindingVectors.list(SM.get("steps")).get(0));
        unwrap(BindingVectors.object(first.get("wrapped_command")));
        channel.closeAfterResponse();
        Map<String, Object> response = BindingVectors.object(first.get("response"));
        assertArrayEquals(BindingVectors.bytes(first, "wrapped_response"),
                wrap(BindingVectors.bytes(response, "data"), BindingVectors.integer(response, "sw")));
        assertFalse(channel.isOpen());
    }

    @Test
    public void everyBitFlipOfAProtectedCommandIsRefused() {
        Map<String, Object> step = BindingVectors.object(BindingVectors.list(SM.get("steps")).get(3));
        Map<String, Object> command = BindingVectors.object(step.get("wrapped_command"));
        byte[] data = BindingVectors.bytes(command, "data");
        for (int bit = 0; bit < data.length * 8; bit += 7) {
            open();
            for (int k = 0; k < 3; k++) {  // bring the channel to step 3
                Map<String, Object> s = BindingVectors.object(BindingVectors.list(SM.get("steps")).get(k));
                unwrap(BindingVectors.object(s.get("wrapped_command")));
                wrap(new byte[0], 0x9000);
            }
            byte[] flipped = data.clone();
            flipped[bit / 8] ^= (byte) (1 << (bit % 8));
            Map<String, Object> tampered = new java.util.HashMap<>(command);
            tampered.put("data", Hex.encode(flipped));
            if (unwrap(tampered) != null) {
                fail("bit " + bit + " accepted");
            }
            assertFalse(channel.isOpen());
        }
    }

    @Test
    public void noSessionNoService() {
        channel.close();
        Map<String, Object> first = BindingVectors.object(BindingVectors.list(SM.get("steps")).get(0));
        assertEquals(null, unwrap(BindingVectors.object(first.get("wrapped_command"))));
        try {
            wrap(new byte[0], 0x9000);
            fail("wrapped without a session");
        } catch (ISOException e) {
            assertEquals(Constants.SW_SECURITY_STATUS_NOT_SATISFIED, e.getReason());
        }
    }
}
