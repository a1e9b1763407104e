package tpmcard.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;

import java.io.ByteArrayOutputStream;
import java.lang.reflect.Field;
import java.math.BigInteger;
import java.security.AlgorithmParameters;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.interfaces.ECPublicKey;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.ECParameterSpec;
import java.security.spec.ECPoint;
import java.security.spec.ECPrivateKeySpec;
import java.security.spec.ECPublicKeySpec;
import java.util.Arrays;
import java.util.Map;
import javax.crypto.Cipher;
import javax.crypto.KeyAgreement;
import javax.crypto.spec.SecretKeySpec;
import org.junit.Test;

/**
 * Session handshakes one after another on one simulated card, with power cycles between some of
 * them (issue 9 item 6). The card's ephemeral eC comes from a fresh 32-byte scalar in RAM each
 * time; the reused persistent ephemeral key it replaced broke sessions #74, #269, #363... of every
 * simulated card (jCardSim mangles a 31-byte scalar kept in a key object).
 *
 * <p>The host half is written here from docs/binding.md, as tests/vectors/make_binding_vectors.py
 * does: SESSION INIT with a fresh host ephemeral, the keys from Z_ee, Z_es and the pairing secret,
 * the card's hello checked, a quote over th2 signed by the AK (the vectors' keys and PCR values),
 * SESSION AUTH, and the card's final key confirmation checked. The pairing itself (PAIR, with a
 * TPM2_Certify) is stored directly in the card's pairing table: it is not what this test is about.
 */
public class ManyHandshakesTest {
    private static final int HANDSHAKES = 500;
    private static final int SLOT = 1;

    private final ECParameterSpec p256;
    private final KeyFactory ecKeys;
    private final SecureRandom random = new SecureRandom();

    public ManyHandshakesTest() throws GeneralSecurityException {
        AlgorithmParameters parameters = AlgorithmParameters.getInstance("EC");
        parameters.init(new ECGenParameterSpec("secp256r1"));
        p256 = parameters.getParameterSpec(ECParameterSpec.class);
        ecKeys = KeyFactory.getInstance("EC");
    }

    @Test
    public void fiveHundredHandshakesWithPowerCycles() throws Exception {
        Map<String, Object> keys = BindingVectors.section("keys");
        Map<String, Object> tpm = BindingVectors.section("tpm");
        Map<String, Object> session = BindingVectors.section("session");
        byte[] bindingName = BindingVectors.bytes(tpm, "binding_name");
        PrivateKey binding = privateKey(BindingVectors.bytes(keys, "binding_private"));
        PrivateKey ak = privateKey(BindingVectors.bytes(keys, "ak_private"));
        byte[] vectorAttest = BindingVectors.bytes(session, "quote_attest");
        byte[] vectorTh2 = BindingVectors.bytes(session, "th2");
        byte[] values = BindingVectors.bytes(session, "pcr_values");
        byte[] secret = new byte[32];
        random.nextBytes(secret);

        byte[] entropy = new byte[32];
        random.nextBytes(entropy);
        SimulatedCard card = SimulatedCard.installed(entropy);
        card.selectOk();
        byte[] cardPoint = card.identityPoint();
        storePairing(card, bindingName, BindingVectors.bytes(keys, "binding_point"),
                BindingVectors.bytes(keys, "ak_point"), BindingVectors.bytes(tpm, "policy_selection"),
                BindingVectors.bytes(tpm, "policy_pcr_digest"), secret);

        int th2At = indexOf(vectorAttest, vectorTh2);
        int powerCycles = 0;
        for (int i = 0; i < HANDSHAKES; i++) {
            if (i % 37 == 36) {
                card.simulator.reset();   // power off and on: RAM cleared, persistent state kept
                card.selectOk();
                powerCycles++;
            }
            handshake(card, i, cardPoint, bindingName, binding, ak, vectorAttest, th2At, values, secret);
        }
        assertEquals(13, powerCycles);
    }

