package tpmcard.alg;

import static org.junit.Assert.assertEquals;

import java.util.Arrays;
import org.junit.Test;
import tpmcard.algorithms.ProviderConstants;
import tpmcard.sim.enforce.CardProfile;

/**
 * VectorTest's known answers with every provider installed with the software option: AES-GCM,
 * SHA3-256 (and HMAC, ChaCha20-Poly1305, always software) run in card code over AES-ECB and
 * Keccak; LIST reports each implementation. ECDSA has no software implementation: native.
 */
public class SoftwareVectorTest extends VectorTest {
    @Override
    ProviderCard newCard() {
        return new ProviderCard(true);
    }

    /** Per LIST entry: algorithm id -> implementation byte (descriptor byte 7). */
    static byte[] implementations(ProviderCard card) {
        byte[] list = ProviderCard.ok(card.card.invokeRaw("F074706D63030001", ProviderConstants.INS_LIST, (byte) 0,
                (byte) 0, new byte[0]));
        byte[] byAlgorithm = new byte[8];
        for (int i = 0; i < list.length; ) {
            int aidLength = list[i + 1];
            int d = i + 2 + aidLength;
            int dLength = list[d];
            assertEquals(ProviderConstants.DESCRIPTOR_LENGTH, dLength);
            byAlgorithm[list[d + 1]] = list[d + 1 + 7];
            i = d + 1 + dLength;
        }
        return byAlgorithm;
    }

    @Test
    public void listReportsTheImplementations() {
        byte n = ProviderConstants.IMPLEMENTATION_NATIVE;
        byte s = ProviderConstants.IMPLEMENTATION_SOFTWARE;
        assertEquals(Arrays.toString(new byte[] {0, s, s, s, s, n, 0, 0}),
                Arrays.toString(implementations(new ProviderCard(true))));
        // Without the option the card decides: native GCM and SHA3 on the `full` profile (all of
        // jCardSim), software on the JCOP profiles, which have neither (profiles.json).
        byte g = CardProfile.configured().hasAllAlgorithms() ? n : s;
        assertEquals(Arrays.toString(new byte[] {0, g, g, s, s, n, 0, 0}),
                Arrays.toString(implementations(new ProviderCard(false))));
    }
}
