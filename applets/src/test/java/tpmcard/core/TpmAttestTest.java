package tpmcard.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.util.Arrays;
import java.util.Map;

import javacard.framework.ISOException;
import javacard.security.ECPublicKey;
import javacard.security.KeyBuilder;
import javacard.security.MessageDigest;
import javacard.security.Signature;
import org.junit.Test;
import tpmcard.lib.P256;

/** On-card TPM structure checks against binding.json, and the structures they must refuse. */
public class TpmAttestTest {
    private static final short SW = (short) 0x6A80;
    private static final Map<String, Object> TPM = BindingVectors.section("tpm");
    private static final Map<String, Object> KEYS = BindingVectors.section("keys");
    private final TpmAttest attest = new TpmAttest(MessageDigest.getInstance(MessageDigest.ALG_SHA_256, false),
            new short[TpmAttest.R_COUNT]);

    private static byte[] tpm(String name) {
        return BindingVectors.bytes(TPM, name);
    }

    private interface Check {
        void run(byte[] buf);
    }

    private static void refused(String what, byte[] buf, Check check) {
        try {
            check.run(buf);
            fail(what + " accepted");
        } catch (ISOException e) {
            assertEquals(what, SW, e.getReason());
        }
    }

    @Test
    public void bindingKeyPublicAreaNameAndPolicy() {
        byte[] raw = tpm("binding_public");
        attest.parsePublic(raw, (short) 0, (short) raw.length, SW);
        attest.checkBindingKey(SW);
        byte[] point = new byte[65];
        attest.writePoint(raw, point, (short) 0);
        assertArrayEquals(BindingVectors.bytes(KEYS, "binding_point"), point);
        assertTrue(attest.authPolicyEquals(raw, tpm("policy_digest"), (short) 0));
        byte[] name = new byte[34];
        attest.computeName(raw, (short) 0, (short) raw.length, name, (short) 0);
        assertArrayEquals(tpm("binding_name"), name);
    }

    @Test
    public void policyPcrDigestWithAndWithoutAuthValue() {
        byte[] scratch = new byte[TpmAttest.POLICY_SCRATCH_LENGTH + 5];
        byte[] out = new byte[32];
        attest.policyDigest(tpm("policy_selection"), (short) 0, tpm("policy_pcr_digest"), (short) 0, (byte) 0,
                out, (short) 0, scratch, (short) 5);
        assertArrayEquals(tpm("policy_digest"), out);
        attest.policyDigest(tpm("policy_selection"), (short) 0, tpm("policy_pcr_digest"), (short) 0,
                Constants.POLICY_OPTION_AUTH_VALUE, out, (short) 0, scratch, (short) 5);
        assertArrayEquals(tpm("policy_digest_with_auth_value"), out);
    }

    @Test
    public void attestationKeyPublicArea() {
        byte[] raw = tpm("ak_public");
        attest.parsePublic(raw, (short) 0, (short) raw.length, SW);
        attest.checkAttestationKey(SW);
        byte[] point = new byte[65];
        attest.writePoint(raw, point, (short) 0);
        assertArrayEquals(BindingVectors.bytes(KEYS, "ak_point"), point);
        refused("an AK as binding key", raw, b -> attest.checkBindingKey(SW));
    }

    /** TPMA_OBJECT bytes sit at offsets 4..7 of a TPMT_PUBLIC. */
    private static byte[] withAttributes(byte[] raw, int set, int clear) {
        byte[] out = raw.clone();
        int attributes = ((out[4] & 0xFF) << 24) | ((out[5] & 0xFF) << 16) | ((out[6] & 0xFF) << 8) | (out[7] & 0xFF);
        attributes = (attributes | set) & ~clear;
        out[4] = (byte) (attributes >>> 24);
        out[5] = (byte) (attributes >>> 16);
        out[6] = (byte) (attributes >>> 8);
        out[7] = (byte) attributes;
        return out;
    }

    @Test
    public void bindingKeysThatAreNotTpmBoundOrPolicyOnlyAreRefused() {
        byte[] raw = tpm("binding_public");
        int[][] cases = {
            {0x40, 0}, {0x10000, 0}, {0x40000, 0},  // userWithAuth, restricted, sign set
            {0, 0x2}, {0, 0x10}, {0, 0x20}, {0, 0x20000},  // fixedTPM, fixedParent, sensitiveDataOrigin, decrypt clear
        };
        for (int[] c : cases) {
            byte[] bad = withAttributes(raw, c[0], c[1]);
            attest.parsePublic(bad, (short) 0, (short) bad.length, SW);
            refused("attributes +" + Integer.toHexString(c[0]) + " -" + Integer.toHexString(c[1]), bad,
                    b -> attest.checkBindingKey(SW));
        }
        byte[] ak = tpm("ak_public");
        byte[] bad = withAttributes(ak, 0, 0x10000);
        attest.parsePublic(bad, (short) 0, (short) bad.length, SW);
        refused("an unrestricted AK", bad, b -> attest.checkAttestationKey(SW));
    }

