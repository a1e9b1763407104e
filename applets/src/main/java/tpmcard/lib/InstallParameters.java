package tpmcard.lib;

import javacard.framework.ISO7816;
import javacard.framework.ISOException;

/**
 * The install parameters every applet of the suite receives (JavaCard Applet.install;
 * GlobalPlatform INSTALL [for install], GP Card Spec 2.3.1 §11.5.2.3.7):
 * {@code [len AID][AID][len control][control][len params][params]}. One parser for all of them,
 * so every applet checks the lengths the same way.
 */
public final class InstallParameters {
    private InstallParameters() {}

    /**
     * Checks the install bytes: any length field that runs past the end, or parameters longer
     * than {@code maxParams}, fail the install with 6700. {@code bLength == 0} (a bare install,
     * as some tools do) gives no AID and no parameters. The accessors below read the checked
     * bytes in place: no array is allocated (and dropped) at install.
     */
    public static void check(byte[] bArray, short bOffset, byte bLength, short maxParams) {
        if (bLength == 0) {
            return;
        }
        short end = (short) (bOffset + (bLength & 0xFF));
        short offset = (short) (bOffset + 1 + (bArray[bOffset] & 0xFF));
        if (offset > end) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
        if (offset < end) {
            offset = (short) (offset + 1 + (bArray[offset] & 0xFF));   // skip control info
        }
        if (offset > end) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
        if (offset < end) {
            short paramsLength = (short) (bArray[offset] & 0xFF);
            if ((short) (offset + 1 + paramsLength) > end || paramsLength > maxParams) {
                ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
            }
        }
    }

    /** Offset of the instance AID (0 without one). */
    public static short aidOffset(byte[] bArray, short bOffset, byte bLength) {
        return bLength == 0 ? 0 : (short) (bOffset + 1);
    }

    /** Length of the instance AID (0 without one). */
    public static byte aidLength(byte[] bArray, short bOffset, byte bLength) {
        return bLength == 0 ? 0 : bArray[bOffset];
    }

    /** Offset of the applet's own parameters (0 without any), after {@link #check}. */
    public static short paramsOffset(byte[] bArray, short bOffset, byte bLength) {
        short at = paramsLengthAt(bArray, bOffset, bLength);
        return at < 0 ? 0 : (short) (at + 1);
    }

    /** Length of the applet's own parameters (0 without any), after {@link #check}. */
    public static short paramsLength(byte[] bArray, short bOffset, byte bLength) {
        short at = paramsLengthAt(bArray, bOffset, bLength);
        return at < 0 ? 0 : (short) (bArray[at] & 0xFF);
    }

    /** Offset of the parameters' length byte, or -1 when the install bytes end before it. */
    private static short paramsLengthAt(byte[] bArray, short bOffset, byte bLength) {
        if (bLength == 0) {
            return -1;
        }
        short end = (short) (bOffset + (bLength & 0xFF));
        short offset = (short) (bOffset + 1 + (bArray[bOffset] & 0xFF));
        if (offset < end) {
            offset = (short) (offset + 1 + (bArray[offset] & 0xFF));
        }
        return offset < end ? offset : -1;
    }
}
