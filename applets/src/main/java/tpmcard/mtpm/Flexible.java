package tpmcard.mtpm;

import javacard.framework.ISOException;
import javacard.framework.Util;
import javacard.security.AESKey;
import javacard.security.ECPrivateKey;
import javacard.security.MessageDigest;
import tpmcard.core.HostPcrs;
import tpmcard.lib.Identity;
import tpmcard.lib.Tpm2;

/**
 * Flexible sealing and unbinding (docs/flexible-sealing.md): INS 34..3E of the mobile TPM.
 *
 * <pre>
 * flexible blob = version 02 || key id 16 || serial 8 || form 1 || policy
 *                 || AES-256-CBC(length 2 || secret || 0-pad) || AES-CMAC 16
 * bind ciphertext = version 01 || nonce 8 || ephemeral point 65 || form 1 || policy
 *                   || AES-256-CBC(length 2 || message || 0-pad) || AES-CMAC 16
 * K_e || K_m = ANSI X9.63 KDF SHA-256 (Z, 64 bytes, SharedInfo = "tpmcard-bind-v1" || bind
 *              point 65 || the ciphertext's header, from version to the policy's end)
 * </pre>
 * Flexible blobs use the storage keys, serials and envelope of classic blobs (Sealing: IV =
 * E_K(serial || 0^8)); the version byte, under the MAC, keeps the two kinds apart (UNSEAL and
 * MIGRATE EXPORT refuse version 02: flexible blobs never leave the card). A bind ciphertext is
 * made off the card by anyone with the bind public key; its IV is E_Ke(nonce || 0^8).
 * Policies and approvals: {@link FlexPolicy}.
 *
 * <p>No RAM of its own (docs/flexible-sealing.md "RAM"): the mobile TPM's scratch (Z at 4..36,
 * the KDF counter at 36..40, a derived key at 40..72, the IV block at 72..88, the MAC at 88..104),
 * its SHA-256, ECDSA, EC DH, CBC, CMAC and its one transient AES key. Plaintexts are decrypted
 * in place in the APDU buffer, or into the window when the command was staged.
 */
final class Flexible {
    private static final short HEADER = 26;          // version 1 || key id 16 || serial 8 || form 1
    private static final short SERIAL_OFFSET = 17;
    private static final short FORM_OFFSET = 25;
    private static final short BIND_HEADER = 75;     // version 1 || nonce 8 || point 65 || form 1
    private static final short BIND_POINT_OFFSET = 9;
    private static final short BIND_FORM_OFFSET = 74;
    private static final short MAC = Envelope.MAC_LENGTH;
    /** length 2 || secret (1..128), padded: 144. */
    private static final short MAX_PLAIN = 144;
    private static final short S_Z = 4;
    private static final short S_COUNTER = 36;
    private static final short S_KEY = 40;
    private static final short S_IV = 72;
    private static final short S_MAC = 88;
    private static final byte LABEL_BIND = (byte) 'B';
    private static final byte[] BIND_LABEL = {
        't', 'p', 'm', 'c', 'a', 'r', 'd', '-', 'b', 'i', 'n', 'd', '-', 'v', '1',
    };

    private final Keys keys;
    private final Sealing sealing;
    private final Attest attest;
    private final FlexPolicy policy;
    private final MessageDigest sha256;
    /** The bind key: P-256 ECDH, made at install like the migration key; never leaves the card. */
    private final Identity bind;
    private final byte[] bindPublic = new byte[Marshal.PUBLIC_AREA_LENGTH];
    private final byte[] bindName = new byte[Marshal.NAME_LENGTH];
    private final byte[] bindQualifiedName = new byte[Marshal.NAME_LENGTH];
    private final byte[] bindPoint = new byte[FlexPolicy.POINT];

