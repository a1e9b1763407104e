package tpmcard.lib;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;

import javacard.framework.ISO7816;
import javacard.framework.ISOException;
import org.junit.Test;

/** The install-parameter reader: in place, no array; every length that runs past the end is 6700. */
public class InstallParametersTest {
    private static final byte[] BYTES = {
        (byte) 0xEE, 3, 1, 2, 3, 2, 9, 9, 4, 7, 7, 7, 7, (byte) 0xEE};   // pad | AID 3 | control 2 | params 4 | pad

    private static short[] read(byte[] b, short off, byte len, short max) {
        InstallParameters.check(b, off, len, max);
        return new short[] {InstallParameters.aidOffset(b, off, len), InstallParameters.aidLength(b, off, len),
            InstallParameters.paramsOffset(b, off, len), InstallParameters.paramsLength(b, off, len)};
    }

    private static void refused(byte[] b, short off, byte len, short max) {
        ISOException e = assertThrows(ISOException.class, () -> InstallParameters.check(b, off, len, max));
        assertEquals(ISO7816.SW_WRONG_LENGTH, e.getReason());
    }

    @Test
    public void fieldsInPlace() {
        assertEquals("[2, 3, 9, 4]", java.util.Arrays.toString(read(BYTES, (short) 1, (byte) 12, (short) 32)));
    }

    @Test
    public void absentPartsAreZero() {
        assertEquals("[0, 0, 0, 0]", java.util.Arrays.toString(read(BYTES, (short) 1, (byte) 0, (short) 32)));
        // AID and control only.
        assertEquals("[2, 3, 0, 0]", java.util.Arrays.toString(read(BYTES, (short) 1, (byte) 7, (short) 32)));
        // AID only.
        assertEquals("[2, 3, 0, 0]", java.util.Arrays.toString(read(BYTES, (short) 1, (byte) 4, (short) 32)));
    }

    @Test
    public void lengthsPastTheEndOrTooManyParamsAreRefused() {
        refused(BYTES, (short) 1, (byte) 3, (short) 32);    // AID cut
        refused(BYTES, (short) 1, (byte) 6, (short) 32);    // control cut
        refused(BYTES, (short) 1, (byte) 11, (short) 32);   // params cut
        refused(BYTES, (short) 1, (byte) 12, (short) 3);    // more params than allowed
    }
}
