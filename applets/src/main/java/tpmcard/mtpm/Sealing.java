package tpmcard.mtpm;

import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.Util;
import javacard.security.AESKey;
import javacard.security.CryptoException;
import javacard.security.ECPrivateKey;
import javacard.security.ECPublicKey;
import javacard.security.KeyAgreement;
import javacard.security.KeyBuilder;
import javacard.security.KeyPair;
import javacard.security.MessageDigest;
import tpmcard.core.HostPcrs;
import tpmcard.lib.ConstantTime;
import tpmcard.lib.P256;

/**
 * Sealed objects and migration (docs/mtpm.md "Sealing" and "Migration").
 *
 * <pre>
 * sealed blob = version 1 || key id 16 || serial 8 || selection 3 || pcrDigest 32 || flags 1
 *               || AES-256-CBC(SHA-256(auth) 32 || length 2 || secret || 0-pad) || CMAC 16
 * flags       = 01 has an auth value | 02 migratable (set at SEAL, never changed)
 * duplicate   = version 1 || kind 1 || nonce 8 || ephemeral point 65
 *               || AES-256-CBC(object) || CMAC 16
 * </pre>
 * MIGRATE EXPORT opens an object only if it was sealed migratable, only to a target key that a
 * certificate from the owner's migration anchor names, and only with everything UNSEAL needs
 * (the PCR policy and the auth value, under the dictionary-attack guard).
 * The blob's key id names the storage keys of this card and generation: a blob from another card
 * (or from before a CLEAR) is refused with SW_NOT_FOUND before any cryptography. The serial is
 * unique per card; a moved object's serial is revoked so this card no longer opens it.
 *
 * <p>Duplicate keys: Z = x(ECDH(ephemeral, target migration key)); K = SHA-256(00000001 || Z ||
 * label || ephemeral || target || nonce) for label 'e' (encryption) and 'm' (CMAC): the one-step
 * KDF of NIST SP 800-56C rev. 2 §4.1 with SHA-256, binding the keys to both points and the nonce.
 */
final class Sealing {
    static final short HEADER_LENGTH = 61;
    private static final short SERIAL_OFFSET = 17;
    private static final short POLICY_OFFSET = 25;  // selection 3 || pcrDigest 32 || flags 1
    private static final short POLICY_LENGTH = 36;
    private static final byte FLAG_AUTH = (byte) 0x01;
    private static final byte FLAG_MIGRATABLE = (byte) 0x02;
    private static final short FLAGS_OFFSET = 60;
    static final short DUPLICATE_HEADER_LENGTH = 75;
    private static final short POINT = 65;

    // Scratch layout (CLEAR_ON_RESET, SCRATCH_LENGTH bytes).
    private static final short S_HASH = 0;
    private static final short S_MAC = 32;
    private static final short S_DIGEST = 64;
    private static final short S_KDF = 96;      // counter 4 | Z 32 | label 1 | eph 65 | target 65 | nonce 8
    private static final short KDF_LENGTH = 175;
    private static final short S_KEY = 272;
    private static final short S_PLAIN = 320;   // up to 320
    private static final short S_OBJECT = 640;  // up to 336
    static final short SCRATCH_LENGTH = 1024;

