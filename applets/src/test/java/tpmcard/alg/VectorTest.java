package tpmcard.alg;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.Before;
import org.junit.Test;
import tpmcard.algorithms.ProviderConstants;

/**
 * The providers on the card against tests/vectors/algorithms.json (RFC 8439, McGrew-Viega GCM,
 * FIPS 202, RFC 4231, RFC 6979), reached through the real route: INVOKE of the registry inside a
 * secure session of the core applet (tpmcard.core.ServiceCard). Keys go in wrapped, as the host
 * wraps them.
 */
public class VectorTest {
    private static final HexFormat HEX = ProviderCard.HEX;
    private ProviderCard card;

    @Before
    public void setUp() {
        card = newCard();
    }

    /** The card the vectors run on (SoftwareVectorTest: providers forced onto software). */
    ProviderCard newCard() {
        return new ProviderCard();
    }

    private byte[] call(byte alg, byte ins, int p1, byte[] data) {
        return card.call(alg, ins, p1, data);
    }

    private static byte[] ok(byte[] r) {
        return ProviderCard.ok(r);
    }

    private static int sw(byte[] r) {
        return ProviderCard.sw(r);
    }

    /** KEY IMPORT of a wrapped key; returns its handle. */
    private byte[] importKey(byte alg, byte keyType, byte[] key) throws Exception {
        return Arrays.copyOf(card.importKey(alg, keyType, key), 4);
    }

    private static byte[] aead(byte[] handle, byte[] nonce, byte[] aad, byte[] text) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.writeBytes(handle);
        b.write(nonce.length);
        b.writeBytes(nonce);
        b.write(aad.length >> 8);
        b.write(aad.length);
        b.writeBytes(aad);
        b.writeBytes(text);
        return b.toByteArray();
    }

    private static byte[] concat(byte[] a, byte[] b) {
        return ProviderCard.concat(a, b);
    }

    private void checkAead(String section, byte alg, byte keyType) throws Exception {
        List<Map<String, String>> vectors = vectors(section);
        for (Map<String, String> t : vectors) {
            byte[] handle = importKey(alg, keyType, b(t, "key"));
            byte[] expected = concat(b(t, "ciphertext"), b(t, "tag"));
            assertArrayEquals(t.get("source"), expected,
                    ok(call(alg, ProviderConstants.INS_ENCRYPT, 0, aead(handle, b(t, "nonce"), b(t, "aad"), b(t, "plaintext")))));
            assertArrayEquals(b(t, "plaintext"),
                    ok(call(alg, ProviderConstants.INS_DECRYPT, 0, aead(handle, b(t, "nonce"), b(t, "aad"), expected))));
            expected[expected.length - 1] ^= 1;
            byte[] bad = call(alg, ProviderConstants.INS_DECRYPT, 0, aead(handle, b(t, "nonce"), b(t, "aad"), expected));
            assertEquals("bad tag refused without plaintext", 2, bad.length);
            assertEquals(ProviderConstants.SW_VERIFICATION_FAILED, (short) sw(bad));
        }
        assertEquals(false, vectors.isEmpty());
    }

    @Test
    public void aesGcmVectors() throws Exception {
        checkAead("aes_gcm", ProviderConstants.ALG_AES_GCM, ProviderConstants.KEY_AES_128);
    }

    @Test
    public void chacha20Poly1305Rfc8439() throws Exception {
        checkAead("chacha20_poly1305", ProviderConstants.ALG_CHACHA20_POLY1305, ProviderConstants.KEY_CHACHA20);
    }

    @Test
    public void sha3Vectors() {
        for (Map<String, String> t : vectors("sha3_256")) {
            assertArrayEquals(b(t, "digest"), ok(call(ProviderConstants.ALG_SHA3_256, ProviderConstants.INS_DIGEST, 0, b(t, "message"))));
        }
    }

    @Test
    public void hmacRfc4231() throws Exception {
        for (Map<String, String> t : vectors("hmac")) {
            byte type = "sha256".equals(t.get("hash")) ? ProviderConstants.KEY_HMAC_SHA256 : ProviderConstants.KEY_HMAC_SHA512;
            byte[] handle = importKey(ProviderConstants.ALG_HMAC_SHA2, type, b(t, "key"));
            assertArrayEquals(t.get("source"), b(t, "mac"),
                    ok(call(ProviderConstants.ALG_HMAC_SHA2, ProviderConstants.INS_MAC, 0, concat(handle, b(t, "message")))));
        }
    }

    @Test
    public void ecdsaRfc6979PublicKeyAndSignature() throws Exception {
        Map<String, String> t = vectors("ecdsa_p256_sha256").get(0);
        byte[] w = concat(new byte[] {4}, concat(b(t, "public_x"), b(t, "public_y")));
        byte[] handle = importKey(ProviderConstants.ALG_ECDSA_P256_SHA256, ProviderConstants.KEY_EC_P256, concat(b(t, "private"), w));
        byte[] der = der(b(t, "r"), b(t, "s"));
        byte[] request = concat(handle, concat(new byte[] {(byte) der.length}, concat(der, b(t, "message"))));
        ok(call(ProviderConstants.ALG_ECDSA_P256_SHA256, ProviderConstants.INS_VERIFY, 0, request));
        request[request.length - 1] ^= 1;
        assertEquals(ProviderConstants.SW_VERIFICATION_FAILED,
                (short) sw(call(ProviderConstants.ALG_ECDSA_P256_SHA256, ProviderConstants.INS_VERIFY, 0, request)));
    }

    private static byte[] der(byte[] r, byte[] s) {
        return ProviderCard.der(r, s);
    }

    // ---- tests/vectors/algorithms.json: a flat file (sections of objects of string values) ----

    private static byte[] b(Map<String, String> t, String key) {
        return HEX.parseHex(t.get(key));
    }

    private static List<Map<String, String>> vectors(String section) {
        String text;
        try (InputStream in = VectorTest.class.getResourceAsStream("/algorithms.json")) {
            text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (Exception e) {
            throw new AssertionError("tests/vectors/algorithms.json is not on the test class path", e);
        }
        Matcher m = Pattern.compile("\"" + section + "\"\\s*:\\s*\\[(.*?)\\]", Pattern.DOTALL).matcher(text);
        if (!m.find()) {
            throw new AssertionError("no section " + section);
        }
        List<Map<String, String>> out = new ArrayList<>();
        Matcher o = Pattern.compile("\\{(.*?)\\}", Pattern.DOTALL).matcher(m.group(1));
        while (o.find()) {
            Map<String, String> entry = new LinkedHashMap<>();
            Matcher kv = Pattern.compile("\"([a-z_]+)\"\\s*:\\s*\"([^\"]*)\"").matcher(o.group(1));
            while (kv.find()) {
                entry.put(kv.group(1), kv.group(2));
            }
            out.add(entry);
        }
        return out;
    }
}
