package tpmcard.alg;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static tpmcard.alg.ProviderCard.concat;
import static tpmcard.alg.ProviderCard.ok;
import static tpmcard.alg.ProviderCard.refused;
import static tpmcard.alg.ProviderCard.verifyRequest;

import java.math.BigInteger;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.Signature;
import java.security.interfaces.ECPublicKey;
import java.security.spec.ECGenParameterSpec;
import java.util.Arrays;
import javacard.framework.ISO7816;
import org.junit.Before;
import org.junit.Test;
import tpmcard.algorithms.ProviderConstants;
import tpmcard.lib.P256;

/**
 * The ECDSA provider's verify-only key type (KEY_EC_P256_PUBLIC): import of a public point, VERIFY
 * with it, SIGN refused, points off P-256 refused at import, and signatures that are not strict
 * DER refused as bad signatures while the card keeps working. All through INVOKE in a session.
 */
public class EcdsaPublicKeyTest {
    private static final P256 CURVE = new P256();
    private static final byte ALG = ProviderConstants.ALG_ECDSA_P256_SHA256;
    private static final byte PUBLIC = ProviderConstants.KEY_EC_P256_PUBLIC;
    private static final byte[] MESSAGE = "a message signed on the host".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

    private ProviderCard card;
    private KeyPair host;
    private byte[] q;
    private byte[] handle;
    private byte[] signature;

    @Before
    public void setUp() throws Exception {
        card = new ProviderCard();
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"));
        host = g.generateKeyPair();
        q = ProviderCard.point((ECPublicKey) host.getPublic());
        byte[] answer = card.importKey(ALG, PUBLIC, q);
        handle = Arrays.copyOf(answer, 4);
        assertArrayEquals("the card answers the point it holds", q, Arrays.copyOfRange(answer, 4, answer.length));
        signature = sign(MESSAGE);
    }

    private byte[] sign(byte[] message) throws Exception {
        Signature s = Signature.getInstance("SHA256withECDSA");
        s.initSign(host.getPrivate());
        s.update(message);
        return s.sign();
    }

    private byte[] verify(byte[] sig, byte[] message) {
        return card.call(ALG, ProviderConstants.INS_VERIFY, 0, verifyRequest(handle, sig, message));
    }

    private void assertStillWorks() {
        ok(verify(signature, MESSAGE));
    }

    @Test
    public void verifiesWithAnImportedPublicKey() throws Exception {
        ok(verify(signature, MESSAGE));
        refused(ProviderConstants.SW_VERIFICATION_FAILED, verify(signature, concat(MESSAGE, new byte[] {0})));
        byte[] other = sign(concat(MESSAGE, new byte[] {0}));
        refused(ProviderConstants.SW_VERIFICATION_FAILED, verify(other, MESSAGE));
    }

    @Test
    public void verifiesStreamed() throws Exception {
        byte[] longMessage = new byte[9000];
        new java.util.Random(7).nextBytes(longMessage);
        byte[] sig = sign(longMessage);
        ok(card.call(ALG, ProviderConstants.INS_STREAM_INIT, ProviderConstants.INS_VERIFY, handle));
        // Parts within the service window (INVOKE data and answer share the APDU buffer).
        for (int at = 0; at < 8100; at += 900) {
            ok(card.call(ALG, ProviderConstants.INS_STREAM_UPDATE, 0, Arrays.copyOfRange(longMessage, at, at + 900)));
        }
        ok(card.call(ALG, ProviderConstants.INS_STREAM_FINAL, 0,
                concat(new byte[] {(byte) sig.length}, sig, Arrays.copyOfRange(longMessage, 8100, 9000))));
    }

    @Test
    public void signingWithAPublicKeyIsTheWrongKeyType() {
        refused(ProviderConstants.SW_KEY_TYPE_MISMATCH, card.call(ALG, ProviderConstants.INS_SIGN, 0, concat(handle, MESSAGE)));
        refused(ProviderConstants.SW_KEY_TYPE_MISMATCH,
                card.call(ALG, ProviderConstants.INS_STREAM_INIT, ProviderConstants.INS_SIGN, handle));
        refused(ProviderConstants.SW_KEY_TYPE_MISMATCH, card.call(ALG, ProviderConstants.INS_KEY_GENERATE, PUBLIC, new byte[0]));
        assertStillWorks();
    }

    @Test
    public void aCardKeyPairSignatureVerifiesUnderItsImportedPublicKey() throws Exception {
        byte[] pair = ok(card.call(ALG, ProviderConstants.INS_KEY_GENERATE, ProviderConstants.KEY_EC_P256, new byte[0]));
        byte[] sig = ok(card.call(ALG, ProviderConstants.INS_SIGN, 0, concat(Arrays.copyOf(pair, 4), MESSAGE)));
        byte[] pub = Arrays.copyOf(card.importKey(ALG, PUBLIC, Arrays.copyOfRange(pair, 4, pair.length)), 4);
        ok(card.call(ALG, ProviderConstants.INS_VERIFY, 0, verifyRequest(pub, sig, MESSAGE)));
    }

    @Test
    public void deletedPublicKeyIsGone() {
        ok(card.call(ALG, ProviderConstants.INS_KEY_DELETE, 0, handle));
        refused(ProviderConstants.SW_KEY_NOT_FOUND, verify(signature, MESSAGE));
    }

