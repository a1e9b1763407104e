package tpmcard.core;

import javacard.framework.JCSystem;
import javacard.framework.Util;
import javacard.security.AESKey;
import javacard.security.ECPublicKey;
import javacard.security.KeyBuilder;
import tpmcard.lib.P256;

/**
 * The table of paired hosts, in persistent memory (docs/binding.md "Pairing table").
 *
 * Per slot: a record (in use, binding key Name, binding public point, PCR selection, policy
 * options, policy pcrDigest), the AK as an ECPublicKey ready for Signature.init, and the 32-byte
 * pairing secret held in an AESKey object, which certified cards store with more protection than
 * a plain array. A slot is written in one transaction and its "in use" byte is written last, so
 * a torn write leaves the slot free; removal clears that byte first (one atomic byte write),
 * then the rest.
 */
final class Pairings {
    static final short OFFSET_USED = 0;
    static final short OFFSET_NAME = 1;
    static final short OFFSET_POINT = (short) (OFFSET_NAME + Constants.NAME_LENGTH);
    static final short OFFSET_SELECTION = (short) (OFFSET_POINT + 65);
    static final short OFFSET_OPTIONS = (short) (OFFSET_SELECTION + 3);
    static final short OFFSET_PCR_DIGEST = (short) (OFFSET_OPTIONS + 1);
    static final short RECORD_LENGTH = (short) (OFFSET_PCR_DIGEST + Constants.DIGEST_LENGTH);
    private static final byte[] ZEROS = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    static final short SECRET_LENGTH = (short) 32;
    private static final byte USED = (byte) 0x5A;

    private final byte[] records;
    private final ECPublicKey[] attestationKeys;
    private final AESKey[] secrets;
    private final P256 curve;

    Pairings(P256 curve) {
        this.curve = curve;
        short slots = Constants.PAIRING_SLOTS;
        records = new byte[(short) (slots * RECORD_LENGTH)];
        attestationKeys = new ECPublicKey[slots];
        secrets = new AESKey[slots];
        for (short i = 0; i < slots; i++) {
            attestationKeys[i] = (ECPublicKey) KeyBuilder.buildKey(KeyBuilder.TYPE_EC_FP_PUBLIC, P256.KEY_LENGTH, false);
            curve.setDomainParameters(attestationKeys[i]);
            secrets[i] = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES, KeyBuilder.LENGTH_AES_256, false);
        }
    }

    private static short base(short slot) {
        return (short) (slot * RECORD_LENGTH);
    }

    static boolean isValidSlot(short slot) {
        return slot >= 0 && slot < Constants.PAIRING_SLOTS;
    }

    boolean isUsed(short slot) {
        return isValidSlot(slot) && records[base(slot)] == USED;
    }

    /** The first free slot, or -1. */
    short findFree() {
        for (short i = 0; i < Constants.PAIRING_SLOTS; i++) {
            if (!isUsed(i)) {
                return i;
            }
        }
        return -1;
    }

    /** The slot holding this binding key Name, or -1. */
    short findName(byte[] name, short offset) {
        for (short i = 0; i < Constants.PAIRING_SLOTS; i++) {
            if (isUsed(i) && Util.arrayCompare(records, (short) (base(i) + OFFSET_NAME), name, offset,
                    Constants.NAME_LENGTH) == 0) {
                return i;
            }
        }
        return -1;
    }

    /** Stores a pairing in a free slot, all or nothing. */
    void store(short slot, byte[] name, short nameOffset, byte[] point, short pointOffset,
               byte[] akPoint, short akPointOffset, byte[] selection, short selectionOffset, byte options,
               byte[] pcrDigest, short pcrDigestOffset, byte[] secret, short secretOffset) {
        short b = base(slot);
        JCSystem.beginTransaction();
        Util.arrayCopy(name, nameOffset, records, (short) (b + OFFSET_NAME), Constants.NAME_LENGTH);
        Util.arrayCopy(point, pointOffset, records, (short) (b + OFFSET_POINT), (short) 65);
        Util.arrayCopy(selection, selectionOffset, records, (short) (b + OFFSET_SELECTION), (short) 3);
        records[(short) (b + OFFSET_OPTIONS)] = options;
        Util.arrayCopy(pcrDigest, pcrDigestOffset, records, (short) (b + OFFSET_PCR_DIGEST),
                Constants.DIGEST_LENGTH);
        curve.setDomainParameters(attestationKeys[slot]);
        attestationKeys[slot].setW(akPoint, akPointOffset, (short) 65);
        secrets[slot].setKey(secret, secretOffset);
        records[b] = USED;
        JCSystem.commitTransaction();
    }

    /**
     * Frees a slot: the "in use" byte, the rest of the record and the key material, all or nothing.
     * JavaCard 3.0.5 has no transactional fill (arrayFillNonAtomic's bytes are undefined after an
     * abort), so the record is zeroed with journaled copies of {@link #ZEROS}.
     */
    void remove(short slot) {
        short b = base(slot);
        JCSystem.beginTransaction();
        records[b] = 0;
        for (short at = (short) (b + 1), end = (short) (b + RECORD_LENGTH); at < end; at += (short) ZEROS.length) {
            short n = (short) (end - at);
            Util.arrayCopy(ZEROS, (short) 0, records, at, n < ZEROS.length ? n : (short) ZEROS.length);
        }
        secrets[slot].clearKey();
        attestationKeys[slot].clearKey();
        JCSystem.commitTransaction();
    }

    ECPublicKey attestationKey(short slot) {
        return attestationKeys[slot];
    }

    /** Copies the 32-byte pairing secret to out (RAM, wiped by the caller after use). */
    void readSecret(short slot, byte[] out, short offset) {
        secrets[slot].getKey(out, offset);
    }

    /** Copies length bytes of the record from its field offset. */
    short read(short slot, short field, byte[] out, short offset, short length) {
        return Util.arrayCopyNonAtomic(records, (short) (base(slot) + field), out, offset, length);
    }

    byte options(short slot) {
        return records[(short) (base(slot) + OFFSET_OPTIONS)];
    }

    byte[] records() {
        return records;
    }

    static short fieldOffset(short slot, short field) {
        return (short) (base(slot) + field);
    }
}
