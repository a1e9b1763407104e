package tpmcard.mtpm;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static tpmcard.mtpm.ClosureClockTest.data;
import static tpmcard.mtpm.ClosureClockTest.invoke;
import static tpmcard.mtpm.ClosureClockTest.runImage;
import static tpmcard.mtpm.ClosureClockTest.seal;
import static tpmcard.mtpm.ClosureClockTest.sw;

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
}