    /** At install; scratch as Keys' (Identity.SCRATCH_LENGTH + 32 bytes, CLEAR_ON_RESET). */
    Flexible(Keys keys, Pcrs pcrs, Sealing sealing, Attest attest, byte[] entropy, short entropyOffset,
             short entropyLength, byte[] scratch) {
        this.keys = keys;
        this.sealing = sealing;
        this.attest = attest;
        this.sha256 = keys.sha256();
        policy = new FlexPolicy(keys, pcrs);
        short keyEntropy = Identity.SCRATCH_LENGTH;
        bind = new Identity(keys.curve, sha256, keys.random(), Identity.basePointMultiplier(), scratch, keyEntropy,
                keys.label(LABEL_BIND, entropy, entropyOffset, entropyLength, scratch, keyEntropy), scratch);
        Util.arrayFillNonAtomic(scratch, keyEntropy, (short) 32, (byte) 0);
        keys.describe(bind, Marshal.ATTR_DECRYPT_HIGH, Marshal.ATTR_DECRYPT_LOW, Tpm2.ALG_ECDH, bindPublic, bindName,
                bindQualifiedName, scratch);
        bind.writePublicPoint(bindPoint, (short) 0);
    }

    /**
     * INS 34..3E, as MtpmApplet.dispatch passes them: {@code slot} is the APDU buffer,
     * slot[workOff..slotOff) a staged command's work area, slot[slotOff..+32) the PCR slot at
     * the window's end (direct: in == out == slot, and the PCR slot is the answer's place).
     */
    short invoke(byte ins, byte p1, byte[] in, short off, short len, byte[] out, short outOff, HostPcrs host,
                 byte[] slot, short slotOff, short workOff, byte[] scratch, Cursor c) {
        short pcrSlot = slot == out ? outOff : slotOff;
        switch (ins) {
            case Constants.INS_SEAL_FLEXIBLE:
                return seal(p1, in, off, len, out, outOff, slot, workOff, slotOff, scratch);
            case Constants.INS_UNSEAL_FLEXIBLE:
                return open(false, in, off, len, out, outOff, host, slot, pcrSlot, workOff, slotOff, scratch, c);
            case Constants.INS_UNBIND:
                return open(true, in, off, len, out, outOff, host, slot, pcrSlot, workOff, slotOff, scratch, c);
            case Constants.INS_REVOKE_APPROVALS:
                return policy.revoke(in, off, len, out, outOff, scratch);
            case Constants.INS_BIND_PUBLIC:
                if (len != 0) {
                    ISOException.throwIt(Constants.SW_WRONG_LENGTH);
                }
                Util.arrayCopyNonAtomic(bindPublic, (short) 0, out, outOff, Marshal.PUBLIC_AREA_LENGTH);
                return Marshal.PUBLIC_AREA_LENGTH;
            case Constants.INS_BIND_CERTIFY:
                if (len > Constants.MAX_NONCE) {
                    ISOException.throwIt(Constants.SW_WRONG_LENGTH);
                }
                return attest.certify(bindName, bindQualifiedName, in, off, len, out, outOff);
            default:
                ISOException.throwIt(Constants.SW_INS_NOT_SUPPORTED);
                return 0;
        }
    }

