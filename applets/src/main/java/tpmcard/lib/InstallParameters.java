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
    /** Indices into the {@code out} array of {@link #parse}. */
    public static final byte AID_OFFSET = 0;
    public static final byte AID_LENGTH = 1;
    public static final byte PARAMS_OFFSET = 2;
    public static final byte PARAMS_LENGTH = 3;
    /** Length of the {@code out} array. */
    public static final short FIELDS = 4;

    private InstallParameters() {}

    /**
     * Split the install bytes into the instance AID and the applet's own parameters.
     * {@code bLength == 0} (a bare install, as some tools do) gives no AID and no parameters.
     * Any length field that runs past the end, or parameters longer than {@code maxParams},
     * fail the install with 6700.
     */
    public static void parse(byte[] bArray, short bOffset, byte bLength, short maxParams, short[] out) {
        out[AID_OFFSET] = 0;
        out[AID_LENGTH] = 0;
        out[PARAMS_OFFSET] = 0;
        out[PARAMS_LENGTH] = 0;
        if (bLength == 0) {
            return;
        }
        short end = (short) (bOffset + (bLength & 0xFF));
        short aidLength = (short) (bArray[bOffset] & 0xFF);
        short aidOffset = (short) (bOffset + 1);
        short offset = (short) (aidOffset + aidLength);
        if (offset > end) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
        if (offset < end) {
            offset = (short) (offset + 1 + (bArray[offset] & 0xFF));   // skip control info
        }
        short paramsOffset = 0;
        short paramsLength = 0;
        if (offset < end) {
            paramsLength = (short) (bArray[offset] & 0xFF);
            paramsOffset = (short) (offset + 1);
        }
        if (offset > end || (short) (paramsOffset + paramsLength) > end || paramsLength > maxParams) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
        out[AID_OFFSET] = aidOffset;
        out[AID_LENGTH] = aidLength;
        out[PARAMS_OFFSET] = paramsOffset;
        out[PARAMS_LENGTH] = paramsLength;
    }
}
