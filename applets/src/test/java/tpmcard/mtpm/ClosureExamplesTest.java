package tpmcard.mtpm;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static tpmcard.mtpm.ClosureClockTest.data;
import static tpmcard.mtpm.ClosureClockTest.invoke;
import static tpmcard.mtpm.ClosureClockTest.runImage;
import static tpmcard.mtpm.ClosureClockTest.seal;
import static tpmcard.mtpm.ClosureClockTest.sw;
import static tpmcard.mtpm.MtpmCard.concat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.junit.Test;
import tpmcard.core.ServiceCard;
import tpmcard.core.SuiteService;
import tpmcard.sim.Json;

/**
 * The example closures of docs/closures.md "Examples" on the card, through the real CoreApplet,
 * INVOKE and the mobile TPM, from tests/vectors/closure_examples.json (written by
 * tests/vectors/make_closure_examples.py from the shipped sources): HOTP against RFC 4226
 * Appendix D with its counter in the closure's store, TOTP against RFC 6238 Appendix B (SHA-1
 * and SHA-256), the PCR-gated secret against a host and card PCR view, and the rate-limited
 * signer against session clocks set here (ahead, the same, behind, far ahead).
 */
public class ClosureExamplesTest {
    private static final HexFormat HEX = HexFormat.of();

    @SuppressWarnings("unchecked")
    private static Map<String, Object> example(String name) {
        Path file = Path.of(System.getProperty("tpmcard.vectors"), "closure_examples.json");
        try {
            Map<String, Object> root = (Map<String, Object>) Json.parse(Files.readString(file, StandardCharsets.UTF_8));
            return (Map<String, Object>) root.get(name);
        } catch (IOException e) {
            throw new AssertionError("cannot read " + file, e);
        }
    }

    private static byte[] hex(Map<String, Object> map, String key) {
        return HEX.parseHex((String) map.get(key));
    }

    private static ServiceCard card(byte seed) {
        ServiceCard card = ServiceCard.installed(new byte[] {seed, 0x5E});
        card.openSession(new byte[SuiteService.HOST_PCR_BLOCK_LENGTH]);
        return card;
    }

    /** LOAD on an unowned mobile TPM: an empty owner auth, then the sealed image. */
    static void load(ServiceCard card, byte[] sealed) {
        byte[] in = new byte[1 + sealed.length];
        System.arraycopy(sealed, 0, in, 1, sealed.length);
        data(invoke(card, ClosureConstants.INS_CLOSURE_LOAD, 0, in));
    }

    /** RUN by name (P1 00): name 8 || args. */
    static byte[] runByName(ServiceCard card, String name, byte[] args) {
        byte[] in = Arrays.copyOf(name.getBytes(StandardCharsets.US_ASCII), ClosureConstants.NAME_LENGTH + args.length);
        System.arraycopy(args, 0, in, ClosureConstants.NAME_LENGTH, args.length);
        return invoke(card, ClosureConstants.INS_CLOSURE_RUN, ClosureConstants.P1_RUN_BY_NAME, in);
    }

    @Test
    @SuppressWarnings("unchecked")
    public void hotpGivesRfc4226AppendixDAndCountsInItsStore() {
        Map<String, Object> hotp = example("hotp");
        ServiceCard card = card((byte) 1);
        load(card, seal(card, hex(hotp, "image")));
        for (Object code : (List<Object>) hotp.get("codes")) {
            assertEquals(code, new String(data(runByName(card, "hotp", new byte[0])), StandardCharsets.US_ASCII));
        }
        // The counter is in the store: 10 now, big-endian, 8 bytes in use.
        byte[] store = data(invoke(card, ClosureConstants.INS_CLOSURE_STORE, 0,
                Arrays.copyOf("hotp".getBytes(StandardCharsets.US_ASCII), 8)));
        assertArrayEquals(HEX.parseHex("00080008"), store);
        // Run from the image, the same closure has no store: SLOAD stops it (6606), nothing released.
        assertEquals(ClosureConstants.SW_CLOSURE_STORE & 0xFFFF,
                sw(runImage(card, seal(card, hex(hotp, "image")), new byte[0])));
    }

    @Test
    @SuppressWarnings("unchecked")
    public void totpGivesRfc6238AppendixBWithSha1AndSha256() {
        ServiceCard card = card((byte) 2);
        for (String name : new String[] {"totp", "totp256"}) {
            Map<String, Object> totp = example(name);
            byte[] sealed = seal(card, hex(totp, "image"));
            for (Object o : (List<Object>) totp.get("vectors")) {
                Map<String, Object> v = (Map<String, Object>) o;
                byte[] time = new byte[8];
                long t = Long.parseLong((String) v.get("time"));  // a string: the parser reads big numbers as doubles
                for (int i = 0; i < 8; i++) {
                    time[i] = (byte) (t >>> (56 - 8 * i));
                }
                assertEquals(name + " at " + t, v.get("code"),
                        new String(data(runImage(card, sealed, time)), StandardCharsets.US_ASCII));
            }
            // Not 8 bytes of time: FAIL 1.
            assertEquals(0x6401, sw(runImage(card, sealed, new byte[7])));
        }
    }

