package tpmcard.mtpm;

import javacard.framework.Util;
import tpmcard.lib.Tpm2;

/** Big-endian writers and the TPM 2.0 structures the service marshals (TPM 2.0 Part 2). */
final class Marshal {
    private Marshal() {}

    // Part 2 §7.4 TPM_RH (the algorithm, curve and structure tags are in tpmcard.lib.Tpm2).
    static final short RH_ENDORSEMENT_HIGH = (short) 0x4000;  // TPM_RH_ENDORSEMENT 4000000B
    static final short RH_ENDORSEMENT_LOW = (short) 0x000B;

    // TPMA_OBJECT (§8.3) as a 32-bit value split in two shorts.
    /** restricted | sign | fixedTPM | fixedParent | sensitiveDataOrigin | userWithAuth = 00050072. */
    static final short ATTR_SIGNING_HIGH = (short) 0x0005;
    static final short ATTR_SIGNING_LOW = (short) 0x0072;
    /** decrypt | fixedTPM | fixedParent | sensitiveDataOrigin | userWithAuth = 00020072. */
    static final short ATTR_DECRYPT_HIGH = (short) 0x0002;
    static final short ATTR_DECRYPT_LOW = (short) 0x0072;

    static final short NAME_LENGTH = 34;           // nameAlg || SHA-256
    static final short PUBLIC_AREA_LENGTH = 88;    // TPMT_PUBLIC of a P-256 key, layout below
    static final short COORDINATE_LENGTH = 32;

    static short u16(byte[] out, short off, short value) {
        return Util.setShort(out, off, value);
    }

    static short u32(byte[] out, short off, short high, short low) {
        off = Util.setShort(out, off, high);
        return Util.setShort(out, off, low);
    }

    /**
     * TPMT_PUBLIC (§12.2.4) of a P-256 key as a TPM marshals it: type ECC, nameAlg SHA-256, the
     * attributes, an empty authPolicy, TPMS_ECC_PARMS {symmetric NULL, scheme (ECDSA or ECDH,
     * SHA-256), curve P-256, kdf NULL}, unique = TPMS_ECC_POINT {x, y}. {@code point} is 04||X||Y.
     */
    static short publicArea(byte[] out, short off, short attrHigh, short attrLow, short scheme,
                            byte[] point, short pointOff) {
        off = u16(out, off, Tpm2.ALG_ECC);
        off = u16(out, off, Tpm2.ALG_SHA256);
        off = u32(out, off, attrHigh, attrLow);
        off = u16(out, off, (short) 0);
        off = u16(out, off, Tpm2.ALG_NULL);
        off = u16(out, off, scheme);
        off = u16(out, off, Tpm2.ALG_SHA256);
        off = u16(out, off, Tpm2.ECC_NIST_P256);
        off = u16(out, off, Tpm2.ALG_NULL);
        off = u16(out, off, COORDINATE_LENGTH);
        off = Util.arrayCopyNonAtomic(point, (short) (pointOff + 1), out, off, COORDINATE_LENGTH);
        off = u16(out, off, COORDINATE_LENGTH);
        return Util.arrayCopyNonAtomic(point, (short) (pointOff + 1 + COORDINATE_LENGTH), out, off, COORDINATE_LENGTH);
    }

    /** Increments a big-endian unsigned counter in place (non-atomic: callers copy atomically). */
    static void increment(byte[] value, short off, short length) {
        for (short i = (short) (off + length - 1); i >= off; i--) {
            value[i]++;
            if (value[i] != 0) {
                return;
            }
        }
    }
}