    /**
     * SESSION AUTH at every length a pairing's policy can give it: PCRs 0..8 and 0 to 13 more
     * (9..15 and 17..22; PAIR refuses 16 and 23), 288 to 704 bytes of PCR values. The shorter ones
     * run in the RAM I/O buffer beside the binding's work area at its end, the longer ones in the
     * persistent buffer (BindingTransients.ramReserve); each opens a session whose key
     * confirmation checks out, and the session's host PCRs and TPM clock are the values the quote
     * proved.
     */
    @Test
    public void handshakesAtEveryPolicySize() throws Exception {
        Map<String, Object> keys = BindingVectors.section("keys");
        Map<String, Object> tpm = BindingVectors.section("tpm");
        Map<String, Object> session = BindingVectors.section("session");
        byte[] bindingName = BindingVectors.bytes(tpm, "binding_name");
        PrivateKey binding = privateKey(BindingVectors.bytes(keys, "binding_private"));
        PrivateKey ak = privateKey(BindingVectors.bytes(keys, "ak_private"));
        byte[] vectorAttest = BindingVectors.bytes(session, "quote_attest");
        int th2At = indexOf(vectorAttest, BindingVectors.bytes(session, "th2"));
        // TPMS_QUOTE_INFO ends the attest: ... 03 | pcrSelect (3) | 00 20 | pcrDigest (32).
        int bitmapAt = vectorAttest.length - 32 - 2 - 3;
        int[] extra = {9, 10, 11, 12, 13, 14, 15, 17, 18, 19, 20, 21, 22};
        int[] authLengths = new int[extra.length + 1];
        for (int k = 0; k <= extra.length; k++) {
            byte[] policy = {0x01, 0, 0};   // PCR 0, and the first k of the others
            for (int j = 0; j < k; j++) {
                policy[extra[j] >> 3] |= (byte) (1 << (extra[j] & 7));
            }
            byte[] quoted = {(byte) 0xFF, (byte) (policy[1] | 0x01), policy[2]};
            ByteArrayOutputStream values = new ByteArrayOutputStream();
            ByteArrayOutputStream policyValues = new ByteArrayOutputStream();
            for (int i = 0; i < 24; i++) {
                if ((quoted[i >> 3] & (1 << (i & 7))) == 0) {
                    continue;
                }
                byte[] value = sha256(new byte[] {'p', 'c', 'r', (byte) i, (byte) k});
                values.writeBytes(value);
                if ((policy[i >> 3] & (1 << (i & 7))) != 0) {
                    policyValues.writeBytes(value);
                }
            }
            byte[] attest = vectorAttest.clone();
            System.arraycopy(quoted, 0, attest, bitmapAt, 3);
            System.arraycopy(sha256(values.toByteArray()), 0, attest, vectorAttest.length - 32, 32);
            byte[] secret = new byte[32];
            random.nextBytes(secret);
            SimulatedCard card = SimulatedCard.installed(new byte[] {(byte) k});
            card.selectOk();
            storePairing(card, bindingName, BindingVectors.bytes(keys, "binding_point"),
                    BindingVectors.bytes(keys, "ak_point"), policy, sha256(policyValues.toByteArray()), secret);
            authLengths[k] = handshake(card, k, card.identityPoint(), bindingName, binding, ak, attest, th2At,
                    values.toByteArray(), secret);
            byte[] hostPcrs = new byte[Constants.SESSION_PCR_COUNT * 32];
            BindingHandler handler = bindingOf(card);
            for (short i = 0; i < Constants.SESSION_PCR_COUNT; i++) {
                handler.copyHostPcr(i, hostPcrs, (short) (i * 32));
            }
            assertArrayEquals("host PCRs 0..8 of the session, policy size " + k,
                    Arrays.copyOf(values.toByteArray(), hostPcrs.length), hostPcrs);
            // The quote's TPMS_CLOCK_INFO follows its extraData (th2): the session keeps it as quoted.
            byte[] clock = new byte[HostPcrs.CLOCK_INFO_LENGTH];
            handler.copyClock(clock, (short) 0);
            assertArrayEquals("TPM clock of the session, policy size " + k,
                    Arrays.copyOfRange(attest, th2At + 32, th2At + 32 + HostPcrs.CLOCK_INFO_LENGTH), clock);
        }
        // Both sides of the RAM I/O buffer's limit for SESSION AUTH were crossed.
        int ramLimit = Constants.RAM_IO_LENGTH - BindingHandler.ramReserve(Constants.CLA_PROPRIETARY,
                Constants.INS_SESSION_AUTH, Constants.RAM_ANSWER_RESERVE);
        assertEquals(true, authLengths[0] <= ramLimit && authLengths[extra.length] > ramLimit);
    }