    @Test
    public void pcrGateReleasesItsSecretOnlyForThePcrViewItWasBuiltFor() {
        Map<String, Object> gate = example("pcrgate");
        @SuppressWarnings("unchecked")
        List<Object> hostPcrs = (List<Object>) gate.get("host_pcrs");
        byte[] pcrs = new byte[SuiteService.HOST_PCR_BLOCK_LENGTH];
        for (int i = 0; i < 9; i++) {
            System.arraycopy(HEX.parseHex((String) hostPcrs.get(i)), 0, pcrs, 32 * i, 32);
        }
        ServiceCard card = ServiceCard.installed(new byte[] {3});
        card.openSession(pcrs);
        byte[] sealed = seal(card, hex(gate, "image"));
        assertArrayEquals(hex(gate, "secret"), data(runImage(card, sealed, new byte[0])));
        // Another host PCR 7 in the session: refused, nothing released.
        byte[] other = pcrs.clone();
        other[7 * 32] ^= 1;
        card.openSession(other);
        assertEquals(0x6401, sw(runImage(card, sealed, new byte[0])));
        // The host PCRs again, but card PCR 9 extended: refused.
        card.openSession(pcrs);
        data(invoke(card, Constants.INS_PCR_EXTEND, 9, new byte[32]));
        assertEquals(0x6401, sw(runImage(card, sealed, new byte[0])));
        // A card reset brings PCR 9 back to zero, and the secret with it.
        card.powerCycle();
        card.openSession(pcrs);
        assertArrayEquals(hex(gate, "secret"), data(runImage(card, sealed, new byte[0])));
    }

    private static byte[] clock(long milliseconds) {
        byte[] info = new byte[17];
        for (int i = 0; i < 8; i++) {
            info[i] = (byte) (milliseconds >>> (56 - 8 * i));
        }
        info[16] = 1;  // safe
        return info;
    }

    /**
     * The rate-limited signer with its count-limited key (an auth value only the closure knows,
     * so an owned mobile TPM): LIMIT signatures per epoch of the session's TPM clock, verified with
     * the JDK; the next refused (6401) without a charge; a session whose clock lies behind the
     * stored epoch counts against it; a later epoch gives LIMIT more; the host cannot use the key
     * around the closure without the auth value.
     */
    @Test
    public void rateSignerSignsLimitPerEpochOfTheSessionsTpmClock() throws Exception {
        Map<String, Object> rate = example("ratesign");
        int limit = ((Number) rate.get("limit")).intValue();
        long period = ((Number) rate.get("period_seconds")).longValue() * 1000;
        byte[] owner = "owner".getBytes(StandardCharsets.US_ASCII);
        byte[] ownerAuth = concat(new byte[] {(byte) owner.length}, owner);
        byte[] keyAuth = hex(rate, "key_auth");
        ServiceCard card = ServiceCard.installed(new byte[] {4});
        byte[] pcrs = new byte[SuiteService.HOST_PCR_BLOCK_LENGTH];
        card.openSession(pcrs, clock(10 * period + 1234));
        data(invoke(card, Constants.INS_TAKE_OWNERSHIP, 0, owner));
        byte[] created = data(invoke(card, Constants.INS_KEY_CREATE, Constants.KEY_KIND_ECDSA_P256,
                concat(ownerAuth, new byte[] {0, 0, 0, 100}, new byte[] {(byte) keyAuth.length}, keyAuth)));
        assertArrayEquals("the first key of a fresh card", hex(rate, "handle"), Arrays.copyOf(created, 4));
        java.security.PublicKey key = CountedKeysTest.publicKey(created);
        data(invoke(card, ClosureConstants.INS_CLOSURE_LOAD, 0, concat(ownerAuth, seal(card, hex(rate, "image")))));

        byte[] message = Crypto.sha256("pay 10 to bob".getBytes(StandardCharsets.US_ASCII));
        int signed = 0;
        for (int epoch = 0; epoch < 2; epoch++) {
            for (int i = 1; i <= limit; i++) {
                byte[] out = data(runByName(card, "ratesign", message));
                assertEquals("count in the epoch", i, ((out[0] & 0xFF) << 8) | (out[1] & 0xFF));
                assertEquals(true, Crypto.verify(key, message, Arrays.copyOfRange(out, 2, out.length)));
                signed++;
            }
            assertEquals("LIMIT + 1st in the epoch", 0x6401, sw(runByName(card, "ratesign", message)));
            // A clock behind the stored epoch (a power loss, a cleared TPM, another host): no budget.
            card.openSession(pcrs, clock((9 + epoch) * period));
            assertEquals("behind the stored epoch", 0x6401, sw(runByName(card, "ratesign", message)));
            card.openSession(pcrs, clock((11 + epoch) * period + 7));  // the next epoch
        }
        // The refusals cost the key nothing: 100 - 2 * LIMIT uses left.
        byte[] left = data(invoke(card, Constants.INS_KEY_REMAINING, 0, Arrays.copyOf(created, 4)));
        assertEquals(100 - signed, ((left[3] & 0xFF) << 8) | (left[4] & 0xFF));
        // Around the closure, without the auth value, the host cannot use the key.
        assertEquals(Constants.SW_AUTH_FAILED & 0xFFFF, sw(invoke(card, Constants.INS_KEY_USE,
                Constants.KEY_OP_SIGN, concat(Arrays.copyOf(created, 4), new byte[] {0}, message))));
        // More than 32 bytes of message: FAIL 2.
        assertEquals(0x6402, sw(runByName(card, "ratesign", new byte[33])));
    }
}
