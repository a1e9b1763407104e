package tpmcard.mtpm;

import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.Util;

/**
 * The EK certificate the owner stores on the mobile TPM (EK CERT SET / GET, docs/mtpm.md): DER,
 * 1..{@link Constants#MAX_EK_CERT} bytes, in EEPROM; certificate and length change together.
 */
final class EkCertificate {
    private final byte[] certificate = new byte[Constants.MAX_EK_CERT];
    private short length;

    /** Store {@code length} bytes of {@code in} at {@code off}, replacing any earlier one. */
    void set(byte[] in, short off, short length) {
        if (length < 1 || length > Constants.MAX_EK_CERT) {
            ISOException.throwIt(Constants.SW_WRONG_LENGTH);
        }
        JCSystem.beginTransaction();
        Util.arrayCopy(in, off, certificate, (short) 0, length);
        this.length = length;
        JCSystem.commitTransaction();
    }

    /** Copy it to {@code out}; SW_NOT_FOUND if none was stored. Returns its length. */
    short get(byte[] out, short outOff) {
        if (length == 0) {
            ISOException.throwIt(Constants.SW_NOT_FOUND);
        }
        return (short) (Util.arrayCopyNonAtomic(certificate, (short) 0, out, outOff, length) - outOff);
    }
}
