package tpmcard.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;

import java.math.BigInteger;
import java.security.KeyPairGenerator;
import java.security.interfaces.ECPublicKey;
import java.security.spec.ECGenParameterSpec;
import org.junit.Test;

/**
 * The binding borrows the secure channel's command MAC object for its PIN cryptograms
 * (SecureChannel.lendCommandMac; one AES-CMAC object less in RAM). A PIN command sent protected
 * inside a session uses it with the PIN keys: the session must go on, its next protected commands
 * verified with S-MAC as before.
 */
public class SharedCommandMacTest {
    private final ServiceCard card = ServiceCard.installed(new byte[] {0x11, 0x22});

    @Test
    public void aProtectedPinCommandLeavesTheSessionWorking() throws Exception {
        card.openSession(new byte[Constants.SESSION_PCR_COUNT * 32]);
        byte[] data = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
        assertArrayEquals(data, ok(card.sendProtected(Constants.INS_ECHO, 0, 0, data)));

        for (int round = 0; round < 3; round++) {
            assertEquals(Constants.CHALLENGE_LENGTH,
                    ok(card.sendProtected(0x04, Constants.INS_GET_CHALLENGE, 0, 0, new byte[0])).length);
            // A well-formed cryptogram under a fresh host ephemeral whose MAC is wrong: the card
            // derives the PIN keys and computes the CMAC (on the borrowed object), then refuses.
            byte[] cryptogram = ServiceCard.concat(
                    new byte[] {Constants.TAG_HOST_EPHEMERAL, 65}, freshPoint(),
                    new byte[] {Constants.TAG_PIN_CRYPTOGRAM, 32}, new byte[32]);
            Response refused = card.sendProtected(Constants.INS_CHANGE_REFERENCE_DATA, 0, Constants.P2_PIN & 0xFF,
                    cryptogram);
            assertEquals(Constants.SW_SECURITY_STATUS_NOT_SATISFIED, refused.sw);
            // The next protected commands still verify: the MAC object has S-MAC again.
            assertArrayEquals(data, ok(card.sendProtected(Constants.INS_ECHO, 0, 0, data)));
            assertArrayEquals(new byte[0], ok(card.sendProtected(Constants.INS_ECHO, 0, 0, new byte[0])));
        }
    }

    private static byte[] ok(Response r) {
        assertEquals(String.format("status word %04X", r.sw), (short) 0x9000, r.sw);
        return r.data;
    }

    private static byte[] freshPoint() throws Exception {
        KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
        generator.initialize(new ECGenParameterSpec("secp256r1"));
        ECPublicKey key = (ECPublicKey) generator.generateKeyPair().getPublic();
        byte[] out = new byte[65];
        out[0] = 0x04;
        unsigned(key.getW().getAffineX(), out, 1);
        unsigned(key.getW().getAffineY(), out, 33);
        return out;
    }

    private static void unsigned(BigInteger v, byte[] out, int offset) {
        byte[] b = v.toByteArray();
        int n = Math.min(b.length, 32);
        System.arraycopy(b, b.length - n, out, offset + 32 - n, n);
    }
}
