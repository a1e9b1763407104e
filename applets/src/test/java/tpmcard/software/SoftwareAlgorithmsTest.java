package tpmcard.software;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import com.licel.jcardsim.base.Simulator;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Random;
import javacard.framework.ISOException;
import javacard.security.AESKey;
import javacard.security.KeyBuilder;
import javacard.security.Signature;
import javacardx.crypto.AEADCipher;
import javacardx.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.IvParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import org.junit.BeforeClass;
import org.junit.Test;
import tpmcard.algorithms.AesGcmSoftware;
import tpmcard.algorithms.ProviderConstants;
import tpmcard.lib.AesCmac;

/**
 * The software implementations run directly (not through an applet) on jCardSim's JavaCard API:
 * published known answers (RFC 4493, McGrew-Viega GCM, RFC 8439), then random inputs against the
 * JDK's implementations and, for CMAC, jCardSim's native one. Chunked updates included.
 */
public class SoftwareAlgorithmsTest {
    private static final HexFormat HEX = HexFormat.of();

    @BeforeClass
    public static void runtime() {
        new Simulator();   // jCardSim's runtime, for transient arrays and crypto objects
    }

    private static AESKey aesKey(byte[] k) {
        AESKey key = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES, (short) (k.length * 8), false);
        key.setKey(k, (short) 0);
        return key;
    }

    private static byte[] sign(Signature s, AESKey key, byte[] m, int chunk) {
        s.init(key, Signature.MODE_SIGN);
        int o = 0;
        while (m.length - o > chunk) {
            s.update(m, (short) o, (short) chunk);
            o += chunk;
        }
        byte[] out = new byte[16];
        assertEquals(16, s.sign(m, (short) o, (short) (m.length - o), out, (short) 0));
        return out;
    }

    // ---- AES-CMAC ----

    @Test
    public void cmacRfc4493() {
        AESKey key = aesKey(HEX.parseHex("2b7e151628aed2a6abf7158809cf4f3c"));
        String m = "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
                + "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710";
        byte[] msg = HEX.parseHex(m);
        String[][] cases = {
            {"0", "bb1d6929e95937287fa37d129b756746"},
            {"16", "070a16b46b4d4144f79bdd9dd04a287c"},
            {"40", "dfa66747de9ae63030ca32611497c827"},
            {"64", "51f0bebf7e3b9d92fc49741779363cfe"},
        };
        Signature cmac = new AesCmac(false);
        for (String[] c : cases) {
            byte[] part = Arrays.copyOf(msg, Integer.parseInt(c[0]));
            for (int chunk : new int[] {1, 7, 16, 64}) {
                assertEquals("RFC 4493, " + c[0] + " bytes, chunk " + chunk, c[1], HEX.formatHex(sign(cmac, key, part, chunk)));
            }
            cmac.init(key, Signature.MODE_VERIFY);
            assertTrue(cmac.verify(part, (short) 0, (short) part.length, HEX.parseHex(c[1]), (short) 0, (short) 16));
            byte[] bad = HEX.parseHex(c[1]);
            bad[15] ^= 1;
            assertFalse(cmac.verify(part, (short) 0, (short) part.length, bad, (short) 0, (short) 16));
        }
    }

    @Test
    public void cmacAgreesWithTheNativeOneOnRandomInput() {
        Random random = new Random(4493);
        Signature software = new AesCmac(false);
        Signature nativeCmac = Signature.getInstance(Signature.ALG_AES_CMAC_128, false);
        for (int i = 0; i < 200; i++) {
            byte[] k = new byte[random.nextBoolean() ? 16 : 32];
            random.nextBytes(k);
            byte[] m = new byte[random.nextInt(100)];
            random.nextBytes(m);
            AESKey key = aesKey(k);
            assertArrayEquals("length " + m.length, sign(nativeCmac, key, m, 1000),
                    sign(software, key, m, 1 + random.nextInt(40)));
        }
    }

    /** The card's AES-CMAC where the card's profile has one (full, jcop4-j3r180), else the software one (j3h145). */
    @Test
    public void theFactoryGivesTheNativeCmacWhereTheCardHasOne() {
        Cipher engine = Cipher.getInstance(Cipher.ALG_AES_BLOCK_128_CBC_NOPAD, false);
        boolean cardHasCmac = tpmcard.sim.enforce.CardProfile.configured()
                .has(Signature.getInstance(Signature.ALG_AES_CMAC_128, false));
        assertEquals(!cardHasCmac, AesCmac.getInstance(engine, false) instanceof AesCmac);
    }

    /**
     * Over an engine it shares (a CBC cipher, as the core and the mobile TPM give it on a card
     * without AES-CMAC), with the engine set up for something else between every two calls: the
     * same tags as the native CMAC.
     */
    @Test
    public void cmacOverASharedEngineAgreesWithTheNativeOne() {
        Random random = new Random(38);
        Cipher engine = Cipher.getInstance(Cipher.ALG_AES_BLOCK_128_CBC_NOPAD, false);
        Signature software = new AesCmac(engine);
        Signature nativeCmac = Signature.getInstance(Signature.ALG_AES_CMAC_128, false);
        AESKey other = aesKey(new byte[16]);
        byte[] block = new byte[16];
        for (int i = 0; i < 100; i++) {
            byte[] k = new byte[16];
            random.nextBytes(k);
            byte[] m = new byte[random.nextInt(100)];
            random.nextBytes(m);
            AESKey key = aesKey(k);
            software.init(key, Signature.MODE_SIGN);
            int chunk = 1 + random.nextInt(40);
            int o = 0;
            while (m.length - o > chunk) {
                engine.init(other, Cipher.MODE_DECRYPT, block, (short) 0, (short) 16);   // another user
                engine.doFinal(block, (short) 0, (short) 16, block, (short) 0);
                software.update(m, (short) o, (short) chunk);
                o += chunk;
            }
            engine.init(other, Cipher.MODE_ENCRYPT);
            byte[] tag = new byte[16];
            software.sign(m, (short) o, (short) (m.length - o), tag, (short) 0);
            assertArrayEquals("length " + m.length, sign(nativeCmac, key, m, 1000), tag);
        }
    }

    /** AES-GCM over a shared engine (the core's key import on a card without GCM), used between calls. */
    @Test
    public void gcmOverASharedEngineAgreesWithItsOwn() {
        Random random = new Random(3800);
        Cipher engine = Cipher.getInstance(Cipher.ALG_AES_BLOCK_128_CBC_NOPAD, false);
        AesGcmSoftware shared = new AesGcmSoftware(engine);
        AesGcmSoftware own = new AesGcmSoftware();
        AESKey other = aesKey(new byte[16]);
        for (int i = 0; i < 50; i++) {
            byte[] k = new byte[random.nextBoolean() ? 16 : 32];
            random.nextBytes(k);
            byte[] nonce = new byte[12];
            random.nextBytes(nonce);
            byte[] text = new byte[random.nextInt(80)];
            random.nextBytes(text);
            shared.init(aesKey(k), Cipher.MODE_ENCRYPT, nonce, (short) 0, (short) 12);
            byte[] out = new byte[text.length + 16];
            int half = text.length / 2;
            int n = shared.update(text, (short) 0, (short) half, out, (short) 0);
            engine.init(other, Cipher.MODE_ENCRYPT);   // another user of the engine between the calls
            n += shared.doFinal(text, (short) half, (short) (text.length - half), out, (short) n);
            shared.retrieveTag(out, (short) n, (short) 16);
            assertArrayEquals(gcm(own, Cipher.MODE_ENCRYPT, k, nonce, new byte[0], text, 7), out);
        }
    }

    // ---- AES-GCM ----

    private static byte[] gcm(AEADCipher c, byte mode, byte[] k, byte[] nonce, byte[] aad, byte[] text, int chunk) {
        c.init(aesKey(k), mode, nonce, (short) 0, (short) nonce.length);
        if (aad.length > 0) {
            c.updateAAD(aad, (short) 0, (short) aad.length);
        }
        byte[] out = new byte[text.length + 16];
        int o = 0;
        int n = 0;
        while (text.length - o > chunk) {
            n += c.update(text, (short) o, (short) chunk, out, (short) n);
            o += chunk;
        }
        n += c.doFinal(text, (short) o, (short) (text.length - o), out, (short) n);
        assertEquals(text.length, n);
        if (mode == Cipher.MODE_ENCRYPT) {
            c.retrieveTag(out, (short) n, (short) 16);
            return out;
        }
        return Arrays.copyOf(out, n);
    }

    @Test
    public void gcmMcGrewViegaCases() {
        AesGcmSoftware c = new AesGcmSoftware();
        byte[] k = new byte[16];
        // Test case 1: empty; test case 2: one zero block (McGrew & Viega, GCM spec, appendix B).
        assertEquals("58e2fccefa7e3061367f1d57a4e7455a",
                HEX.formatHex(gcm(c, Cipher.MODE_ENCRYPT, k, new byte[12], new byte[0], new byte[0], 16)));
        assertEquals("0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf",
                HEX.formatHex(gcm(c, Cipher.MODE_ENCRYPT, k, new byte[12], new byte[0], new byte[16], 16)));
        // Test case 4: AAD and a partial last block.
        byte[] k4 = HEX.parseHex("feffe9928665731c6d6a8f9467308308");
        byte[] iv4 = HEX.parseHex("cafebabefacedbaddecaf888");
        byte[] p4 = HEX.parseHex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
                + "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
        byte[] a4 = HEX.parseHex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        assertEquals("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
                + "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"
                + "5bc94fbc3221a5db94fae95ae7121a47",
                HEX.formatHex(gcm(c, Cipher.MODE_ENCRYPT, k4, iv4, a4, p4, 5)));
    }

    @Test
    public void gcmAgreesWithTheJdkAndRefusesBadTags() throws Exception {
        Random random = new Random(38);
        AesGcmSoftware c = new AesGcmSoftware();
        for (int i = 0; i < 60; i++) {
            byte[] k = new byte[random.nextBoolean() ? 16 : 32];
            byte[] nonce = new byte[12];
            byte[] aad = new byte[random.nextInt(40)];
            byte[] text = new byte[random.nextInt(100)];
            random.nextBytes(k);
            random.nextBytes(nonce);
            random.nextBytes(aad);
            random.nextBytes(text);
            javax.crypto.Cipher jdk = javax.crypto.Cipher.getInstance("AES/GCM/NoPadding");
            jdk.init(javax.crypto.Cipher.ENCRYPT_MODE, new SecretKeySpec(k, "AES"), new GCMParameterSpec(128, nonce));
            jdk.updateAAD(aad);
            byte[] expected = jdk.doFinal(text);
            byte[] sealed = gcm(c, Cipher.MODE_ENCRYPT, k, nonce, aad, text, 1 + random.nextInt(33));
            assertArrayEquals(expected, sealed);
            byte[] ct = Arrays.copyOf(sealed, text.length);
            assertArrayEquals(text, gcm(c, Cipher.MODE_DECRYPT, k, nonce, aad, ct, 1 + random.nextInt(33)));
            assertTrue(c.verifyTag(sealed, (short) text.length, (short) 16, (short) 16));
            gcm(c, Cipher.MODE_DECRYPT, k, nonce, aad, ct, 64);
            sealed[text.length + random.nextInt(16)] ^= (byte) (1 << random.nextInt(8));
            assertFalse(c.verifyTag(sealed, (short) text.length, (short) 16, (short) 16));
        }
    }

    // ---- ChaCha20-Poly1305 ----

    @Test
    public void chachaRfc8439AndAgreesWithTheJdk() throws Exception {
        Random random = new Random(8439);
        tpmcard.alg.chacha.ChaCha20Poly1305 aead = new tpmcard.alg.chacha.ChaCha20Poly1305();
        // RFC 8439 §2.8.2.
        byte[] key = HEX.parseHex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
        byte[] nonce = HEX.parseHex("070000004041424344454647");
        byte[] aad = HEX.parseHex("50515253c0c1c2c3c4c5c6c7");
        byte[] text = ("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the "
                + "future, sunscreen would be it.").getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        byte[] out = new byte[text.length + 16];
        aead.seal(key, (short) 0, nonce, (short) 0, aad, (short) 0, (short) aad.length, text, (short) 0,
                (short) text.length, out, (short) 0);
        assertEquals("1ae10b594f09e26a7e902ecbd0600691", HEX.formatHex(Arrays.copyOfRange(out, text.length, out.length)));
        assertEquals("d31a8d34648e60db7b86afbc53ef7ec2", HEX.formatHex(Arrays.copyOf(out, 16)));
        for (int i = 0; i < 60; i++) {
            random.nextBytes(key);
            random.nextBytes(nonce);
            byte[] a = new byte[random.nextInt(40)];
            byte[] t = new byte[random.nextInt(200)];
            random.nextBytes(a);
            random.nextBytes(t);
            javax.crypto.Cipher jdk = javax.crypto.Cipher.getInstance("ChaCha20-Poly1305");
            jdk.init(javax.crypto.Cipher.ENCRYPT_MODE, new SecretKeySpec(key, "ChaCha20"), new IvParameterSpec(nonce));
            jdk.updateAAD(a);
            byte[] expected = jdk.doFinal(t);
            byte[] sealed = new byte[t.length + 16];
            aead.seal(key, (short) 0, nonce, (short) 0, a, (short) 0, (short) a.length, t, (short) 0, (short) t.length,
                    sealed, (short) 0);
            assertArrayEquals("text " + t.length + ", aad " + a.length, expected, sealed);
            byte[] opened = new byte[t.length];
            assertEquals(t.length, aead.open(key, (short) 0, nonce, (short) 0, a, (short) 0, (short) a.length, sealed,
                    (short) 0, (short) sealed.length, opened, (short) 0));
            assertArrayEquals(t, opened);
            sealed[random.nextInt(sealed.length)] ^= (byte) (1 << random.nextInt(8));
            Arrays.fill(opened, (byte) 0x55);
            try {
                aead.open(key, (short) 0, nonce, (short) 0, a, (short) 0, (short) a.length, sealed, (short) 0,
                        (short) sealed.length, opened, (short) 0);
                fail("a changed byte passed");
            } catch (ISOException e) {
                assertEquals(ProviderConstants.SW_VERIFICATION_FAILED, e.getReason());
            }
            for (byte b : opened) {
                assertEquals("no plaintext written on a bad tag", 0x55, b);
            }
        }
    }

    // ---- SHA3-256 ----

    @Test
    public void sha3Fips202AndAgreesWithTheJdk() throws Exception {
        tpmcard.algorithms.Sha3Software sha3 = new tpmcard.algorithms.Sha3Software();
        byte[] out = new byte[32];
        sha3.doFinal(new byte[0], (short) 0, (short) 0, out, (short) 0);
        assertEquals("a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a", HEX.formatHex(out));
        byte[] abc = "abc".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        sha3.doFinal(abc, (short) 0, (short) 3, out, (short) 0);
        assertEquals("3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532", HEX.formatHex(out));
        Random random = new Random(202);
        for (int i = 0; i < 80; i++) {
            byte[] m = new byte[i < 40 ? 130 + i : random.nextInt(700)];   // around the 136-byte rate, then random
            random.nextBytes(m);
            int o = 0;
            while (m.length - o > 50) {
                int n = 1 + random.nextInt(50);
                sha3.update(m, (short) o, (short) n);
                o += n;
            }
            sha3.doFinal(m, (short) o, (short) (m.length - o), out, (short) 0);
            assertArrayEquals("length " + m.length, java.security.MessageDigest.getInstance("SHA3-256").digest(m), out);
        }
    }
}
