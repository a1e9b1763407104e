package tpmcard.alg;

import static org.junit.Assert.assertEquals;

import java.io.ByteArrayOutputStream;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.AlgorithmParameters;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.MessageDigest;
import java.security.PublicKey;
import java.security.interfaces.ECPublicKey;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.ECParameterSpec;
import java.security.spec.ECPoint;
import java.security.spec.ECPublicKeySpec;
import java.util.Arrays;
import java.util.HexFormat;
import javax.crypto.Cipher;
import javax.crypto.KeyAgreement;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import tpmcard.algorithms.ProviderConstants;
import tpmcard.core.ServiceCard;

/**
 * The providers of a simulated card as the host reaches them: CALL through the registry, by
 * INVOKE inside a secure session of the core applet (tpmcard.core.ServiceCard), and keys imported
 * wrapped the way the host wraps them (docs/algorithms.md §4), here in JCA.
 */
final class ProviderCard {
    static final HexFormat HEX = HexFormat.of();
    final ServiceCard card;

    ProviderCard() {
        this(false);
    }

    /** @param software providers installed with the option that forces their software implementations */
    ProviderCard(boolean software) {
        card = ServiceCard.installed(new byte[] {0x56, 0x54}, software);
        card.openSession(new byte[9 * 32]);
    }

    /** CALL through the registry; returns data || SW. */
    byte[] call(byte alg, byte ins, int p1, byte[] data) {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        body.write(p1);
        body.write(0);
        body.writeBytes(data);
        return card.invokeRaw("F074706D63030001", ProviderConstants.INS_CALL, alg, ins,
                body.toByteArray());
    }

    static byte[] ok(byte[] r) {
        assertEquals("SW", "9000", HEX.formatHex(Arrays.copyOfRange(r, r.length - 2, r.length)));
        return Arrays.copyOf(r, r.length - 2);
    }

    static int sw(byte[] r) {
        return ((r[r.length - 2] & 0xFF) << 8) | (r[r.length - 1] & 0xFF);
    }

    /** Asserts the answer is the status word alone: no data came back with the refusal. */
    static void refused(int expectedSw, byte[] r) {
        assertEquals("SW", String.format("%04X", expectedSw), String.format("%04X", sw(r)));
        assertEquals("a refusal carries no data", 2, r.length);
    }

    /** The host's wrap of a key for KEY IMPORT: {@code E | nonce | AES-128-GCM(KEK, aad, key) | tag}. */
    byte[] wrap(byte alg, byte keyType, byte[] key) throws Exception {
        PublicKey cardKey = publicKey(ok(call(alg, ProviderConstants.INS_GET_WRAP_KEY, 0, new byte[0])));
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"));
        KeyPair e = g.generateKeyPair();
        KeyAgreement ka = KeyAgreement.getInstance("ECDH");
        ka.init(e.getPrivate());
        ka.doPhase(cardKey, true);
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        sha.update(ka.generateSecret());
        sha.update("tpmcard alg wrap".getBytes(StandardCharsets.US_ASCII));
        byte[] kek = Arrays.copyOf(sha.digest(), 16);
        byte[] ep = point((ECPublicKey) e.getPublic());
        byte[] nonce = new byte[12];
        Cipher gcm = Cipher.getInstance("AES/GCM/NoPadding");
        gcm.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(kek, "AES"), new GCMParameterSpec(128, nonce));
        gcm.updateAAD(new byte[] {alg, keyType});
        gcm.updateAAD(ep);
        byte[] ct = gcm.doFinal(key);
        return concat(ep, nonce, ct);
    }

    /** KEY IMPORT of a wrapped key; returns the card's answer, data || SW. */
    byte[] importRaw(byte alg, byte keyType, byte[] key) throws Exception {
        return call(alg, ProviderConstants.INS_KEY_IMPORT, keyType, wrap(alg, keyType, key));
    }

    /** KEY IMPORT that must succeed; returns handle (4) || public point (EC). */
    byte[] importKey(byte alg, byte keyType, byte[] key) throws Exception {
        return ok(importRaw(alg, keyType, key));
    }

    /** A P-256 public key from 04 || X || Y. */
    static PublicKey publicKey(byte[] w) throws Exception {
        AlgorithmParameters params = AlgorithmParameters.getInstance("EC");
        params.init(new ECGenParameterSpec("secp256r1"));
        ECParameterSpec spec = params.getParameterSpec(ECParameterSpec.class);
        ECPoint point = new ECPoint(new BigInteger(1, Arrays.copyOfRange(w, 1, 33)),
                new BigInteger(1, Arrays.copyOfRange(w, 33, 65)));
        return KeyFactory.getInstance("EC").generatePublic(new ECPublicKeySpec(point, spec));
    }

    /** 04 || X || Y of a JCA public key. */
    static byte[] point(ECPublicKey key) {
        ECPoint w = key.getW();
        return concat(new byte[] {4}, unsigned32(w.getAffineX()), unsigned32(w.getAffineY()));
    }

    static byte[] unsigned32(BigInteger v) {
        byte[] b = v.toByteArray();
        byte[] out = new byte[32];
        int n = Math.min(32, b.length);
        System.arraycopy(b, b.length - n, out, 32 - n, n);
        return out;
    }

    /** DER Ecdsa-Sig-Value of (r, s). */
    static byte[] der(byte[] r, byte[] s) {
        byte[] ri = new BigInteger(1, r).toByteArray();
        byte[] si = new BigInteger(1, s).toByteArray();
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        o.write(0x30);
        o.write(4 + ri.length + si.length);
        o.write(2);
        o.write(ri.length);
        o.writeBytes(ri);
        o.write(2);
        o.write(si.length);
        o.writeBytes(si);
        return o.toByteArray();
    }

    /** VERIFY data: {@code handle | sig length | sig | message}. */
    static byte[] verifyRequest(byte[] handle, byte[] signature, byte[] message) {
        return concat(handle, new byte[] {(byte) signature.length}, signature, message);
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            o.writeBytes(p);
        }
        return o.toByteArray();
    }
}
