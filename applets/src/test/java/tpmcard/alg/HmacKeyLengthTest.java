package tpmcard.alg;

import static org.junit.Assert.assertArrayEquals;
import static tpmcard.alg.ProviderCard.concat;
import static tpmcard.alg.ProviderCard.ok;
import static tpmcard.alg.ProviderCard.refused;
import static tpmcard.alg.ProviderCard.verifyRequest;

import java.util.Arrays;
import java.util.Random;
import javacard.framework.ISO7816;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.junit.Before;
import org.junit.Test;
import tpmcard.alg.hmac.HmacProvider;
import tpmcard.algorithms.KeyUnwrap;
import tpmcard.algorithms.ProviderConstants;

/**
 * HMAC key lengths at import: 1 byte up to HmacProvider.MAX_KEY_LENGTH. A key longer than the
 * hash's block is hashed on the card (RFC 2104 §2); JCA's Mac does the same on the host, so
 * the two agree on every length. Versions 1 and 2 share the code; both are checked.
 */
public class HmacKeyLengthTest {
    private static final byte ALG = ProviderConstants.ALG_HMAC_SHA2;
    private static final byte[] MESSAGE = "what the MAC covers".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    private ProviderCard card;

    @Before
    public void setUp() {
        card = new ProviderCard();
    }

    private static byte[] jcaMac(String algorithm, byte[] key, byte[] message) throws Exception {
        Mac mac = Mac.getInstance(algorithm);
        mac.init(new SecretKeySpec(key, algorithm));
        return mac.doFinal(message);
    }

    private void checkLengths(byte keyType, String algorithm, int[] lengths) throws Exception {
        Random random = new Random(keyType);
        for (int length : lengths) {
            byte[] key = new byte[length];
            random.nextBytes(key);
            byte[] handle = Arrays.copyOf(card.importKey(ALG, keyType, key), 4);
            byte[] expected = jcaMac(algorithm, key, MESSAGE);
            assertArrayEquals(algorithm + " key of " + length + " bytes", expected,
                    ok(card.call(ALG, ProviderConstants.INS_MAC, 0, concat(handle, MESSAGE))));
            ok(card.call(ALG, ProviderConstants.INS_VERIFY, 0, verifyRequest(handle, expected, MESSAGE)));
            expected[0] ^= 1;
            refused(ProviderConstants.SW_VERIFICATION_FAILED,
                    card.call(ALG, ProviderConstants.INS_VERIFY, 0, verifyRequest(handle, expected, MESSAGE)));
            ok(card.call(ALG, ProviderConstants.INS_KEY_DELETE, 0, handle));
        }
    }

    @Test
    public void sha256KeysLongerThanTheBlockAreHashedOnTheCard() throws Exception {
        checkLengths(ProviderConstants.KEY_HMAC_SHA256, "HmacSHA256",
                new int[] {1, 32, 63, 64, 65, 100, 127, HmacProvider.MAX_KEY_LENGTH});
    }

    @Test
    public void sha512KeysUpToTheMaximum() throws Exception {
        checkLengths(ProviderConstants.KEY_HMAC_SHA512, "HmacSHA512",
                new int[] {1, 64, 127, 128, HmacProvider.MAX_KEY_LENGTH});
    }

    @Test
    public void theSecondVersionSharesTheCode() throws Exception {
        byte[] descriptor = ok(card.card.invokeRaw("F074706D63030001",
                ProviderConstants.INS_REGISTER, 0, 0, ProviderCard.HEX.parseHex("F074706D63031301")));
        org.junit.Assert.assertEquals("now served by version 2", 2, descriptor[1]);
        checkLengths(ProviderConstants.KEY_HMAC_SHA256, "HmacSHA256", new int[] {65, HmacProvider.MAX_KEY_LENGTH});
    }

    @Test
    public void keysOverTheMaximumAreRefused() throws Exception {
        // The wrapped import carries at most KeyUnwrap.MAX_KEY_LENGTH bytes; the provider takes them all.
        org.junit.Assert.assertEquals(KeyUnwrap.MAX_KEY_LENGTH, HmacProvider.MAX_KEY_LENGTH);
        byte[] key = new byte[HmacProvider.MAX_KEY_LENGTH + 1];
        refused(ISO7816.SW_WRONG_LENGTH, card.importRaw(ALG, ProviderConstants.KEY_HMAC_SHA256, key));
        refused(ISO7816.SW_WRONG_LENGTH, card.importRaw(ALG, ProviderConstants.KEY_HMAC_SHA512, key));
        checkLengths(ProviderConstants.KEY_HMAC_SHA256, "HmacSHA256", new int[] {70});   // and the card goes on
    }
}
