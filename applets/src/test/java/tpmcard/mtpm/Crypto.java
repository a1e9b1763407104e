package tpmcard.mtpm;

import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.security.AlgorithmParameters;
import java.security.KeyFactory;
import java.security.MessageDigest;
import java.security.PublicKey;
import java.security.Signature;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.ECParameterSpec;
import java.security.spec.ECPoint;
import java.security.spec.ECPublicKeySpec;
import java.util.Arrays;

/** Host-side checks with the JDK's providers, independent of the card code. */
final class Crypto {
    private Crypto() {}

    static byte[] sha256(byte[]... parts) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            for (byte[] p : parts) {
                md.update(p);
            }
            return md.digest();
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    /** The P-256 public key of a TPMT_PUBLIC (x at 22, y at 56; Marshal.publicArea's layout). */
    static PublicKey publicKey(byte[] publicArea) {
        try {
            AlgorithmParameters parameters = AlgorithmParameters.getInstance("EC");
            parameters.init(new ECGenParameterSpec("secp256r1"));
            ECParameterSpec spec = parameters.getParameterSpec(ECParameterSpec.class);
            BigInteger x = new BigInteger(1, Arrays.copyOfRange(publicArea, 22, 54));
            BigInteger y = new BigInteger(1, Arrays.copyOfRange(publicArea, 56, 88));
            return KeyFactory.getInstance("EC").generatePublic(new ECPublicKeySpec(new ECPoint(x, y), spec));
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    /** 04 || X || Y from a TPMT_PUBLIC. */
    static byte[] point(byte[] publicArea) {
        return MtpmCard.concat(new byte[] {4}, Arrays.copyOfRange(publicArea, 22, 54), Arrays.copyOfRange(publicArea, 56, 88));
    }

    static boolean verify(PublicKey key, byte[] data, byte[] der) {
        try {
            Signature s = Signature.getInstance("SHA256withECDSA");
            s.initVerify(key);
            s.update(data);
            return s.verify(der);
        } catch (Exception e) {
            return false;
        }
    }

    /** Name = 000B || SHA-256(TPMT_PUBLIC). */
    static byte[] name(byte[] publicArea) {
        return MtpmCard.concat(new byte[] {0, 0x0B}, sha256(publicArea));
    }

    /** QN under the endorsement hierarchy: 000B || SHA-256(4000000B || Name). */
    static byte[] qualifiedName(byte[] publicArea) {
        return MtpmCard.concat(new byte[] {0, 0x0B},
                sha256(new byte[] {0x40, 0, 0, 0x0B}, name(publicArea)));
    }

    /** Splits attestLen || attest || signature. */
    static byte[][] splitAttestation(byte[] response) {
        int n = ByteBuffer.wrap(response).getShort() & 0xFFFF;
        return new byte[][] {Arrays.copyOfRange(response, 2, 2 + n), Arrays.copyOfRange(response, 2 + n, response.length)};
    }
}
