package tpmcard.sim.enforce;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;

import java.util.Arrays;
import javacard.security.ECPrivateKey;
import javacard.security.KeyAgreement;
import javacard.security.KeyBuilder;
import org.junit.Test;
import tpmcard.lib.P256;

/** jCardSim's key containers, as patched: a shorter value after a longer one reads back exactly. */
public class SimulatorPatchesTest {
    private static byte[] secret(ECPrivateKey key) {
        KeyAgreement dh = KeyAgreement.getInstance(KeyAgreement.ALG_EC_SVDP_DH_PLAIN, false);
        dh.init(key);
        byte[] out = new byte[32];
        assertEquals(32, dh.generateSecret(P256.G, (short) 0, (short) P256.G.length, out, (short) 0));
        return out;
    }

    private static ECPrivateKey key() {
        ECPrivateKey k = (ECPrivateKey) KeyBuilder.buildKey(KeyBuilder.TYPE_EC_FP_PRIVATE, P256.KEY_LENGTH, false);
        P256.setDomainParameters(k);
        return k;
    }

    @Test
    public void aScalarWithALeadingZeroByteAfterAFullOneIsReadExactly() {
        byte[] full = new byte[32];
        Arrays.fill(full, (byte) 0x11);
        full[31] = (byte) 0xFF;
        byte[] shortScalar = new byte[31];
        Arrays.fill(shortScalar, (byte) 0x22);

        ECPrivateKey reused = key();
        reused.setS(full, (short) 0, (short) 32);
        secret(reused);
        reused.setS(shortScalar, (short) 0, (short) 31);  // 00 || 22..22, as BigInteger writes it

        byte[] padded = new byte[32];
        System.arraycopy(shortScalar, 0, padded, 1, 31);
        ECPrivateKey fresh = key();
        fresh.setS(padded, (short) 0, (short) 32);
        assertArrayEquals(secret(fresh), secret(reused));
    }
}
