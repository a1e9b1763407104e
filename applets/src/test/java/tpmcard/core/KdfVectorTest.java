package tpmcard.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;

import java.util.Arrays;
import java.util.Map;

import javacard.security.MessageDigest;
import org.junit.Test;

/** Kdf (ANSI X9.63, SHA-256) against binding.json, byte for byte with the host and openssl. */
public class KdfVectorTest {
    private final Kdf kdf = new Kdf(MessageDigest.getInstance(MessageDigest.ALG_SHA_256, false),
            new byte[Kdf.SCRATCH_LENGTH + 3], (short) 3);

    private byte[] derive(byte[] z, byte[] info, int length) {
        byte[] out = new byte[length + 4];
        Arrays.fill(out, (byte) 0xEE);
        kdf.derive(z, (short) 0, (short) z.length, info, (short) 0, (short) info.length, out, (short) 2,
                (short) length);
        assertEquals("no write before the output", (byte) 0xEE, out[0]);
        assertEquals("no write after the output", (byte) 0xEE, out[length + 2]);
        return Arrays.copyOfRange(out, 2, 2 + length);
    }

    @Test
    public void x963KnownAnswers() {
        for (Object item : BindingVectors.list(BindingVectors.load().get("x963_kdf"))) {
            Map<String, Object> c = BindingVectors.object(item);
            assertArrayEquals(BindingVectors.bytes(c, "output"),
                    derive(BindingVectors.bytes(c, "z"), BindingVectors.bytes(c, "shared_info"),
                            BindingVectors.integer(c, "length")));
        }
    }

    @Test
    public void pinKeys() {
        for (String name : new String[] {"pairing", "change_pin", "unblock_pin"}) {
            Map<String, Object> c = BindingVectors.section(name);
            byte[] keys = derive(BindingVectors.bytes(c, "z_pin"), BindingVectors.bytes(c, "pin_shared_info"), 48);
            assertArrayEquals(BindingVectors.bytes(c, "k_enc"), Arrays.copyOfRange(keys, 0, 16));
            assertArrayEquals(BindingVectors.bytes(c, "k_mac"), Arrays.copyOfRange(keys, 16, 32));
            assertArrayEquals(BindingVectors.bytes(c, "k_receipt"), Arrays.copyOfRange(keys, 32, 48));
        }
    }

    @Test
    public void pairingSecret() {
        Map<String, Object> p = BindingVectors.section("pairing");
        assertArrayEquals(BindingVectors.bytes(p, "pairing_secret"),
                derive(BindingVectors.bytes(p, "z_static"), BindingVectors.bytes(p, "pairing_shared_info"), 32));
    }

    @Test
    public void sessionKeys() {
        Map<String, Object> s = BindingVectors.section("session");
        byte[] z = concat(BindingVectors.bytes(s, "z_ephemeral"), BindingVectors.bytes(s, "z_ephemeral_static"),
                BindingVectors.bytes(BindingVectors.section("pairing"), "pairing_secret"));
        assertArrayEquals(BindingVectors.bytes(s, "key_material"),
                derive(z, BindingVectors.bytes(s, "session_shared_info"), 64));
    }

    @Test
    public void labelsMatchTheSharedInfoOfTheVectors() {
        byte[] info = BindingVectors.bytes(BindingVectors.section("session"), "session_shared_info");
        assertArrayEquals(Constants.LABEL_SESSION, Arrays.copyOf(info, Constants.LABEL_SESSION.length));
        info = BindingVectors.bytes(BindingVectors.section("pairing"), "pin_shared_info");
        assertArrayEquals(Constants.LABEL_PIN, Arrays.copyOf(info, Constants.LABEL_PIN.length));
        info = BindingVectors.bytes(BindingVectors.section("pairing"), "pairing_shared_info");
        assertArrayEquals(Constants.LABEL_PAIRING, Arrays.copyOf(info, Constants.LABEL_PAIRING.length));
    }

    static byte[] concat(byte[]... parts) {
        int n = 0;
        for (byte[] p : parts) {
            n += p.length;
        }
        byte[] out = new byte[n];
        int o = 0;
        for (byte[] p : parts) {
            System.arraycopy(p, 0, out, o, p.length);
            o += p.length;
        }
        return out;
    }
}
