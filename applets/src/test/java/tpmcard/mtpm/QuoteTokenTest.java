package tpmcard.mtpm;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static tpmcard.mtpm.MtpmCard.selection;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.junit.Test;
import tpmcard.sim.Json;

/**
 * QUOTE TOKEN (docs/quote-formats.md): the card's JWT and EAT encoders against the known answers
 * of tests/vectors/quote_tokens.json (which tests/unit/test_quote_formats.py checks the host's
 * builders against too), and the command: AK signature over exactly the bytes the card's own
 * view gives, the nonce bounds, the format byte.
 */
public class QuoteTokenTest {
    private static final HexFormat HEX = HexFormat.of();

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> vectors() throws Exception {
        Path file = Path.of(System.getProperty("tpmcard.vectors"), "quote_tokens.json");
        Map<String, Object> root = (Map<String, Object>) Json.parse(Files.readString(file, StandardCharsets.UTF_8));
        List<Map<String, Object>> vectors = (List<Map<String, Object>>) (Object) root.get("vectors");
        assertEquals(5, vectors.size());
        return vectors;
    }

    private static byte[] hex(Map<String, Object> v, String field) {
        return HEX.parseHex((String) v.get(field));
    }

    /** Runs an encoder on a buffer with stray bytes around, as the APDU buffer has. */
    private static byte[] encode(boolean jwt, Map<String, Object> v) {
        byte[] ueid = hex(v, "ueid");
        byte[] sel = hex(v, "selection");
        byte[] nonce = hex(v, "nonce");
        byte[] digest = hex(v, "pcr_digest");
        byte[] out = new byte[700];
        Arrays.fill(out, (byte) 0xA5);
        short start = 5;
        short end = jwt
                ? QuoteToken.jwtSigningInput(ueid, (short) 0, sel, (short) 0, nonce, (short) 0, (short) nonce.length,
                        digest, (short) 0, out, start)
                : QuoteToken.eatSigStructure(ueid, (short) 0, sel, (short) 0, nonce, (short) 0, (short) nonce.length,
                        digest, (short) 0, out, start);
        assertEquals((byte) 0xA5, out[end]);  // nothing written past the end
        return Arrays.copyOfRange(out, start, end);
    }

    @Test
    public void encodersGiveTheKnownAnswers() throws Exception {
        for (Map<String, Object> v : vectors()) {
            String name = (String) v.get("name");
            assertEquals(name, v.get("jwt_signing_input"), new String(encode(true, v), StandardCharsets.US_ASCII));
            assertArrayEquals(name, hex(v, "eat_sig_structure"), encode(false, v));
        }
    }

    @Test
    public void base64urlInPlaceOfEveryLength() {
        for (int n = 0; n <= 300; n++) {
            byte[] data = new byte[n];
            for (int i = 0; i < n; i++) {
                data[i] = (byte) (i * 37 + n);
            }
            byte[] buffer = new byte[3 + (n * 4 + 2) / 3 + 3];
            System.arraycopy(data, 0, buffer, 3, n);
            short end = QuoteToken.base64urlInPlace(buffer, (short) 3, (short) n);
            String expected = java.util.Base64.getUrlEncoder().withoutPadding().encodeToString(data);
            assertEquals("length " + n, expected,
                    new String(Arrays.copyOfRange(buffer, 3, end), StandardCharsets.US_ASCII));
        }
    }

    private static byte[] ueidOf(byte[] ekPublic) {
        byte[] ueid = Crypto.name(ekPublic);
        ueid[1] = 0x01;
        return Arrays.copyOfRange(ueid, 1, 34);
    }

    @Test
    public void cardSignsItsOwnViewWithTheAk() {
        MtpmCard card = MtpmCard.installed();
        Arrays.fill(card.hostPcrs, 0, 32, (byte) 0x11);
        Arrays.fill(card.hostPcrs, 8 * 32, 9 * 32, (byte) 0x88);
        card.ok(Constants.INS_PCR_EXTEND, 9, 0, new byte[32]);
        byte[] ak = card.ok(Constants.INS_GET_PUBLIC, Constants.KEY_AK, 0, new byte[0]);
        byte[] ek = card.ok(Constants.INS_GET_PUBLIC, Constants.KEY_EK, 0, new byte[0]);
        byte[] sel = selection(0, 1, 8, 9, 10);
        byte[] values = card.ok(Constants.INS_PCR_READ, 0, 0, sel);
        byte[] nonce = HEX.parseHex("00112233445566778899aabbccddeeff");
        Map<String, Object> v = Map.of("ueid", HEX.formatHex(ueidOf(ek)), "selection", HEX.formatHex(sel),
                "nonce", HEX.formatHex(nonce), "pcr_digest", HEX.formatHex(Crypto.sha256(values)));
        for (int format : new int[] {Constants.FORMAT_JWT, Constants.FORMAT_EAT}) {
            byte[][] q = Crypto.splitAttestation(card.ok(Constants.INS_QUOTE_TOKEN, format, 0, MtpmCard.concat(sel, nonce)));
            assertArrayEquals(encode(format == Constants.FORMAT_JWT, v), q[0]);
            assertTrue("AK signature", Crypto.verify(Crypto.publicKey(ak), q[0], q[1]));
            assertFalse("not the EK", Crypto.verify(Crypto.publicKey(ek), q[0], q[1]));
        }
        // A host PCR that changes changes what is signed.
        Arrays.fill(card.hostPcrs, 8 * 32, 9 * 32, (byte) 0x89);
        byte[][] q = Crypto.splitAttestation(card.ok(Constants.INS_QUOTE_TOKEN, Constants.FORMAT_EAT, 0,
                MtpmCard.concat(sel, nonce)));
        assertFalse(Arrays.equals(encode(false, v), q[0]));
    }

    @Test
    public void refusesBadNoncesSelectionsAndFormats() {
        MtpmCard card = MtpmCard.installed();
        byte[] sel = selection(9);
        card.assertSw(Constants.SW_WRONG_LENGTH, Constants.INS_QUOTE_TOKEN, Constants.FORMAT_JWT, 0,
                MtpmCard.concat(sel, new byte[7]));
        card.assertSw(Constants.SW_WRONG_LENGTH, Constants.INS_QUOTE_TOKEN, Constants.FORMAT_EAT, 0,
                MtpmCard.concat(sel, new byte[65]));
        card.assertSw(Constants.SW_WRONG_DATA, Constants.INS_QUOTE_TOKEN, Constants.FORMAT_EAT, 0, new byte[11]);
        card.assertSw(Constants.SW_INCORRECT_P1P2, Constants.INS_QUOTE_TOKEN, 0, 0, MtpmCard.concat(sel, new byte[8]));
        card.assertSw(Constants.SW_INCORRECT_P1P2, Constants.INS_QUOTE_TOKEN, 3, 0, MtpmCard.concat(sel, new byte[8]));
        card.ok(Constants.INS_QUOTE_TOKEN, Constants.FORMAT_JWT, 0, MtpmCard.concat(selection(0, 23), new byte[64]));
    }
}