    /** One handshake; returns the length of the SESSION AUTH command data. */
    private int handshake(SimulatedCard card, int i, byte[] cardPoint, byte[] bindingName, PrivateKey binding,
                           PrivateKey ak, byte[] vectorAttest, int th2At, byte[] values, byte[] secret)
            throws GeneralSecurityException {
        KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
        generator.initialize(p256, random);
        KeyPair hostEphemeral = generator.generateKeyPair();
        byte[] eh = point((ECPublicKey) hostEphemeral.getPublic());

        Response init = card.transmit(Apdu.extendedForm(SimulatedCard.CLA_PROPRIETARY,
                Constants.INS_SESSION_INIT & 0xFF, SLOT, 0, tlv(Constants.TAG_HOST_EPHEMERAL, eh), 65536));
        assertEquals("SESSION INIT #" + i, (short) 0x9000, init.sw);
        assertEquals("SESSION INIT #" + i + " answer", 2 + 65 + 2 + 16, init.data.length);
        byte[] ec = Arrays.copyOfRange(init.data, 2, 67);
        byte[] cardHello = Arrays.copyOfRange(init.data, 69, 85);

        byte[] zee = ecdh(hostEphemeral.getPrivate(), ec);
        byte[] zes = ecdh(binding, ec);
        byte[] th1 = sha256(Constants.LABEL_TRANSCRIPT, new byte[] {(byte) SLOT}, cardPoint, bindingName, eh, ec);
        byte[] material = x963(concat(zee, zes, secret), concat(Constants.LABEL_SESSION, th1), 64);
        byte[] kConf = Arrays.copyOf(material, 16);
        assertArrayEquals("card hello #" + i, cmac(kConf, concat(new byte[] {Constants.KC_CARD_HELLO}, th1)), cardHello);

        byte[] th2 = sha256(th1, cardHello);
        byte[] attest = vectorAttest.clone();
        System.arraycopy(th2, 0, attest, th2At, 32);   // the quote's extraData
        Signature ecdsa = Signature.getInstance("SHA256withECDSA");
        ecdsa.initSign(ak, random);
        ecdsa.update(attest);
        byte[] prefix = concat(tlv(Constants.TAG_ATTEST, attest), tlv(Constants.TAG_SIGNATURE, ecdsa.sign()),
                tlv(Constants.TAG_PCR_VALUES, values));
        byte[] th3 = sha256(th2, prefix);
        byte[] hostKc = cmac(kConf, concat(new byte[] {Constants.KC_HOST}, th3));
        Response auth = card.transmit(Apdu.extendedForm(SimulatedCard.CLA_PROPRIETARY,
                Constants.INS_SESSION_AUTH & 0xFF, 0, 0, concat(prefix, tlv(Constants.TAG_HOST_CRYPTOGRAM, hostKc)),
                65536));
        assertEquals("SESSION AUTH #" + i, (short) 0x9000, auth.sw);
        byte[] cardFinal = cmac(kConf, concat(new byte[] {Constants.KC_CARD_FINAL}, th3));
        assertArrayEquals("card final key confirmation #" + i, tlv(Constants.TAG_CARD_CRYPTOGRAM, cardFinal), auth.data);
        return prefix.length + 2 + 16;
    }