    @Test
    public void pointsNotOnP256AreRefusedAndLeaveNoKey() throws Exception {
        byte[] p = CURVE.field;
        byte[] offCurve = q.clone();
        offCurve[64] ^= 1;
        byte[] max = new byte[32];
        Arrays.fill(max, (byte) 0xFF);
        byte[] zero = new byte[65];
        zero[0] = 4;
        byte[] compressedPrefix = q.clone();
        compressedPrefix[0] = 2;
        byte[][] bad = {
            offCurve,
            concat(new byte[] {4}, p, Arrays.copyOfRange(q, 33, 65)),   // x = p
            concat(Arrays.copyOf(q, 33), p),                          // y = p
            concat(Arrays.copyOf(q, 33), max),                        // y = 2^256 - 1
            zero,                                                     // (0, 0): off the curve (b != 0)
            compressedPrefix,
        };
        for (byte[] point : bad) {
            refused(ISO7816.SW_WRONG_DATA, card.importRaw(ALG, PUBLIC, point));
        }
        refused(ISO7816.SW_WRONG_LENGTH, card.importRaw(ALG, PUBLIC, Arrays.copyOf(q, 33)));   // compressed form
        refused(ISO7816.SW_WRONG_LENGTH, card.importRaw(ALG, PUBLIC, concat(q, new byte[] {0})));
        // No slot was taken by a refusal: the three free slots still take keys.
        for (int i = 0; i < ProviderConstants.KEY_SLOTS - 1; i++) {
            card.importKey(ALG, PUBLIC, q);
        }
        refused(ProviderConstants.SW_NO_SPACE, card.importRaw(ALG, PUBLIC, q));
        assertStillWorks();
    }

    /** The signature (r, s) of setUp, re-encoded in ways DER forbids, or with r or s out of range. */
    @Test
    public void signaturesThatAreNotStrictDerAreBadSignatures() {
        int rLength = signature[3];
        byte[] r = minimal(Arrays.copyOfRange(signature, 4, 4 + rLength));
        byte[] s = minimal(Arrays.copyOfRange(signature, 6 + rLength, signature.length));
        byte[] body = concat(integer(r), integer(s));
        byte[] twoFiftyFive = new byte[255];
        Arrays.fill(twoFiftyFive, (byte) 0x30);
        byte[][] malformed = {
            new byte[0],
            {0x30},
            {0x30, 0x00},
            Arrays.copyOf(signature, signature.length - 1),                          // truncated
            concat(signature, new byte[] {0}),                                       // a trailing byte
            concat(new byte[] {0x30, (byte) 0x81, (byte) body.length}, body),        // long-form length
            concat(new byte[] {0x30, (byte) 0x80}, body, new byte[] {0, 0}),         // indefinite length
            concat(new byte[] {0x30, (byte) (body.length + 1)}, body),               // length past the end
            concat(new byte[] {0x31, (byte) body.length}, body),                     // SET, not SEQUENCE
            sequence(integer(concat(new byte[] {0}, r)), integer(s)),                // a 00 not needed
            sequence(integer(new BigInteger(1, r).negate().toByteArray()), integer(s)), // negative r
            sequence(integer(new byte[] {0}), integer(s)),                           // r = 0
            sequence(integer(r), integer(new byte[] {0})),                           // s = 0
            sequence(integer(minimal(CURVE.order)), integer(s)),                      // r = n
            sequence(integer(r), integer(minimal(CURVE.order))),                      // s = n
            sequence(new byte[] {0x03, 0x01, 0x01}, integer(s)),                     // BIT STRING, not INTEGER
            sequence(integer(r), integer(s), new byte[] {0x05, 0x00}),               // a third element
            sequence(integer(r)),                                                    // s missing
            twoFiftyFive,
        };
        for (byte[] sig : malformed) {
            refused(ProviderConstants.SW_VERIFICATION_FAILED, verify(sig, MESSAGE));
            assertStillWorks();
        }
        // The same r and s in their DER encoding are accepted: only the encodings above were wrong.
        ok(verify(sequence(integer(r), integer(s)), MESSAGE));
    }

    private static byte[] sequence(byte[]... elements) {
        byte[] content = concat(elements);
        return concat(new byte[] {0x30, (byte) content.length}, content);
    }

    /** INTEGER with exactly these content octets. */
    private static byte[] integer(byte[] content) {
        return concat(new byte[] {0x02, (byte) content.length}, content);
    }

    /** The DER content octets of the unsigned value v: minimal, with 00 before a high bit. */
    private static byte[] minimal(byte[] v) {
        return new BigInteger(1, v).toByteArray();
    }

    @Test
    public void rfc6979VectorVerifiesWithItsPublicKeyAlone() throws Exception {
        // RFC 6979 A.2.5, P-256, SHA-256, message "sample" (tests/vectors/algorithms.json).
        byte[] pub = ProviderCard.HEX.parseHex("0460fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6"
                + "7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299");
        byte[] sig = ProviderCard.der(
                ProviderCard.HEX.parseHex("efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716"),
                ProviderCard.HEX.parseHex("f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8"));
        byte[] h = Arrays.copyOf(card.importKey(ALG, PUBLIC, pub), 4);
        byte[] sample = "sample".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        ok(card.call(ALG, ProviderConstants.INS_VERIFY, 0, verifyRequest(h, sig, sample)));
        assertEquals(ProviderConstants.SW_VERIFICATION_FAILED,
                (short) ProviderCard.sw(card.call(ALG, ProviderConstants.INS_VERIFY, 0, verifyRequest(h, sig, MESSAGE))));
    }
}