    @Test
    public void everyTruncationAndAnyTrailingByteIsRefusedWithTheCallersStatusWord() {
        for (String name : new String[] {"binding_public", "ak_public"}) {
            byte[] raw = tpm(name);
            for (int n = 0; n < raw.length; n++) {
                byte[] cut = Arrays.copyOf(raw, n);
                refused(name + " cut to " + n, cut, b -> attest.parsePublic(b, (short) 0, (short) b.length, SW));
            }
            byte[] longer = Arrays.copyOf(raw, raw.length + 1);
            refused(name + " with a trailing byte", longer,
                    b -> attest.parsePublic(b, (short) 0, (short) b.length, SW));
        }
    }

    @Test
    public void certifyOfTheBindingKey() {
        Map<String, Object> pairing = BindingVectors.section("pairing");
        byte[] raw = BindingVectors.bytes(pairing, "certify_attest");
        byte[] challenge = BindingVectors.bytes(pairing, "challenge");
        attest.parseAttest(raw, (short) 0, (short) raw.length, SW);
        assertTrue(attest.extraDataEquals(raw, challenge, (short) 0, (short) 32));
        attest.checkCertify(raw, tpm("binding_name"), (short) 0, SW);
        refused("a certify as a quote", raw, b -> attest.checkQuote(b, new byte[3], (short) 0, SW));
        byte[] otherName = tpm("ak_name");
        refused("another key's name", raw, b -> attest.checkCertify(b, otherName, (short) 0, SW));
        assertTrue(verify(raw, BindingVectors.bytes(pairing, "certify_signature")));
        for (int n = 0; n < raw.length; n++) {
            byte[] cut = Arrays.copyOf(raw, n);
            refused("certify cut to " + n, cut, b -> {
                attest.parseAttest(b, (short) 0, (short) b.length, SW);
                attest.checkCertify(b, tpm("binding_name"), (short) 0, SW);
            });
        }
    }

    @Test
    public void quoteOverTheTranscript() {
        Map<String, Object> session = BindingVectors.section("session");
        byte[] raw = BindingVectors.bytes(session, "quote_attest");
        attest.parseAttest(raw, (short) 0, (short) raw.length, SW);
        assertTrue(attest.extraDataEquals(raw, BindingVectors.bytes(session, "th2"), (short) 0, (short) 32));
        assertFalse(attest.extraDataEquals(raw, BindingVectors.bytes(session, "th1"), (short) 0, (short) 32));
        byte[] selection = BindingVectors.bytes(session, "quote_selection");
        short digest = attest.checkQuote(raw, selection, (short) 0, SW);
        byte[] values = BindingVectors.bytes(session, "pcr_values");
        byte[] hash = new byte[32];
        MessageDigest.getInstance(MessageDigest.ALG_SHA_256, false).doFinal(values, (short) 0, (short) values.length,
                hash, (short) 0);
        assertArrayEquals(hash, Arrays.copyOfRange(raw, digest, digest + 32));
        assertTrue(verify(raw, BindingVectors.bytes(session, "quote_signature")));
        byte[] fewer = selection.clone();
        fewer[0] &= 0x7F;
        refused("a quote of other PCRs", raw, b -> attest.checkQuote(b, fewer, (short) 0, SW));
        refused("a quote as a certify", raw, b -> attest.checkCertify(b, tpm("binding_name"), (short) 0, SW));
        byte[] badMagic = raw.clone();
        badMagic[3] ^= 1;
        refused("wrong magic", badMagic, b -> attest.parseAttest(b, (short) 0, (short) b.length, SW));
        byte[] flipped = raw.clone();
        flipped[raw.length - 1] ^= 1;
        assertFalse("a changed quote must not verify", verify(flipped, BindingVectors.bytes(session, "quote_signature")));
    }

    private static boolean verify(byte[] data, byte[] der) {
        ECPublicKey ak = (ECPublicKey) KeyBuilder.buildKey(KeyBuilder.TYPE_EC_FP_PUBLIC, P256.KEY_LENGTH, false);
        new P256().setDomainParameters(ak);
        byte[] point = BindingVectors.bytes(KEYS, "ak_point");
        ak.setW(point, (short) 0, (short) point.length);
        Signature ecdsa = Signature.getInstance(Signature.ALG_ECDSA_SHA_256, false);
        ecdsa.init(ak, Signature.MODE_VERIFY);
        return ecdsa.verify(data, (short) 0, (short) data.length, der, (short) 0, (short) der.length);
    }
}
