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

    /** value += amount (0..32767), big-endian unsigned, in place (non-atomic: callers copy atomically). */
    static void add(byte[] value, short off, short length, short amount) {
        for (short i = (short) (off + length - 1); i >= off && amount != 0; i--) {
            short sum = (short) ((short) (value[i] & 0xFF) + (short) (amount & 0xFF));
            value[i] = (byte) sum;
            amount = (short) ((short) ((short) (amount >> 8) & 0x7F) + (short) ((short) (sum >> 8) & 1));
        }
    }

    /** value -= amount (0..32767, at most value), big-endian unsigned, in place (non-atomic). */
    static void subtract(byte[] value, short off, short length, short amount) {
        for (short i = (short) (off + length - 1); i >= off && amount != 0; i--) {
            short difference = (short) ((short) (value[i] & 0xFF) - (short) (amount & 0xFF));
            value[i] = (byte) difference;
            amount = (short) ((short) ((short) (amount >> 8) & 0x7F) + (difference < 0 ? 1 : 0));
        }
    }

    /**
     * The next value of a counter handed out from a block reserved in EEPROM: {@code ceiling}
     * (persistent) is the block's last value, {@code left[0]} (CLEAR_ON_RESET) how many of the
     * block are still to come. With none left (or after a card reset) the ceiling goes up by
     * {@code block} first, in one atomic write, before any value of the new block is used. So
     * values never repeat or go back, across resets and tears, and only one command in
     * {@code block} writes the EEPROM; a reset skips the rest of a block. Value at out[off].
     */
    static void nextReserved(byte[] ceiling, short[] left, short block, byte[] out, short off, short length) {
        if (left[0] <= 0) {
            Util.arrayCopyNonAtomic(ceiling, (short) 0, out, off, length);
            add(out, off, length, block);
            Util.arrayCopy(out, off, ceiling, (short) 0, length);  // atomic: reserved before use
            left[0] = block;
        }
        Util.arrayCopyNonAtomic(ceiling, (short) 0, out, off, length);
        subtract(out, off, length, (short) (left[0] - 1));
        left[0]--;
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