    private static void storePairing(SimulatedCard card, byte[] name, byte[] bindingPoint, byte[] akPoint,
                                     byte[] selection, byte[] pcrDigest, byte[] secret) throws ReflectiveOperationException {
        Field bindingField = CoreApplet.class.getDeclaredField("binding");
        bindingField.setAccessible(true);
        Field pairingsField = BindingHandler.class.getDeclaredField("pairings");
        pairingsField.setAccessible(true);
        Pairings pairings = (Pairings) pairingsField.get(bindingField.get(appletOf(card)));
        pairings.store((short) SLOT, name, (short) 0, bindingPoint, (short) 0, akPoint, (short) 0, selection, (short) 0,
                (byte) 0, pcrDigest, (short) 0, secret, (short) 0);
    }

    private static BindingHandler bindingOf(SimulatedCard card) throws ReflectiveOperationException {
        Field bindingField = CoreApplet.class.getDeclaredField("binding");
        bindingField.setAccessible(true);
        return (BindingHandler) bindingField.get(appletOf(card));
    }

    private static CoreApplet appletOf(SimulatedCard card) throws ReflectiveOperationException {
        Field runtimeField = com.licel.jcardsim.base.Simulator.class.getDeclaredField("runtime");
        runtimeField.setAccessible(true);
        Object runtime = runtimeField.get(card.simulator);
        java.lang.reflect.Method getApplet = com.licel.jcardsim.base.SimulatorRuntime.class
                .getDeclaredMethod("getApplet", javacard.framework.AID.class);
        getApplet.setAccessible(true);
        return (CoreApplet) getApplet.invoke(runtime, card.aid);
    }

    // ---- host-side crypto --------------------------------------------------------------------------

    private PrivateKey privateKey(byte[] scalar) throws GeneralSecurityException {
        return ecKeys.generatePrivate(new ECPrivateKeySpec(new BigInteger(1, scalar), p256));
    }

    private static byte[] point(ECPublicKey key) {
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

    private byte[] ecdh(PrivateKey own, byte[] peerPoint) throws GeneralSecurityException {
        PublicKey peer = ecKeys.generatePublic(new ECPublicKeySpec(new ECPoint(
                new BigInteger(1, Arrays.copyOfRange(peerPoint, 1, 33)),
                new BigInteger(1, Arrays.copyOfRange(peerPoint, 33, 65))), p256));
        KeyAgreement agreement = KeyAgreement.getInstance("ECDH");
        agreement.init(own);
        agreement.doPhase(peer, true);
        return agreement.generateSecret();
    }

    private static byte[] sha256(byte[]... parts) throws GeneralSecurityException {
        MessageDigest digest = MessageDigest.getInstance("SHA-256");
        for (byte[] p : parts) {
            digest.update(p);
        }
        return digest.digest();
    }

    /** ANSI X9.63 KDF with SHA-256 (docs/binding.md). */
    private static byte[] x963(byte[] z, byte[] info, int length) throws GeneralSecurityException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int counter = 1; out.size() < length; counter++) {
            out.writeBytes(sha256(z, new byte[] {0, 0, 0, (byte) counter}, info));
        }
        return Arrays.copyOf(out.toByteArray(), length);
    }

    private static byte[] cmac(byte[] key, byte[] m) throws GeneralSecurityException {
        return ServiceCard.cmac(key, m);  // AES-CMAC (RFC 4493)
    }

    private static byte[] tlv(byte tag, byte[] value) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(tag);
        if (value.length < 0x80) {
            out.write(value.length);
        } else if (value.length <= 0xFF) {
            out.write(0x81);
            out.write(value.length);
        } else {
            out.write(0x82);
            out.write(value.length >> 8);
            out.write(value.length);
        }
        out.writeBytes(value);
        return out.toByteArray();
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    private static int indexOf(byte[] haystack, byte[] needle) {
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            if (Arrays.equals(Arrays.copyOfRange(haystack, i, i + needle.length), needle)) {
                return i;
            }
        }
        throw new AssertionError("the vector's quote does not hold its th2");
    }
}