    private final Keys keys;
    private final Pcrs pcrs;
    private final NvStore nv;
    private final Envelope envelope = new Envelope();
    private final MessageDigest sha256;
    private final byte[] serial = new byte[Constants.SERIAL_LENGTH];
    private final byte[] revoked = new byte[(short) (Constants.REVOCATION_SLOTS * Constants.SERIAL_LENGTH)];
    private short revokedCount;
    private final KeyPair ephemeral;
    private final KeyAgreement ecdh = KeyAgreement.getInstance(KeyAgreement.ALG_EC_SVDP_DH_PLAIN, true);
    private final AESKey duplicateEncryption = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES_TRANSIENT_RESET,
            KeyBuilder.LENGTH_AES_256, false);
    private final AESKey duplicateMac = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES_TRANSIENT_RESET,
            KeyBuilder.LENGTH_AES_256, false);

    private final DictionaryGuard guard;
    private final MigrationAnchor anchor;

    Sealing(Keys keys, Pcrs pcrs, NvStore nv, DictionaryGuard guard, MigrationAnchor anchor) {
        this.guard = guard;
        this.anchor = anchor;
        this.keys = keys;
        this.pcrs = pcrs;
        this.nv = nv;
        this.sha256 = keys.sha256();
        ECPublicKey publicKey = (ECPublicKey) KeyBuilder.buildKey(KeyBuilder.TYPE_EC_FP_PUBLIC, P256.KEY_LENGTH, false);
        ECPrivateKey privateKey = (ECPrivateKey) KeyBuilder.buildKey(KeyBuilder.TYPE_EC_FP_PRIVATE, P256.KEY_LENGTH, false);
        keys.curve.setDomainParameters(publicKey);
        keys.curve.setDomainParameters(privateKey);
        ephemeral = new KeyPair(publicKey, privateKey);
    }

    /** A fresh serial, persisted before use (atomic copy); written at out[off]. */
    private void nextSerial(byte[] out, short off) {
        Util.arrayCopyNonAtomic(serial, (short) 0, out, off, Constants.SERIAL_LENGTH);
        Marshal.increment(out, off, Constants.SERIAL_LENGTH);
        Util.arrayCopy(out, off, serial, (short) 0, Constants.SERIAL_LENGTH);
    }

    /** CLEAR: the revocation list is moot once the storage keys change. Inside CLEAR's transaction. */
    void clear() {
        Wipe.zero(revoked, (short) 0, (short) (revokedCount * Constants.SERIAL_LENGTH));
        revokedCount = 0;
    }

    /**
     * SEAL: P1 00 or P1_SEAL_MIGRATABLE; in = selection 3 || pcrDigest 32 || auth length 1 ||
     * auth || secret (1..128). Out: the sealed blob. An auth value needs an owned mobile TPM
     * ({@code owned}): only an owner can lift the dictionary-attack lockout that guards it.
     */
    short seal(byte p1, boolean owned, byte[] in, short off, short len, byte[] out, short outOff, byte[] scratch,
               Cursor c) {
        if (p1 != 0 && p1 != Constants.P1_SEAL_MIGRATABLE) {
            ISOException.throwIt(Constants.SW_INCORRECT_P1P2);
        }
        c.begin(off, len);
        short selection = c.take(Constants.SELECTION_LENGTH);
        Pcrs.checkSelection(in, selection);
        short digest = c.take(Constants.DIGEST_LENGTH);
        short authLength = c.lengthPrefixed(in, Constants.MAX_AUTH);
        short auth = c.take(authLength);
        short secretLength = c.remaining();
        if (secretLength < 1 || secretLength > Constants.MAX_SEALED_SECRET) {
            ISOException.throwIt(Constants.SW_WRONG_LENGTH);
        }
        if (authLength != 0 && !owned) {
            ISOException.throwIt(Constants.SW_OWNER_REQUIRED);
        }
        short secret = c.rest();
        // Plaintext: SHA-256(auth) || length || secret || 0-pad.
        short plainLength = Envelope.padded((short) (Constants.DIGEST_LENGTH + 2 + secretLength));
        Util.arrayFillNonAtomic(scratch, S_PLAIN, plainLength, (byte) 0);
        sha256.reset();
        sha256.doFinal(in, auth, authLength, scratch, S_PLAIN);
        Util.setShort(scratch, (short) (S_PLAIN + Constants.DIGEST_LENGTH), secretLength);
        Util.arrayCopyNonAtomic(in, secret, scratch, (short) (S_PLAIN + Constants.DIGEST_LENGTH + 2), secretLength);
        // Header.
        short h = outOff;
        out[h++] = Constants.BLOB_VERSION;
        h = Util.arrayCopyNonAtomic(keys.keyId, (short) 0, out, h, Constants.KEY_ID_LENGTH);
        nextSerial(out, h);
        h += Constants.SERIAL_LENGTH;
        h = Util.arrayCopyNonAtomic(in, selection, out, h, Constants.SELECTION_LENGTH);
        h = Util.arrayCopyNonAtomic(in, digest, out, h, Constants.DIGEST_LENGTH);
        out[h] = (byte) ((authLength != 0 ? FLAG_AUTH : 0) | (p1 == Constants.P1_SEAL_MIGRATABLE ? FLAG_MIGRATABLE : 0));
        return envelope.wrap(keys.storageEncryption, keys.storageMac, out, outOff, HEADER_LENGTH,
                (short) (outOff + SERIAL_OFFSET), scratch, S_PLAIN, plainLength);
    }

    /**
     * Checks a blob's version, key id, MAC and revocation; decrypts it into scratch[S_PLAIN];
     * returns the secret's length (secret at S_PLAIN + 34).
     */
    private short open(byte[] in, short blob, short blobLength, byte[] scratch) {
        if (blobLength < (short) (HEADER_LENGTH + Envelope.BLOCK * 3 + Envelope.MAC_LENGTH)
                || blobLength > (short) (HEADER_LENGTH + Envelope.padded((short) (34 + Constants.MAX_SEALED_SECRET))
                        + Envelope.MAC_LENGTH)
                || in[blob] != Constants.BLOB_VERSION) {
            ISOException.throwIt(Constants.SW_OBJECT_INVALID);
        }
        if (Util.arrayCompare(in, (short) (blob + 1), keys.keyId, (short) 0, Constants.KEY_ID_LENGTH) != 0) {
            ISOException.throwIt(Constants.SW_NOT_FOUND);  // another card's, or sealed before CLEAR
        }
        short plainLength = envelope.unwrap(keys.storageEncryption, keys.storageMac, in, blob, blobLength,
                HEADER_LENGTH, (short) (blob + SERIAL_OFFSET), scratch, S_PLAIN, scratch, S_MAC);
        if (isRevoked(in, (short) (blob + SERIAL_OFFSET))) {
            ISOException.throwIt(Constants.SW_OBJECT_INVALID);
        }
        short secretLength = Util.getShort(scratch, (short) (S_PLAIN + Constants.DIGEST_LENGTH));
        if (secretLength < 1 || (short) (secretLength + 34) > plainLength) {
            ISOException.throwIt(Constants.SW_OBJECT_INVALID);
        }
        return secretLength;
    }

    /**
     * UNSEAL: in = auth length 1 || auth || blob. The selected PCRs of the combined view must give
     * the blob's pcrDigest, and SHA-256(auth) must match (both compared in constant time).
     */
    short unseal(byte[] in, short off, short len, HostPcrs host, byte[] slot, short slotOff, byte[] out, short outOff,
                 byte[] scratch, Cursor c) {
        c.begin(off, len);
        short authLength = c.lengthPrefixed(in, Constants.MAX_AUTH);
        short auth = c.take(authLength);
        short blobLength = c.remaining();
        short blob = c.rest();
        short secretLength = open(in, blob, blobLength, scratch);
        authorize(in, blob, auth, authLength, host, slot, slotOff, scratch);
        Util.arrayCopyNonAtomic(scratch, (short) (S_PLAIN + 34), out, outOff, secretLength);
        Util.arrayFillNonAtomic(scratch, S_PLAIN, (short) 320, (byte) 0);
        return secretLength;
    }

    /**
     * What UNSEAL and MIGRATE EXPORT both demand of an opened blob (plaintext at S_PLAIN): the
     * selected PCRs of the combined view give its pcrDigest, then SHA-256(auth) matches, under
     * the dictionary-attack guard (a try charged before the compare; objects without an auth
     * value exempt). Both compares are constant-time; any refusal wipes the plaintext first.
     */
    private void authorize(byte[] in, short blob, short auth, short authLength, HostPcrs host, byte[] slot,
                           short slotOff, byte[] scratch) {
        pcrs.compositeDigest(in, (short) (blob + POLICY_OFFSET), host, slot, slotOff, scratch, S_DIGEST);
        if (!ConstantTime.equals(scratch, S_DIGEST, in, (short) (blob + POLICY_OFFSET + Constants.SELECTION_LENGTH),
                Constants.DIGEST_LENGTH)) {
            Util.arrayFillNonAtomic(scratch, S_PLAIN, (short) 320, (byte) 0);
            ISOException.throwIt(Constants.SW_POLICY_MISMATCH);
        }
        // Dictionary-attack guard: charge a try before comparing (objects without an auth value
        // are exempt); wipe the opened secret before any refusal.
        boolean guarded = !DictionaryGuard.hasNoAuth(scratch, S_PLAIN);
        if (guarded && guard.remaining() <= 0) {
            Util.arrayFillNonAtomic(scratch, S_PLAIN, (short) 320, (byte) 0);
        }
        if (guarded) {
            guard.charge();
        }
        sha256.reset();
        sha256.doFinal(in, auth, authLength, scratch, S_HASH);
        if (!ConstantTime.equals(scratch, S_HASH, scratch, S_PLAIN, Constants.DIGEST_LENGTH)) {
            Util.arrayFillNonAtomic(scratch, S_PLAIN, (short) 320, (byte) 0);
            ISOException.throwIt(Constants.SW_AUTH_FAILED);
        }
        if (guarded) {
            guard.succeeded();
        }
    }

    private boolean isRevoked(byte[] in, short serialOff) {
        for (short i = 0; i < revokedCount; i++) {
            if (Util.arrayCompare(revoked, (short) (i * Constants.SERIAL_LENGTH), in, serialOff,
                    Constants.SERIAL_LENGTH) == 0) {
                return true;
            }
        }
        return false;
    }

    /** Derives the duplicate keys; scratch[S_KDF..] already holds eph || target || nonce after Z. */
    private void deriveDuplicateKeys(ECPrivateKey own, byte[] peer, short peerOff, byte[] scratch) {
        ecdh.init(own);
        short zLength = 0;
        try {
            zLength = ecdh.generateSecret(peer, peerOff, POINT, scratch, (short) (S_KDF + 4));
        } catch (CryptoException e) {
            // A point off the curve (JavaCard 3.0.5: ILLEGAL_VALUE). jCardSim throws
            // IllegalArgumentException instead, which the core applet answers 6F00.
            ISOException.throwIt(Constants.SW_OBJECT_INVALID);
        }
        if (zLength != 32) {
            ISOException.throwIt(Constants.SW_WRONG_DATA);
        }
        Marshal.u32(scratch, S_KDF, (short) 0, (short) 1);
        scratch[(short) (S_KDF + 36)] = (byte) 'e';
        sha256.reset();
        sha256.doFinal(scratch, S_KDF, KDF_LENGTH, scratch, S_KEY);
        duplicateEncryption.setKey(scratch, S_KEY);
        scratch[(short) (S_KDF + 36)] = (byte) 'm';
        sha256.reset();
        sha256.doFinal(scratch, S_KDF, KDF_LENGTH, scratch, S_KEY);
        duplicateMac.setKey(scratch, S_KEY);
        Util.arrayFillNonAtomic(scratch, S_KDF, (short) (KDF_LENGTH + 1 + 32), (byte) 0);
    }

    /**
     * MIGRATE EXPORT (owner set and its auth checked by the caller). in = auth length 1 || the
     * object's auth || certificate length 1 || target certificate || (blob | handle 4).
     *
     * <p>Refused unless the certificate verifies against the migration anchor (6A85), the object
     * is migratable (6A87; a counter also only by a move: a copy would let it run twice), and —
     * for a sealed object — the PCR policy holds (6985) and the auth value is right (6982, under
     * the dictionary-attack guard), exactly as for UNSEAL; an NV index needs its auth value.
     * Out: the duplicate, wrapped to the certified key only. The duplicate's nonce (the next
     * serial) and, for a move, the revocation of the blob's serial or the removal of the index
     * are written in ONE transaction before the duplicate leaves the card: torn before the
     * commit, the object stays here and no duplicate exists.
     */
    short export(byte kind, boolean move, byte[] in, short off, short len, HostPcrs host, byte[] pcrSlot,
                 short pcrSlotOff, byte[] out, short outOff, byte[] scratch, Cursor c) {
        c.begin(off, len);
        short authLength = c.lengthPrefixed(in, Constants.MAX_AUTH);
        short auth = c.take(authLength);
        short certificateLength = c.lengthPrefixed(in, Constants.MAX_TARGET_CERT);
        short target = anchor.verify(in, c.take(certificateLength), certificateLength, keys.ecdsa);
        short objectLength;
        short slot = -1;
        short blob = 0;
        if (kind == Constants.P2_OBJECT_SEALED) {
            short blobLength = c.remaining();
            blob = c.rest();
            short secretLength = open(in, blob, blobLength, scratch);
            if ((in[(short) (blob + FLAGS_OFFSET)] & FLAG_MIGRATABLE) == 0) {
                Util.arrayFillNonAtomic(scratch, S_PLAIN, (short) 320, (byte) 0);
                ISOException.throwIt(Constants.SW_NOT_MIGRATABLE);
            }
            if (move && revokedCount >= Constants.REVOCATION_SLOTS) {
                Util.arrayFillNonAtomic(scratch, S_PLAIN, (short) 320, (byte) 0);
                ISOException.throwIt(Constants.SW_NOT_ENOUGH_MEMORY);
            }
            authorize(in, blob, auth, authLength, host, pcrSlot, pcrSlotOff, scratch);
            // Object: policy 36 || SHA-256(auth) 32 || length 2 || secret.
            Util.arrayCopyNonAtomic(in, (short) (blob + POLICY_OFFSET), scratch, S_OBJECT, POLICY_LENGTH);
            objectLength = (short) (POLICY_LENGTH + 34 + secretLength);
            Util.arrayCopyNonAtomic(scratch, S_PLAIN, scratch, (short) (S_OBJECT + POLICY_LENGTH),
                    (short) (34 + secretLength));
        } else if (kind == Constants.P2_OBJECT_NV) {
            short handle = c.take((short) 4);
            c.end();
            slot = nv.find(in, handle);
            if (!nv.isMigratable(slot) || (nv.isCounter(slot) && !move)) {
                ISOException.throwIt(Constants.SW_NOT_MIGRATABLE);
            }
            sha256.reset();
            sha256.doFinal(in, auth, authLength, scratch, S_HASH);
            nv.checkAuth(slot, scratch, S_HASH, guard);
            objectLength = (short) (nv.export(slot, scratch, S_OBJECT) - S_OBJECT);
        } else {
            ISOException.throwIt(Constants.SW_INCORRECT_P1P2);
            return 0;
        }
        short plainLength = Envelope.padded(objectLength);
        Util.arrayFillNonAtomic(scratch, (short) (S_OBJECT + objectLength), (short) (plainLength - objectLength),
                (byte) 0);

        // Header: version || kind || nonce || ephemeral point. The nonce is the next serial,
        // persisted below together with the move.
        short h = outOff;
        out[h++] = Constants.DUPLICATE_VERSION;
        out[h++] = kind;
        short nonce = h;
        Util.arrayCopyNonAtomic(serial, (short) 0, out, nonce, Constants.SERIAL_LENGTH);
        Marshal.increment(out, nonce, Constants.SERIAL_LENGTH);
        h += Constants.SERIAL_LENGTH;
        // Parameters again each time: clearKey() below may drop them (jCardSim does).
        keys.curve.setDomainParameters((ECPublicKey) ephemeral.getPublic());
        keys.curve.setDomainParameters((ECPrivateKey) ephemeral.getPrivate());
        ephemeral.genKeyPair();
        ((ECPublicKey) ephemeral.getPublic()).getW(out, h);
        // KDF input: [4 counter][32 Z][1 label][eph 65][target 65][nonce 8]
        Util.arrayCopyNonAtomic(out, h, scratch, (short) (S_KDF + 37), POINT);
        Util.arrayCopyNonAtomic(in, target, scratch, (short) (S_KDF + 37 + POINT), POINT);
        Util.arrayCopyNonAtomic(out, nonce, scratch, (short) (S_KDF + 37 + 2 * POINT), Constants.SERIAL_LENGTH);
        deriveDuplicateKeys((ECPrivateKey) ephemeral.getPrivate(), in, target, scratch);
        ephemeral.getPrivate().clearKey();
        short length = envelope.wrap(duplicateEncryption, duplicateMac, out, outOff, DUPLICATE_HEADER_LENGTH,
                nonce, scratch, S_OBJECT, plainLength);
        duplicateEncryption.clearKey();
        duplicateMac.clearKey();
        Util.arrayFillNonAtomic(scratch, S_PLAIN, (short) (SCRATCH_LENGTH - S_PLAIN), (byte) 0);

        JCSystem.beginTransaction();
        Util.arrayCopy(out, nonce, serial, (short) 0, Constants.SERIAL_LENGTH);
        if (move) {
            if (slot >= 0) {
                nv.erase(slot);
            } else {
                Util.arrayCopy(in, (short) (blob + SERIAL_OFFSET), revoked,
                        (short) (revokedCount * Constants.SERIAL_LENGTH), Constants.SERIAL_LENGTH);
                revokedCount++;
            }
        }
        JCSystem.commitTransaction();
        return length;
    }

    /**
     * MIGRATE IMPORT (owner set and its auth checked by the caller). in = duplicate made for this
     * card's migration key. Sealed object: out = a blob under this card's storage keys, with the
     * source's policy and flags (a migratable object stays migratable). NV: defines it; a counter
     * starts at max(its value, this card's high-water mark), so importing the same duplicate
     * again (after an undefine) never makes it repeat a value.
     */
    short importObject(byte kind, byte[] in, short off, short len, byte[] out, short outOff, byte[] scratch) {
        if (len < (short) (DUPLICATE_HEADER_LENGTH + Envelope.BLOCK + Envelope.MAC_LENGTH)
                || len > (short) (DUPLICATE_HEADER_LENGTH + 336 + Envelope.MAC_LENGTH)
                || in[off] != Constants.DUPLICATE_VERSION || in[(short) (off + 1)] != kind) {
            ISOException.throwIt(Constants.SW_WRONG_DATA);
        }
        short nonce = (short) (off + 2);
        short point = (short) (nonce + Constants.SERIAL_LENGTH);
        Util.arrayCopyNonAtomic(in, point, scratch, (short) (S_KDF + 37), POINT);
        Util.arrayCopyNonAtomic(keys.migrationPoint, (short) 0, scratch, (short) (S_KDF + 37 + POINT), POINT);
        Util.arrayCopyNonAtomic(in, nonce, scratch, (short) (S_KDF + 37 + 2 * POINT), Constants.SERIAL_LENGTH);
        deriveDuplicateKeys((ECPrivateKey) keys.migration.keyPair().getPrivate(), in, point, scratch);
        short plainLength = envelope.unwrap(duplicateEncryption, duplicateMac, in, off, len, DUPLICATE_HEADER_LENGTH,
                nonce, scratch, S_OBJECT, scratch, S_MAC);
        duplicateEncryption.clearKey();
        duplicateMac.clearKey();
        short result;
        if (kind == Constants.P2_OBJECT_SEALED) {
            short secretLength = Util.getShort(scratch, (short) (S_OBJECT + POLICY_LENGTH + 32));
            if (secretLength < 1 || secretLength > Constants.MAX_SEALED_SECRET
                    || (short) (POLICY_LENGTH + 34 + secretLength) > plainLength) {
                ISOException.throwIt(Constants.SW_WRONG_DATA);
            }
            short innerLength = Envelope.padded((short) (34 + secretLength));
            Util.arrayFillNonAtomic(scratch, S_PLAIN, innerLength, (byte) 0);
            Util.arrayCopyNonAtomic(scratch, (short) (S_OBJECT + POLICY_LENGTH), scratch, S_PLAIN,
                    (short) (34 + secretLength));
            short h = outOff;
            out[h++] = Constants.BLOB_VERSION;
            h = Util.arrayCopyNonAtomic(keys.keyId, (short) 0, out, h, Constants.KEY_ID_LENGTH);
            nextSerial(out, h);
            h += Constants.SERIAL_LENGTH;
            Util.arrayCopyNonAtomic(scratch, S_OBJECT, out, h, POLICY_LENGTH);
            result = envelope.wrap(keys.storageEncryption, keys.storageMac, out, outOff, HEADER_LENGTH,
                    (short) (outOff + SERIAL_OFFSET), scratch, S_PLAIN, innerLength);
        } else {
            short size = Util.getShort(scratch, (short) (S_OBJECT + 5));
            if (size < 1 || size > Constants.MAX_NV_SIZE || (short) (39 + size) > plainLength) {
                ISOException.throwIt(Constants.SW_WRONG_DATA);
            }
            JCSystem.beginTransaction();
            nv.define(scratch, S_OBJECT, scratch[(short) (S_OBJECT + 4)], size, scratch, (short) (S_OBJECT + 7),
                    scratch, (short) (S_OBJECT + 39));
            JCSystem.commitTransaction();
            result = 0;
        }
        Util.arrayFillNonAtomic(scratch, S_PLAIN, (short) (SCRATCH_LENGTH - S_PLAIN), (byte) 0);
        return result;
    }
}
