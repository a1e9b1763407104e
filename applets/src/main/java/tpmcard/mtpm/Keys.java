package tpmcard.mtpm;

import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.Util;
import javacard.security.AESKey;
import javacard.security.CryptoException;
import javacard.security.ECPrivateKey;
import javacard.security.KeyAgreement;
import javacard.security.KeyBuilder;
import javacard.security.MessageDigest;
import javacard.security.RandomData;
import javacard.security.Signature;
import tpmcard.lib.Identity;
import tpmcard.lib.P256;
import tpmcard.lib.Tpm2;

/**
 * The mobile TPM's keys, all made on the card. Persistent state only.
 *
 * <ul>
 * <li>EK: endorsement key, P-256, made at install, never changes. Unlike a TCG EK (a decryption
 * key used with MakeCredential) it is a restricted signing key: it signs TPMS_ATTEST CERTIFY
 * statements about the AK and the migration key. The manufacturer CA certifies it (X.509 stored
 * on the card, INS_EK_CERT_SET).</li>
 * <li>AK: attestation key, P-256 ECDSA SHA-256, restricted signing, made at install; signs quotes.</li>
 * <li>Migration key: P-256 ECDH, made at install; other cards wrap migrated objects to it.</li>
 * <li>Storage keys: AES-256 encryption + AES-256 CMAC keys and a 16-byte key id; replaced by
 * TPM2_Clear-like CLEAR, so blobs sealed before a clear no longer open.</li>
 * </ul>
 *
 * Each EC key is made by tpmcard.lib.Identity from the card RNG and a per-key entropy
 * SHA-256(label || install entropy): jCardSim's RNG is deterministic, the install entropy is what
 * makes two simulated cards differ. The storage keys come from SHA-256(R || seed || generation ||
 * label), seed = SHA-256("seed" || install entropy), for the same reason.
 */
final class Keys {
    static final short SCRATCH_LENGTH = (short) (Identity.SCRATCH_LENGTH + 32);
    private static final byte LABEL_EK = (byte) 'E';
    private static final byte LABEL_AK = (byte) 'A';
    private static final byte LABEL_MIGRATION = (byte) 'M';
    private static final byte LABEL_SEED = (byte) 'S';
    private static final byte LABEL_ENCRYPTION = (byte) 'e';
    private static final byte LABEL_MAC = (byte) 'm';

    final Identity ek;
    final Identity ak;
    final Identity migration;
    /** TPMT_PUBLIC of EK, AK, migration key; their Names and qualified names. */
    final byte[] ekPublic = new byte[Marshal.PUBLIC_AREA_LENGTH];
    final byte[] akPublic = new byte[Marshal.PUBLIC_AREA_LENGTH];
    final byte[] migrationPublic = new byte[Marshal.PUBLIC_AREA_LENGTH];
    final byte[] ekQualifiedName = new byte[Marshal.NAME_LENGTH];
    final byte[] akName = new byte[Marshal.NAME_LENGTH];
    final byte[] akQualifiedName = new byte[Marshal.NAME_LENGTH];
    final byte[] migrationName = new byte[Marshal.NAME_LENGTH];
    final byte[] migrationQualifiedName = new byte[Marshal.NAME_LENGTH];
    final byte[] migrationPoint = new byte[65];
    /** The card identity in JWT and EAT quotes: UEID type RAND || SHA-256(EK TPMT_PUBLIC) (QuoteToken). */
    final byte[] ueid = new byte[QuoteToken.UEID_LENGTH];

    final AESKey storageEncryption;
    final AESKey storageMac;
    final byte[] keyId = new byte[Constants.KEY_ID_LENGTH];
    private final byte[] seed = new byte[32];
    private final byte[] generation = new byte[4];

    final P256 curve;
    private final MessageDigest sha256;
    private final RandomData random;
    final Signature ecdsa;

