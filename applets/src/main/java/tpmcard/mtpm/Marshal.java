package tpmcard.mtpm;

import javacard.framework.Util;

/** Big-endian writers and the TPM 2.0 structures the service marshals (TPM 2.0 Part 2). */
final class Marshal {
    private Marshal() {}

    // Part 2 §6.3 TPM_ALG_ID, §6.4 TPM_ECC_CURVE, §6.9 TPM_ST, §7.4 TPM_RH.
    static final short ALG_ECC = (short) 0x0023;
    static final short ALG_SHA256 = (short) 0x000B;
    static final short ALG_NULL = (short) 0x0010;
    static final short ALG_ECDSA = (short) 0x0018;
    static final short ALG_ECDH = (short) 0x0019;
    static final short ECC_NIST_P256 = (short) 0x0003;
    static final short ST_ATTEST_CERTIFY = (short) 0x8017;
    static final short ST_ATTEST_QUOTE = (short) 0x8018;
    static final short GENERATED_HIGH = (short) 0xFF54;  // TPM_GENERATED_VALUE FF544347 (§6.2)
    static final short GENERATED_LOW = (short) 0x4347;
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
        off = u16(out, off, ALG_ECC);
        off = u16(out, off, ALG_SHA256);
        off = u32(out, off, attrHigh, attrLow);
        off = u16(out, off, (short) 0);
        off = u16(out, off, ALG_NULL);
        off = u16(out, off, scheme);
        off = u16(out, off, ALG_SHA256);
        off = u16(out, off, ECC_NIST_P256);
        off = u16(out, off, ALG_NULL);
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
