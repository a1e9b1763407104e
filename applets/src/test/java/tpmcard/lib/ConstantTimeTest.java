package tpmcard.lib;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import java.math.BigInteger;
import java.util.Random;
import org.junit.Test;
import tpmcard.lib.P256;
import tpmcard.lib.ConstantTime;

/** ConstantTime against BigInteger and Arrays, on random and edge-case inputs. */
public class ConstantTimeTest {
    private static final P256 CURVE = new P256();
    @Test
    public void compareUnsignedAgreesWithBigInteger() {
        Random random = new Random(1);
        for (int round = 0; round < 5000; round++) {
            int length = 1 + random.nextInt(40);
            byte[] a = new byte[length + 3];
            byte[] b = new byte[length + 5];
            random.nextBytes(a);
            random.nextBytes(b);
            // Often share a prefix, so the deciding byte is anywhere.
            int shared = random.nextInt(length + 1);
            System.arraycopy(a, 3, b, 5, shared);
            if (round % 7 == 0) {
                System.arraycopy(a, 3, b, 5, length);
            }
            int expected = new BigInteger(1, java.util.Arrays.copyOfRange(a, 3, 3 + length))
                    .compareTo(new BigInteger(1, java.util.Arrays.copyOfRange(b, 5, 5 + length)));
            assertEquals(expected, ConstantTime.compareUnsigned(a, (short) 3, b, (short) 5, (short) length));
            assertEquals(expected == 0, ConstantTime.equals(a, (short) 3, b, (short) 5, (short) length));
        }
    }

    @Test
    public void edgeCases() {
        byte[] ff = {(byte) 0xFF, (byte) 0xFF};
        byte[] zero = {0, 0};
        byte[] high = {(byte) 0x80, 0};
        byte[] low = {0x7F, (byte) 0xFF};
        assertEquals(1, ConstantTime.compareUnsigned(ff, (short) 0, zero, (short) 0, (short) 2));
        assertEquals(-1, ConstantTime.compareUnsigned(zero, (short) 0, ff, (short) 0, (short) 2));
        assertEquals(1, ConstantTime.compareUnsigned(high, (short) 0, low, (short) 0, (short) 2));
        assertEquals(0, ConstantTime.compareUnsigned(ff, (short) 0, ff, (short) 0, (short) 2));
        assertEquals(0, ConstantTime.compareUnsigned(ff, (short) 0, zero, (short) 0, (short) 0));
        assertTrue(ConstantTime.equals(ff, (short) 0, zero, (short) 0, (short) 0));
        assertFalse(ConstantTime.equals(high, (short) 0, zero, (short) 0, (short) 2));
        assertFalse(ConstantTime.equals(new byte[] {0, 1}, (short) 0, zero, (short) 0, (short) 2));
    }

    @Test
    public void isZero() {
        assertTrue(ConstantTime.isZero(new byte[32], (short) 0, (short) 32));
        byte[] one = new byte[32];
        one[31] = 1;
        assertFalse(ConstantTime.isZero(one, (short) 0, (short) 32));
        assertTrue(ConstantTime.isZero(one, (short) 0, (short) 31));
        one[0] = (byte) 0x80;
        assertFalse(ConstantTime.isZero(one, (short) 0, (short) 1));
    }

    @Test
    public void scalarRangeCheckAsTheIdentityUsesIt() {
        byte[] order = CURVE.order.clone();
        assertEquals(0, ConstantTime.compareUnsigned(order, (short) 0, CURVE.order, (short) 0, (short) 32));
        order[31]--;
        assertEquals(-1, ConstantTime.compareUnsigned(order, (short) 0, CURVE.order, (short) 0, (short) 32));
        byte[] max = new byte[32];
        java.util.Arrays.fill(max, (byte) 0xFF);
        assertEquals(1, ConstantTime.compareUnsigned(max, (short) 0, CURVE.order, (short) 0, (short) 32));
    }
}
