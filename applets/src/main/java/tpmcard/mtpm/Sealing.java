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
 * One transient AES key holds K_e or K_m in turn (each derived when it is needed).
 *
 * <p>RAM (docs/mtpm.md "RAM"): the service's small scratch holds hashes, the MAC to compare, the
 * IV and the KDF's Z; plaintexts never take RAM of their own. A command that came in the APDU
 * buffer (direct) is decrypted and encrypted in place there: the blob's ciphertext becomes its
 * plaintext, a new blob's plaintext is built where its ciphertext goes. A staged command's data
 * and answer are persistent arrays, so its plaintext goes to the free APDU buffer window
 * ({@code work}) instead and no secret is written to EEPROM; only an NV index's contents (which
 * live in EEPROM anyway) are handled in place in the staged arrays.
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
    /** Plaintext of a sealed blob: SHA-256(auth) 32 || length 2 || secret. */
    private static final short INNER = 34;
    /** Largest plaintexts: a blob's (176), a sealed object's in a duplicate (policy 36 first: 212, 224 padded). */
    private static final short MAX_BLOB_PLAIN = 176;
    private static final short MAX_OBJECT_PLAIN = (short) (POLICY_LENGTH + MAX_BLOB_PLAIN);

    // Scratch layout (the service's CLEAR_ON_RESET scratch, at least SCRATCH_USED bytes).
    private static final short S_HASH = 0;      // SHA-256(auth) 32
    private static final short S_DIGEST = 32;   // pcrDigest 32
    private static final short S_KDF = 0;       // counter 4 | Z 32 | label 1 (after authorize)
    private static final short KDF_HEAD = 37;
    private static final short S_KEY = 40;      // a derived key 32
    private static final short S_IV = 72;       // Envelope's IV block 16
    private static final short S_MAC = 88;      // the MAC to compare 16
    static final short SCRATCH_USED = 104;

    private final Keys keys;
    private final Pcrs pcrs;
    private final NvStore nv;
    private final Envelope envelope = new Envelope();
    private final MessageDigest sha256;
    /** The last serial reserved (handed out or not); serialLeft of its block are still to come. */
    private final byte[] serial = new byte[Constants.SERIAL_LENGTH];
    private final short[] serialLeft = JCSystem.makeTransientShortArray((short) 1, JCSystem.CLEAR_ON_RESET);
    private static final short SERIAL_BLOCK = 256;
    private final byte[] revoked = new byte[(short) (Constants.REVOCATION_SLOTS * Constants.SERIAL_LENGTH)];
    private short revokedCount;
    private final KeyPair ephemeral;
    private final KeyAgreement ecdh = KeyAgreement.getInstance(KeyAgreement.ALG_EC_SVDP_DH_PLAIN, true);
    /** K_e or K_m of a duplicate, one at a time (RAM: derived per migration, never in EEPROM). */
    private final AESKey duplicateKey = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES_TRANSIENT_RESET,
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

    /**
     * A fresh serial at out[off], from a block reserved in EEPROM before any of it is used
     * (Marshal.nextReserved): unique per card, across resets and tears, at one EEPROM write per
     * SERIAL_BLOCK seals and imports instead of one each.
     */
    private void nextSerial(byte[] out, short off) {
        Marshal.nextReserved(serial, serialLeft, SERIAL_BLOCK, out, off, Constants.SERIAL_LENGTH);
    }

    Envelope envelope() {
        return envelope;
    }

    /** CLEAR: the revocation list is moot once the storage keys change. Inside CLEAR's transaction. */
    void clear() {
        Wipe.zero(revoked, (short) 0, (short) (revokedCount * Constants.SERIAL_LENGTH));
        revokedCount = 0;
    }

    /** A staged command's plaintext area: work[workOff..workEnd) must hold {@code length} bytes. */
    private static short workArea(short workOff, short workEnd, short length) {
        if ((short) (workEnd - workOff) < length) {
            ISOException.throwIt(Constants.SW_WRONG_LENGTH);  // a window below 260 bytes: not a card we know
        }
        return workOff;
    }

    private static void wipe(byte[] area, short off, short length) {
        Util.arrayFillNonAtomic(area, off, length, (byte) 0);
    }

    /**
     * SEAL: P1 00 or P1_SEAL_MIGRATABLE; in = selection 3 || pcrDigest 32 || auth length 1 ||
     * auth || secret (1..128). Out: the sealed blob. An auth value needs an owned mobile TPM
     * ({@code owned}): only an owner can lift the dictionary-attack lockout that guards it.
     * The plaintext is built where its ciphertext goes (out in the APDU buffer), or in the
     * window (work) when out is the persistent staged answer.
     */
    short seal(byte p1, boolean owned, byte[] in, short off, short len, byte[] out, short outOff, byte[] work,
               short workOff, short workEnd, byte[] scratch, Cursor c) {
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
        short plainLength = Envelope.padded((short) (INNER + secretLength));
        boolean inPlace = out == work;
        byte[] pt = inPlace ? out : work;
        short ptOff = inPlace ? (short) (outOff + HEADER_LENGTH) : workArea(workOff, workEnd, plainLength);
        Util.arrayFillNonAtomic(pt, ptOff, plainLength, (byte) 0);
        Util.arrayCopyNonAtomic(in, secret, pt, (short) (ptOff + INNER), secretLength);
        sha256.reset();
        sha256.doFinal(in, auth, authLength, pt, ptOff);
        Util.setShort(pt, (short) (ptOff + Constants.DIGEST_LENGTH), secretLength);
        // Header.
        short h = outOff;
        out[h++] = Constants.BLOB_VERSION;
        h = Util.arrayCopyNonAtomic(keys.keyId, (short) 0, out, h, Constants.KEY_ID_LENGTH);
        nextSerial(out, h);
        h += Constants.SERIAL_LENGTH;
        h = Util.arrayCopyNonAtomic(in, selection, out, h, Constants.SELECTION_LENGTH);
        h = Util.arrayCopyNonAtomic(in, digest, out, h, Constants.DIGEST_LENGTH);
        out[h] = (byte) ((authLength != 0 ? FLAG_AUTH : 0) | (p1 == Constants.P1_SEAL_MIGRATABLE ? FLAG_MIGRATABLE : 0));
        short length = envelope.wrap(keys.storageEncryption, keys.storageMac, out, outOff, HEADER_LENGTH,
                (short) (outOff + SERIAL_OFFSET), pt, ptOff, plainLength, scratch, S_IV);
        if (!inPlace) {
            wipe(pt, ptOff, plainLength);
        }
        return length;
    }

    /**
     * Checks a blob's version, length, key id, MAC and revocation; decrypts it into pt[ptOff]
     * (in place: ptOff = blob + HEADER_LENGTH); returns the plaintext length. The secret's
     * length is at pt[ptOff + 32], the secret at pt[ptOff + 34].
     */
    private short open(byte[] in, short blob, short blobLength, byte[] pt, short ptOff, byte[] scratch) {
        if (blobLength < (short) (HEADER_LENGTH + Envelope.BLOCK * 3 + Envelope.MAC_LENGTH)
                || blobLength > (short) (HEADER_LENGTH + MAX_BLOB_PLAIN + Envelope.MAC_LENGTH)
                || in[blob] != Constants.BLOB_VERSION) {
            ISOException.throwIt(Constants.SW_OBJECT_INVALID);
        }
        if (Util.arrayCompare(in, (short) (blob + 1), keys.keyId, (short) 0, Constants.KEY_ID_LENGTH) != 0) {
            ISOException.throwIt(Constants.SW_NOT_FOUND);  // another card's, or sealed before CLEAR
        }
        if (isRevoked(in, (short) (blob + SERIAL_OFFSET))) {
            ISOException.throwIt(Constants.SW_OBJECT_INVALID);
        }
        short plainLength = envelope.unwrap(keys.storageEncryption, keys.storageMac, in, blob, blobLength,
                HEADER_LENGTH, (short) (blob + SERIAL_OFFSET), pt, ptOff, scratch, S_MAC);
        short secretLength = Util.getShort(pt, (short) (ptOff + Constants.DIGEST_LENGTH));
        if (secretLength < 1 || (short) (secretLength + INNER) > plainLength) {
            wipe(pt, ptOff, plainLength);
            ISOException.throwIt(Constants.SW_OBJECT_INVALID);
        }
        return plainLength;
    }

    /**
     * UNSEAL: in = auth length 1 || auth || blob. The selected PCRs of the combined view must give
     * the blob's pcrDigest, and SHA-256(auth) must match (both compared in constant time). The
     * blob is decrypted in place (in the APDU buffer), or into the window when staged.
     */
    short unseal(byte[] in, short off, short len, HostPcrs host, byte[] slot, short slotOff, byte[] out, short outOff,
                 byte[] work, short workOff, short workEnd, byte[] scratch, Cursor c) {
        c.begin(off, len);
        short authLength = c.lengthPrefixed(in, Constants.MAX_AUTH);
        short auth = c.take(authLength);
        short blobLength = c.remaining();
        short blob = c.rest();
        boolean inPlace = in == work;
        byte[] pt = inPlace ? in : work;
        short ptOff = inPlace ? (short) (blob + HEADER_LENGTH) : workArea(workOff, workEnd, MAX_BLOB_PLAIN);
        short plainLength = open(in, blob, blobLength, pt, ptOff, scratch);
        authorize(in, blob, auth, authLength, host, slot, slotOff, pt, ptOff, plainLength, scratch);
        short secretLength = Util.getShort(pt, (short) (ptOff + Constants.DIGEST_LENGTH));
        Util.arrayCopyNonAtomic(pt, (short) (ptOff + INNER), out, outOff, secretLength);
        wipe(pt, ptOff, plainLength);
        return secretLength;
    }

    /**
     * What UNSEAL and MIGRATE EXPORT both demand of an opened blob (plaintext at pt[ptOff]): the
     * selected PCRs of the combined view give its pcrDigest, then SHA-256(auth) matches, under
     * the dictionary-attack guard (a try charged before the compare; objects without an auth
     * value exempt). Both compares are constant-time; any refusal wipes the plaintext first.
     */
    private void authorize(byte[] in, short blob, short auth, short authLength, HostPcrs host, byte[] slot,
                           short slotOff, byte[] pt, short ptOff, short plainLength, byte[] scratch) {
        pcrs.compositeDigest(in, (short) (blob + POLICY_OFFSET), host, slot, slotOff, scratch, S_DIGEST);
        if (!ConstantTime.equals(scratch, S_DIGEST, in, (short) (blob + POLICY_OFFSET + Constants.SELECTION_LENGTH),
                Constants.DIGEST_LENGTH)) {
            wipe(pt, ptOff, plainLength);
            ISOException.throwIt(Constants.SW_POLICY_MISMATCH);
        }
        // Dictionary-attack guard: charge a try before comparing (objects without an auth value
        // are exempt); wipe the opened secret before any refusal.
        boolean guarded = !DictionaryGuard.hasNoAuth(pt, ptOff);
        if (guarded && guard.remaining() <= 0) {
            wipe(pt, ptOff, plainLength);
        }
        if (guarded) {
            guard.charge();
        }
        sha256.reset();
        sha256.doFinal(in, auth, authLength, scratch, S_HASH);
        if (!ConstantTime.equals(scratch, S_HASH, pt, ptOff, Constants.DIGEST_LENGTH)) {
            wipe(pt, ptOff, plainLength);
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

    /** Z = x(ECDH(own, peer)) at scratch[S_KDF + 4]. */
    private void agree(ECPrivateKey own, byte[] peer, short peerOff, byte[] scratch) {
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
    }

    /** duplicateKey = SHA-256(00000001 || Z || label || eph 65 || target 65 || nonce 8). */
    private void deriveDuplicateKey(byte label, byte[] eph, short ephOff, byte[] target, short targetOff,
                                    byte[] nonce, short nonceOff, byte[] scratch) {
        scratch[(short) (S_KDF + 36)] = label;
        sha256.reset();
        sha256.update(scratch, S_KDF, KDF_HEAD);
        sha256.update(eph, ephOff, POINT);
        sha256.update(target, targetOff, POINT);
        sha256.doFinal(nonce, nonceOff, Constants.SERIAL_LENGTH, scratch, S_KEY);
        duplicateKey.setKey(scratch, S_KEY);
        wipe(scratch, S_KEY, (short) 32);
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
     *
     * <p>The object (plaintext) is assembled: for a sealed object, in place in the blob (its
     * policy is right before its ciphertext) or in the window when staged; for an NV index, where
     * the duplicate's ciphertext goes.
     */
    short export(byte kind, boolean move, byte[] in, short off, short len, HostPcrs host, byte[] pcrSlot,
                 short pcrSlotOff, byte[] out, short outOff, byte[] work, short workOff, short workEnd,
                 byte[] scratch, Cursor c) {
        c.begin(off, len);
        short authLength = c.lengthPrefixed(in, Constants.MAX_AUTH);
        short auth = c.take(authLength);
        short certificateLength = c.lengthPrefixed(in, Constants.MAX_TARGET_CERT);
        short target = anchor.verify(in, c.take(certificateLength), certificateLength, keys.ecdsa);
        short objectLength;
        short slot = -1;
        short blob = 0;
        byte[] object;
        short objectOff;
        if (kind == Constants.P2_OBJECT_SEALED) {
            short blobLength = c.remaining();
            blob = c.rest();
            boolean inPlace = in == work;
            object = inPlace ? in : work;
            objectOff = inPlace ? (short) (blob + POLICY_OFFSET) : workArea(workOff, workEnd, MAX_OBJECT_PLAIN);
            short ptOff = (short) (objectOff + POLICY_LENGTH);
            short plainLength = open(in, blob, blobLength, object, ptOff, scratch);
            if ((in[(short) (blob + FLAGS_OFFSET)] & FLAG_MIGRATABLE) == 0) {
                wipe(object, ptOff, plainLength);
                ISOException.throwIt(Constants.SW_NOT_MIGRATABLE);
            }
            if (move && revokedCount >= Constants.REVOCATION_SLOTS) {
                wipe(object, ptOff, plainLength);
                ISOException.throwIt(Constants.SW_NOT_ENOUGH_MEMORY);
            }
            authorize(in, blob, auth, authLength, host, pcrSlot, pcrSlotOff, object, ptOff, plainLength, scratch);
            // Object: policy 36 || SHA-256(auth) 32 || length 2 || secret.
            Util.arrayCopyNonAtomic(in, (short) (blob + POLICY_OFFSET), object, objectOff, POLICY_LENGTH);
            objectLength = (short) (POLICY_LENGTH + INNER + Util.getShort(object, (short) (ptOff + 32)));
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
            object = out;
            objectOff = (short) (outOff + DUPLICATE_HEADER_LENGTH);
            objectLength = (short) (nv.export(slot, object, objectOff) - objectOff);
        } else {
            ISOException.throwIt(Constants.SW_INCORRECT_P1P2);
            return 0;
        }
        short plainLength = Envelope.padded(objectLength);
        Util.arrayFillNonAtomic(object, (short) (objectOff + objectLength), (short) (plainLength - objectLength),
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
        agree((ECPrivateKey) ephemeral.getPrivate(), in, target, scratch);
        ephemeral.getPrivate().clearKey();
        deriveDuplicateKey((byte) 'e', out, h, in, target, out, nonce, scratch);
        envelope.encrypt(duplicateKey, out, outOff, DUPLICATE_HEADER_LENGTH, nonce, object, objectOff, plainLength,
                scratch, S_IV);
        if (kind == Constants.P2_OBJECT_SEALED) {
            wipe(object, objectOff, plainLength);  // the secret, in the blob's place or the window
        }
        deriveDuplicateKey((byte) 'm', out, h, in, target, out, nonce, scratch);
        short length = envelope.sign(duplicateKey, out, outOff, (short) (DUPLICATE_HEADER_LENGTH + plainLength));
        duplicateKey.clearKey();
        wipe(scratch, S_KDF, KDF_HEAD);

        JCSystem.beginTransaction();
        Util.arrayCopy(out, nonce, serial, (short) 0, Constants.SERIAL_LENGTH);
        serialLeft[0] = 0;  // the nonce is above every serial reserved: seals reserve a new block
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
     * again (after an undefine) never makes it repeat a value. The duplicate is decrypted in
     * place, except a sealed object's when staged (into the window: its secret stays off EEPROM).
     */
    short importObject(byte kind, byte[] in, short off, short len, byte[] out, short outOff, byte[] work,
                       short workOff, short workEnd, byte[] scratch) {
        if (len < (short) (DUPLICATE_HEADER_LENGTH + Envelope.BLOCK + Envelope.MAC_LENGTH)
                || len > (short) (DUPLICATE_HEADER_LENGTH + 336 + Envelope.MAC_LENGTH)
                || in[off] != Constants.DUPLICATE_VERSION || in[(short) (off + 1)] != kind
                || (kind == Constants.P2_OBJECT_SEALED && len > (short) (DUPLICATE_HEADER_LENGTH
                        + Envelope.padded(MAX_OBJECT_PLAIN) + Envelope.MAC_LENGTH))) {
            ISOException.throwIt(Constants.SW_WRONG_DATA);
        }
        short nonce = (short) (off + 2);
        short point = (short) (nonce + Constants.SERIAL_LENGTH);
        boolean inPlace = in == work || kind != Constants.P2_OBJECT_SEALED;
        byte[] pt = inPlace ? in : work;
        short ptOff = inPlace ? (short) (off + DUPLICATE_HEADER_LENGTH)
                : workArea(workOff, workEnd, Envelope.padded(MAX_OBJECT_PLAIN));
        byte[] target = keys.migrationPoint;
        agree((ECPrivateKey) keys.migration.keyPair().getPrivate(), in, point, scratch);
        deriveDuplicateKey((byte) 'm', in, point, target, (short) 0, in, nonce, scratch);
        short ctLength = envelope.verify(duplicateKey, in, off, len, DUPLICATE_HEADER_LENGTH, scratch, S_MAC);
        deriveDuplicateKey((byte) 'e', in, point, target, (short) 0, in, nonce, scratch);
        wipe(scratch, S_KDF, KDF_HEAD);
        short plainLength = envelope.decrypt(duplicateKey, in, off, DUPLICATE_HEADER_LENGTH, ctLength, nonce, pt,
                ptOff, scratch, S_IV);
        duplicateKey.clearKey();
        short result = 0;
        if (kind == Constants.P2_OBJECT_SEALED) {
            short secretLength = Util.getShort(pt, (short) (ptOff + POLICY_LENGTH + 32));
            if (secretLength < 1 || secretLength > Constants.MAX_SEALED_SECRET
                    || (short) (POLICY_LENGTH + INNER + secretLength) > plainLength) {
                wipe(pt, ptOff, plainLength);
                ISOException.throwIt(Constants.SW_WRONG_DATA);
            }
            // The blob's plaintext is the object's after its policy: pad it where it lies.
            short inner = (short) (ptOff + POLICY_LENGTH);
            short innerLength = Envelope.padded((short) (INNER + secretLength));
            Util.arrayFillNonAtomic(pt, (short) (inner + INNER + secretLength),
                    (short) (innerLength - INNER - secretLength), (byte) 0);
            short h = outOff;
            out[h++] = Constants.BLOB_VERSION;
            h = Util.arrayCopyNonAtomic(keys.keyId, (short) 0, out, h, Constants.KEY_ID_LENGTH);
            nextSerial(out, h);
            h += Constants.SERIAL_LENGTH;
            Util.arrayCopyNonAtomic(pt, ptOff, out, h, POLICY_LENGTH);
            result = envelope.wrap(keys.storageEncryption, keys.storageMac, out, outOff, HEADER_LENGTH,
                    (short) (outOff + SERIAL_OFFSET), pt, inner, innerLength, scratch, S_IV);
            short used = (short) (POLICY_LENGTH + innerLength);
            wipe(pt, ptOff, used > plainLength ? used : plainLength);
        } else {
            short size = Util.getShort(pt, (short) (ptOff + 5));
            if (size < 1 || size > Constants.MAX_NV_SIZE || (short) (39 + size) > plainLength) {
                wipe(pt, ptOff, plainLength);
                ISOException.throwIt(Constants.SW_WRONG_DATA);
            }
            JCSystem.beginTransaction();
            nv.define(pt, ptOff, pt[(short) (ptOff + 4)], size, pt, (short) (ptOff + 7), pt, (short) (ptOff + 39));
            JCSystem.commitTransaction();
            wipe(pt, ptOff, plainLength);
        }
        return result;
    }
}