    /** {@code scratch}: CLEAR_ON_RESET, at least SCRATCH_LENGTH and Identity.SCRATCH_LENGTH bytes. */
    Keys(byte[] entropy, short entropyOffset, short entropyLength, byte[] scratch) {
        curve = new P256();
        // externalAccess: the mobile TPM is reached through a Shareable call while the core is selected.
        sha256 = MessageDigest.getInstance(MessageDigest.ALG_SHA_256, true);
        random = Identity.keyGenerationRandom();
        ecdsa = Signature.getInstance(Signature.ALG_ECDSA_SHA_256, true);
        // Used for the three keys here, then dropped: requestObjectDeletion() below reclaims it.
        KeyAgreement multiplier = Identity.basePointMultiplier();
        // Per-key entropy sits after the part of scratch that Identity uses (and wipes).
        final short keyEntropy = Identity.SCRATCH_LENGTH;
        ek = new Identity(curve, sha256, random, multiplier, scratch, keyEntropy,
                label(LABEL_EK, entropy, entropyOffset, entropyLength, scratch, keyEntropy), scratch);
        ak = new Identity(curve, sha256, random, multiplier, scratch, keyEntropy,
                label(LABEL_AK, entropy, entropyOffset, entropyLength, scratch, keyEntropy), scratch);
        migration = new Identity(curve, sha256, random, multiplier, scratch, keyEntropy,
                label(LABEL_MIGRATION, entropy, entropyOffset, entropyLength, scratch, keyEntropy), scratch);
        label(LABEL_SEED, entropy, entropyOffset, entropyLength, seed, (short) 0);
        Util.arrayFillNonAtomic(scratch, keyEntropy, (short) 32, (byte) 0);
        if (multiplier != null && JCSystem.isObjectDeletionSupported()) {
            JCSystem.requestObjectDeletion();
        }

        describe(ek, Marshal.ATTR_SIGNING_HIGH, Marshal.ATTR_SIGNING_LOW, Tpm2.ALG_ECDSA, ekPublic,
                ueid, ekQualifiedName, scratch);
        ueid[0] = QuoteToken.UEID_TYPE_RAND;  // over the Name's nameAlg: 01 || SHA-256(TPMT_PUBLIC)
        describe(ak, Marshal.ATTR_SIGNING_HIGH, Marshal.ATTR_SIGNING_LOW, Tpm2.ALG_ECDSA, akPublic,
                akName, akQualifiedName, scratch);
        describe(migration, Marshal.ATTR_DECRYPT_HIGH, Marshal.ATTR_DECRYPT_LOW, Tpm2.ALG_ECDH,
                migrationPublic, migrationName, migrationQualifiedName, scratch);
        migration.writePublicPoint(migrationPoint, (short) 0);

        storageEncryption = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES, KeyBuilder.LENGTH_AES_256, false);
        storageMac = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES, KeyBuilder.LENGTH_AES_256, false);
        renewStorageKeys(scratch);
    }

    /** out[outOff..+32) = SHA-256(label || entropy); returns 32. */
    private short label(byte tag, byte[] entropy, short off, short length, byte[] out, short outOff) {
        sha256.reset();
        out[outOff] = tag;
        sha256.update(out, outOff, (short) 1);
        return sha256.doFinal(entropy, off, length, out, outOff);
    }

    private void describe(Identity key, short attrHigh, short attrLow, short scheme, byte[] publicArea,
                          byte[] name, byte[] qualifiedName, byte[] scratch) {
        key.writePublicPoint(scratch, (short) 0);
        Marshal.publicArea(publicArea, (short) 0, attrHigh, attrLow, scheme, scratch, (short) 0);
        // Name = nameAlg || H(TPMT_PUBLIC) (Part 1 §16); QN = nameAlg || H(QN(parent) || Name)
        // (Part 1 §16.5), with the endorsement hierarchy as parent (its QN is its handle).
        Marshal.u16(scratch, (short) 0, Tpm2.ALG_SHA256);
        sha256.reset();
        sha256.doFinal(publicArea, (short) 0, Marshal.PUBLIC_AREA_LENGTH, scratch, (short) 2);
        // The Name, or for the EK the UEID's place: the Name's last 33 bytes (its first is then set).
        Util.arrayCopy(scratch, (short) (Marshal.NAME_LENGTH - name.length), name, (short) 0, (short) name.length);
        Marshal.u32(scratch, (short) 34, Marshal.RH_ENDORSEMENT_HIGH, Marshal.RH_ENDORSEMENT_LOW);
        Util.arrayCopyNonAtomic(scratch, (short) 0, scratch, (short) 38, Marshal.NAME_LENGTH);
        sha256.reset();
        sha256.doFinal(scratch, (short) 34, (short) (4 + Marshal.NAME_LENGTH), scratch, (short) 2);
        Util.arrayCopy(scratch, (short) 0, qualifiedName, (short) 0, Marshal.NAME_LENGTH);
    }

    /**
     * New storage keys and key id (install and CLEAR): blobs sealed under the old keys are refused
     * from now on. The key id is SHA-256(EK point || generation)[0..16): unique per card and per
     * generation, and it reveals nothing about the keys. At install, or inside the caller's
     * transaction (CLEAR: the keys, key id and generation change together with the rest).
     */
    void renewStorageKeys(byte[] scratch) {
        Util.arrayCopyNonAtomic(generation, (short) 0, scratch, (short) 0, (short) 4);
        Marshal.increment(scratch, (short) 0, (short) 4);
        random.nextBytes(scratch, (short) 4, (short) 32);
        Util.arrayCopyNonAtomic(seed, (short) 0, scratch, (short) 36, (short) 32);
        // scratch: generation' 4 | R 32 | seed 32 | label 1 -> key at 100
        scratch[68] = LABEL_ENCRYPTION;
        sha256.reset();
        sha256.doFinal(scratch, (short) 0, (short) 69, scratch, (short) 100);
        storageEncryption.setKey(scratch, (short) 100);
        scratch[68] = LABEL_MAC;
        sha256.reset();
        sha256.doFinal(scratch, (short) 0, (short) 69, scratch, (short) 100);
        storageMac.setKey(scratch, (short) 100);
        ek.writePublicPoint(scratch, (short) 4);  // 65 bytes, over R and the seed copy
        sha256.reset();
        sha256.doFinal(scratch, (short) 0, (short) 69, scratch, (short) 100);
        Util.arrayCopy(scratch, (short) 100, keyId, (short) 0, Constants.KEY_ID_LENGTH);
        Util.arrayCopy(scratch, (short) 0, generation, (short) 0, (short) 4);
        Util.arrayFillNonAtomic(scratch, (short) 0, SCRATCH_LENGTH, (byte) 0);
    }

    /** ECDSA P-256 SHA-256 with the EK or AK over in[off..off+len); DER signature at out[outOff]. */
    short sign(Identity key, byte[] in, short off, short len, byte[] out, short outOff) {
        ecdsa.init((ECPrivateKey) key.keyPair().getPrivate(), Signature.MODE_SIGN);
        return ecdsa.sign(in, off, len, out, outOff);
    }

    /**
     * out[outOff..+32) = SHA-256(label0 || label1 || seed): a card-only secret for another part of
     * the service (the closure keys, docs/closures.md). The seed holds the install entropy.
     */
    void deriveSecret(byte label0, byte label1, byte[] out, short outOff) {
        out[outOff] = label0;
        out[(short) (outOff + 1)] = label1;
        sha256.reset();
        sha256.update(out, outOff, (short) 2);
        sha256.doFinal(seed, (short) 0, (short) seed.length, out, outOff);
    }

    MessageDigest sha256() {
        return sha256;
    }

    RandomData random() {
        return random;
    }

    /** GET PUBLIC: the TPMT_PUBLIC of the EK, AK or migration key at out[outOff]; 6A86 for another key. */
    short writePublicArea(byte key, byte[] out, short outOff) {
        if (key != Constants.KEY_EK && key != Constants.KEY_AK && key != Constants.KEY_MIGRATION) {
            ISOException.throwIt(Constants.SW_INCORRECT_P1P2);
        }
        Util.arrayCopyNonAtomic(publicArea(key), (short) 0, out, outOff, Marshal.PUBLIC_AREA_LENGTH);
        return Marshal.PUBLIC_AREA_LENGTH;
    }

    byte[] publicArea(byte key) {
        if (key == Constants.KEY_EK) {
            return ekPublic;
        }
        if (key == Constants.KEY_AK) {
            return akPublic;
        }
        if (key == Constants.KEY_MIGRATION) {
            return migrationPublic;
        }
        CryptoException.throwIt(CryptoException.ILLEGAL_VALUE);
        return null;
    }
}