    /**
     * SEAL FLEXIBLE: P1 = form (any-of or authorized); in = policy || secret (1..128). Out: the
     * flexible blob. The plaintext is built where its ciphertext goes, or in the window when staged.
     */
    private short seal(byte form, byte[] in, short off, short len, byte[] out, short outOff, byte[] work,
                       short workOff, short workEnd, byte[] scratch) {
        if (form != Constants.P1_POLICY_ANY_OF && form != Constants.P1_POLICY_AUTHORIZED) {
            ISOException.throwIt(Constants.SW_INCORRECT_P1P2);
        }
        short policyLength = FlexPolicy.length(form, in, off, len, Constants.SW_WRONG_DATA);
        short secret = (short) (off + policyLength);
        short secretLength = (short) (len - policyLength);
        if (secretLength < 1 || secretLength > Constants.MAX_SEALED_SECRET) {
            ISOException.throwIt(Constants.SW_WRONG_LENGTH);
        }
        short header = (short) (HEADER + policyLength);
        short plainLength = Envelope.padded((short) (2 + secretLength));
        boolean inPlace = out == work;
        byte[] pt = inPlace ? out : work;
        short ptOff = inPlace ? (short) (outOff + header) : Sealing.workArea(workOff, workEnd, plainLength);
        Util.arrayFillNonAtomic(pt, ptOff, plainLength, (byte) 0);
        Util.setShort(pt, ptOff, secretLength);
        Util.arrayCopyNonAtomic(in, secret, pt, (short) (ptOff + 2), secretLength);
        short h = outOff;
        out[h++] = Constants.FLEXIBLE_BLOB_VERSION;
        h = Util.arrayCopyNonAtomic(keys.keyId, (short) 0, out, h, Constants.KEY_ID_LENGTH);
        sealing.nextSerial(out, h);
        h += Constants.SERIAL_LENGTH;
        out[h++] = form;
        Util.arrayCopyNonAtomic(in, off, out, h, policyLength);
        short length = sealing.envelope.wrap(keys.storageEncryption, keys.storageMac, out, outOff, header,
                (short) (outOff + SERIAL_OFFSET), pt, ptOff, plainLength, scratch, S_IV);
        if (!inPlace) {
            Util.arrayFillNonAtomic(pt, ptOff, plainLength, (byte) 0);
        }
        return length;
    }

    /**
     * UNSEAL FLEXIBLE (bound false) or UNBIND (bound true): in = approval length 1 || approval
     * (authorized policies only) || flexible blob or bind ciphertext. Checked in this order:
     * format (6984), key id (blob: 6A88), MAC (blob: 6984), the policy (6985, 6A85, 6984 revoked),
     * for a ciphertext its MAC under the ECDH keys (6984); then decrypted and answered.
     */
    private short open(boolean bound, byte[] in, short off, short len, byte[] out, short outOff, HostPcrs host,
                       byte[] slot, short pcrSlot, short workOff, short workEnd, byte[] scratch, Cursor c) {
        c.begin(off, len);
        short approvalLength = c.lengthPrefixed(in, FlexPolicy.MAX_APPROVAL);
        short approval = c.take(approvalLength);
        short total = c.remaining();
        short start = c.rest();
        short fixed = bound ? BIND_HEADER : HEADER;
        if (total < (short) (fixed + Envelope.BLOCK + MAC)
                || in[start] != (bound ? Constants.BIND_VERSION : Constants.FLEXIBLE_BLOB_VERSION)) {
            ISOException.throwIt(Constants.SW_OBJECT_INVALID);
        }
        byte form = in[(short) (start + (bound ? BIND_FORM_OFFSET : FORM_OFFSET))];
        if (!bound && form == Constants.P1_POLICY_NONE) {
            ISOException.throwIt(Constants.SW_OBJECT_INVALID);
        }
        short policyOff = (short) (start + fixed);
        short header = (short) (fixed + FlexPolicy.length(form, in, policyOff, (short) (total - fixed - MAC),
                Constants.SW_OBJECT_INVALID));
        short ctLength;
        if (bound) {
            // The policy first: the ECDH secret needs the scratch the policy check uses.
            policy.require(form, in, policyOff, approval, approvalLength, host, slot, pcrSlot, scratch);
            ctLength = verifyBound((ECPrivateKey) bind.keyPair().getPrivate(), bindPoint, in, start, total, header,
                    scratch);
        } else {
            if (Util.arrayCompare(in, (short) (start + 1), keys.keyId, (short) 0, Constants.KEY_ID_LENGTH) != 0) {
                ISOException.throwIt(Constants.SW_NOT_FOUND);  // another card's, or sealed before CLEAR
            }
            ctLength = sealing.envelope.verify(keys.storageMac, in, start, total, header, scratch, S_MAC);
            policy.require(form, in, policyOff, approval, approvalLength, host, slot, pcrSlot, scratch);
        }
        if (ctLength > MAX_PLAIN) {
            ISOException.throwIt(Constants.SW_OBJECT_INVALID);
        }
        boolean inPlace = in == slot;
        byte[] pt = inPlace ? in : slot;
        short ptOff = inPlace ? (short) (start + header) : Sealing.workArea(workOff, workEnd, MAX_PLAIN);
        short plainLength = bound
                ? decryptBound(bindPoint, in, start, header, ctLength, pt, ptOff, scratch)
                : sealing.envelope.decrypt(keys.storageEncryption, in, start, header, ctLength,
                        (short) (start + SERIAL_OFFSET), pt, ptOff, scratch, S_IV);
        short length = Util.getShort(pt, ptOff);
        if (length < 1 || (short) (length + 2) > plainLength) {
            Util.arrayFillNonAtomic(pt, ptOff, plainLength, (byte) 0);
            ISOException.throwIt(Constants.SW_OBJECT_INVALID);
        }
        Util.arrayCopyNonAtomic(pt, (short) (ptOff + 2), out, outOff, length);
        Util.arrayFillNonAtomic(pt, ptOff, plainLength, (byte) 0);
        return length;
    }

