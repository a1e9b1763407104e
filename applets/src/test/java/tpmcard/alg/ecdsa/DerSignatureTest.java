package tpmcard.alg.ecdsa;

import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import java.math.BigInteger;
import java.util.HexFormat;
import java.util.Random;
import org.junit.Test;

/** The strict DER check alone, on encodings built here: each rule of DerSignature at its boundary. */
public class DerSignatureTest {
    private static final BigInteger N = new BigInteger(
            "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551", 16);

    private static boolean valid(String hex) {
        byte[] b = HexFormat.of().parseHex(hex);
        // At an offset inside a larger buffer, as in an APDU.
        byte[] buf = new byte[b.length + 7];
        System.arraycopy(b, 0, buf, 5, b.length);
        return DerSignature.isValid(buf, (short) 5, (short) b.length, new tpmcard.lib.P256().order);
    }

    private static String integer(BigInteger v) {
        byte[] c = v.toByteArray();
        return String.format("02%02x", c.length) + HexFormat.of().formatHex(c);
    }

    private static String sequence(String content) {
        return String.format("30%02x", content.length() / 2) + content;
    }

    private static String sig(BigInteger r, BigInteger s) {
        return sequence(integer(r) + integer(s));
    }

    @Test
    public void acceptsTheDerEncodingOfEveryInRangePair() {
        assertTrue(valid("3006020101020101"));                                    // r = s = 1, the shortest
        assertTrue(valid(sig(N.subtract(BigInteger.ONE), N.subtract(BigInteger.ONE))));   // 72 bytes, the longest
        assertTrue(valid(sig(BigInteger.ONE.shiftLeft(255), BigInteger.valueOf(0x80))));  // 00 needed before 80
        assertTrue(valid(sig(BigInteger.ONE.shiftLeft(255).subtract(BigInteger.ONE), BigInteger.valueOf(0x7F))));
        Random random = new Random(1);
        for (int i = 0; i < 1000; i++) {
            BigInteger r = new BigInteger(256, random).mod(N.subtract(BigInteger.ONE)).add(BigInteger.ONE);
            BigInteger s = new BigInteger(random.nextInt(256) + 1, random).mod(N.subtract(BigInteger.ONE)).add(BigInteger.ONE);
            assertTrue(sig(r, s), valid(sig(r, s)));
        }
    }

    @Test
    public void refusesValuesOutsideOneToNMinusOne() {
        assertFalse(valid("3006020100020101"));                                    // r = 0
        assertFalse(valid("3006020101020100"));                                    // s = 0
        assertFalse(valid(sig(N, BigInteger.ONE)));
        assertFalse(valid(sig(BigInteger.ONE, N)));
        assertFalse(valid(sig(N.add(BigInteger.ONE), BigInteger.ONE)));
        assertFalse(valid(sig(BigInteger.ONE.shiftLeft(256).subtract(BigInteger.ONE), BigInteger.ONE)));
        assertFalse(valid(sig(BigInteger.ONE.shiftLeft(256), BigInteger.ONE)));    // 33 value bytes
        assertFalse(valid(sequence("020101" + integer(BigInteger.ONE.negate()))));  // s = -1
        assertFalse(valid(sequence("020181" + "020101")));                          // 81: negative
    }

    @Test
    public void refusesEncodingsDerForbids() {
        assertFalse(valid(""));
        assertFalse(valid("30"));
        assertFalse(valid("3000"));
        assertFalse(valid("300602010102010100"));                                  // a trailing byte
        assertFalse(valid("3007020101020101"));                                    // length past the end
        assertFalse(valid("300502010102010101"));                                  // length short of the end
        assertFalse(valid("308106020101020101"));                                  // long-form length
        assertFalse(valid("3080020101020101" + "0000"));                           // indefinite length
        assertFalse(valid("3106020101020101"));                                    // SET
        assertFalse(valid("3006030101020101"));                                    // BIT STRING r
        assertFalse(valid("300702020001020101"));                                  // 00 not needed
        assertFalse(valid("300802030000ff020101"));                                // 00 00 before ff
        assertFalse(valid("300702810101020101"));                                  // r: long-form length
        assertFalse(valid("3006020002020080"));                                    // r: no content octet
        assertFalse(valid("3003020101"));                                          // s missing
        assertFalse(valid("3008020101020101" + "0500"));                           // a third element
        byte[] big = new byte[73];
        big[0] = 0x30;
        big[1] = 71;
        assertFalse(DerSignature.isValid(big, (short) 0, (short) big.length, new tpmcard.lib.P256().order));      // above 72 bytes
    }
}
