package tpmcard.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;

import java.math.BigInteger;
import java.security.spec.ECFieldFp;
import java.security.spec.ECParameterSpec;
import org.junit.Test;
import tpmcard.lib.P256;

/** The P-256 constants the card sets on its keys agree with the JDK's secp256r1. */
public class P256Test {
    private static final P256 CURVE = new P256();
    private static final BigInteger P = new BigInteger(1, CURVE.field);
    private static final BigInteger A = new BigInteger(1, CURVE.a);

    @Test
    public void constantsMatchTheJdkCurve() throws Exception {
        ECParameterSpec spec = GetDataTest.p256();
        assertEquals(((ECFieldFp) spec.getCurve().getField()).getP(), P);
        assertEquals(spec.getCurve().getA(), A);
        assertEquals(spec.getCurve().getB(), new BigInteger(1, CURVE.b));
        assertEquals(spec.getGenerator().getAffineX(), new BigInteger(1, CURVE.g, 1, 32));
        assertEquals(spec.getGenerator().getAffineY(), new BigInteger(1, CURVE.g, 33, 32));
        assertEquals(4, CURVE.g[0]);
        assertEquals(spec.getOrder(), new BigInteger(1, CURVE.order));
        assertEquals(spec.getCofactor(), P256.COFACTOR);
        assertEquals(256, P256.KEY_LENGTH);
    }

    @Test
    public void multiplicationHelperIsRight() {
        assertArrayEquals(CURVE.g, multiplyBasePoint(BigInteger.ONE));
        // n.G is the point at infinity; (n-1).G = -G has the same x and y = p - y.
        byte[] minusG = multiplyBasePoint(new BigInteger(1, CURVE.order).subtract(BigInteger.ONE));
        assertEquals(new BigInteger(1, CURVE.g, 1, 32), new BigInteger(1, minusG, 1, 32));
        assertEquals(P.subtract(new BigInteger(1, CURVE.g, 33, 32)), new BigInteger(1, minusG, 33, 32));
    }

    /** s.G in affine coordinates, uncompressed. Test-only: not constant time. */
    static byte[] multiplyBasePoint(BigInteger s) {
        BigInteger[] g = {new BigInteger(1, CURVE.g, 1, 32), new BigInteger(1, CURVE.g, 33, 32)};
        BigInteger[] result = null;
        for (int i = s.bitLength() - 1; i >= 0; i--) {
            result = add(result, result);
            if (s.testBit(i)) {
                result = add(result, g);
            }
        }
        byte[] out = new byte[65];
        out[0] = 4;
        copy32(result[0], out, 1);
        copy32(result[1], out, 33);
        return out;
    }

    private static BigInteger[] add(BigInteger[] p1, BigInteger[] p2) {
        if (p1 == null) {
            return p2;
        }
        if (p2 == null) {
            return p1;
        }
        BigInteger lambda;
        if (p1[0].equals(p2[0])) {
            if (!p1[1].equals(p2[1]) || p1[1].signum() == 0) {
                return null;
            }
            BigInteger three = BigInteger.valueOf(3);
            lambda = p1[0].pow(2).multiply(three).add(A).multiply(p1[1].shiftLeft(1).modInverse(P)).mod(P);
        } else {
            lambda = p2[1].subtract(p1[1]).multiply(p2[0].subtract(p1[0]).modInverse(P)).mod(P);
        }
        BigInteger x = lambda.pow(2).subtract(p1[0]).subtract(p2[0]).mod(P);
        BigInteger y = lambda.multiply(p1[0].subtract(x)).subtract(p1[1]).mod(P);
        return new BigInteger[] {x, y};
    }

    private static void copy32(BigInteger value, byte[] out, int offset) {
        byte[] bytes = value.toByteArray();
        int length = Math.min(bytes.length, 32);
        System.arraycopy(bytes, bytes.length - length, out, offset + 32 - length, length);
    }
}