    /**
     * Z = x(ECDH(key, ephemeral point)), K_m from the KDF, then the ciphertext's MAC (6984);
     * returns the ciphertext length. Z stays in scratch for {@link #decryptBound}. Package-private
     * for the known-answer test (FlexibleSealingTest), which gives its own key and point.
     */
    short verifyBound(ECPrivateKey key, byte[] point, byte[] in, short start, short total, short header,
                      byte[] scratch) {
        sealing.agree(key, in, (short) (start + BIND_POINT_OFFSET), scratch);  // Z at scratch[4..36)
        deriveKey((byte) 2, point, in, start, header, scratch);
        short ctLength = 0;
        try {
            ctLength = sealing.envelope.verify(sealing.duplicateKey, in, start, total, header, scratch, S_MAC);
        } catch (ISOException e) {
            sealing.duplicateKey.clearKey();
            Util.arrayFillNonAtomic(scratch, (short) 0, S_KEY, (byte) 0);  // Z
            throw e;
        }
        return ctLength;
    }

    /** After {@link #verifyBound}: K_e, then the plaintext at pt[ptOff]; Z and the key wiped. */
    short decryptBound(byte[] point, byte[] in, short start, short header, short ctLength, byte[] pt, short ptOff,
                       byte[] scratch) {
        deriveKey((byte) 1, point, in, start, header, scratch);
        Util.arrayFillNonAtomic(scratch, (short) 0, S_KEY, (byte) 0);  // Z
        short plainLength = sealing.envelope.decrypt(sealing.duplicateKey, in, start, header, ctLength,
                (short) (start + 1), pt, ptOff, scratch, S_IV);
        sealing.duplicateKey.clearKey();
        return plainLength;
    }

    /** duplicateKey = SHA-256(Z || counter 4 || "tpmcard-bind-v1" || bind point || header): X9.63 block. */
    private void deriveKey(byte counter, byte[] point, byte[] in, short start, short header, byte[] scratch) {
        Marshal.u32(scratch, S_COUNTER, (short) 0, counter);
        sha256.reset();
        sha256.update(scratch, S_Z, (short) 36);  // Z || counter
        sha256.update(BIND_LABEL, (short) 0, (short) BIND_LABEL.length);
        sha256.update(point, (short) 0, FlexPolicy.POINT);
        sha256.doFinal(in, start, header, scratch, S_KEY);
        sealing.duplicateKey.setKey(scratch, S_KEY);
        Util.arrayFillNonAtomic(scratch, S_KEY, (short) 32, (byte) 0);
    }
}
