package tpmcard.mtpm;

import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.Util;
import javacard.security.CryptoException;
import javacard.security.ECPublicKey;
import javacard.security.KeyBuilder;
import javacard.security.MessageDigest;
import javacard.security.Signature;
import tpmcard.core.HostPcrs;
import tpmcard.lib.ConstantTime;
import tpmcard.lib.P256;

/**
 * Flexible policies (England and Tariq, "Towards a Programmable TPM"; docs/flexible-sealing.md):
 * one object opens in any of a group of acceptable states of the combined PCR view.
 *
 * <pre>
 * any-of     = selection 3 || count 1 (1..24) || count acceptable pcrDigests 32 each
 * authorized = SHA-256(authority point 04||x||y) 32 || policyRef length 1 (0..32) || policyRef
 * approval   = selection 3 || authority point 65 || epoch 8 || DER ECDSA-SHA-256 signature (8..72)
 * approve statement = "tpmcard-approve-v1" || selection 3 || pcrDigest 32 || policyRef length 1
 *                     || policyRef || epoch 8        (pcrDigest: the card's current view)
 * revoke statement  = "tpmcard-revoke-v1" || epoch 8
 * </pre>
 * Any-of compares the current digest of the selection with every entry in constant time, no
 * early exit (like TPM2_PolicyOR, without its limit of 8). Authorized (like TPM2_PolicyAuthorize)
 * takes an approval signed by the blob's authority over the current digest: a new configuration
 * needs a new approval, not a new seal. The card keeps per authority the lowest epoch it still
 * accepts (the revocation floor): a revoke statement signed by that authority raises it, never
 * lowers it (no owner needed: only the authority can sign it). An authority gets a slot when its
 * first signature verifies here; with the table full that approval or revoke is refused (6A84),
 * never honoured without its floor. The table survives CLEAR: a floor only goes up.
 *
 * <p>No RAM of its own: SHA-256 and ECDSA are the mobile TPM's; the authority's public key is a
 * persistent key object written only when another authority's key is presented; scratch[0..64)
 * holds the authority hash and the PCR digest.
 */
final class FlexPolicy {
    static final short HASH = 32;
    static final short EPOCH = 8;
    static final short POINT = 65;
    /** selection 3 || point 65 || epoch 8, then the DER signature. */
    static final short APPROVAL_HEAD = 76;
    private static final short MIN_SIGNATURE = 8;
    private static final short MAX_SIGNATURE = 72;
    static final short MAX_APPROVAL = (short) (APPROVAL_HEAD + MAX_SIGNATURE);
    private static final short SLOT = 40;  // authority hash 32 || floor 8
    private static final short S_HASH = 0;
    private static final short S_DIGEST = 32;
    private static final byte[] APPROVE = {
        't', 'p', 'm', 'c', 'a', 'r', 'd', '-', 'a', 'p', 'p', 'r', 'o', 'v', 'e', '-', 'v', '1',
    };
    private static final byte[] REVOKE = {
        't', 'p', 'm', 'c', 'a', 'r', 'd', '-', 'r', 'e', 'v', 'o', 'k', 'e', '-', 'v', '1',
    };

    private final Pcrs pcrs;
    private final MessageDigest sha256;
    private final Signature ecdsa;
    private final byte[] authorities = new byte[(short) (Constants.AUTHORITY_SLOTS * SLOT)];
    private short authorityCount;
    /** The last authority key presented, and SHA-256 of its point (valid while loaded). */
    private final ECPublicKey authorityKey;
    private final byte[] loadedAuthority = new byte[HASH];
    private boolean loaded;

    FlexPolicy(Keys keys, Pcrs pcrs) {
        this.pcrs = pcrs;
        this.sha256 = keys.sha256();
        this.ecdsa = keys.ecdsa;
        authorityKey = (ECPublicKey) KeyBuilder.buildKey(KeyBuilder.TYPE_EC_FP_PUBLIC, P256.KEY_LENGTH, false);
        keys.curve.setDomainParameters(authorityKey);
    }

    /**
     * The length of a policy of {@code form} at in[off], of at most {@code available} bytes;
     * {@code sw} for anything malformed (an unknown form, a count or policyRef out of range, an
     * empty selection, too few bytes).
     */
    static short length(byte form, byte[] in, short off, short available, short sw) {
        short n = 0;
        if (form == Constants.P1_POLICY_ANY_OF) {
            if (available < 4) {
                ISOException.throwIt(sw);
            }
            short count = (short) (in[(short) (off + 3)] & 0xFF);
            if (count < 1 || count > Constants.MAX_POLICY_DIGESTS
                    || (short) (in[off] | in[(short) (off + 1)] | in[(short) (off + 2)]) == 0) {
                ISOException.throwIt(sw);
            }
            n = (short) (4 + count * Constants.DIGEST_LENGTH);
        } else if (form == Constants.P1_POLICY_AUTHORIZED) {
            if (available < (short) (HASH + 1)) {
                ISOException.throwIt(sw);
            }
            short ref = (short) (in[(short) (off + HASH)] & 0xFF);
            if (ref > Constants.MAX_POLICY_REF) {
                ISOException.throwIt(sw);
            }
            n = (short) (HASH + 1 + ref);
        } else if (form != Constants.P1_POLICY_NONE) {
            ISOException.throwIt(sw);
        }
        if (n > available) {
            ISOException.throwIt(sw);
        }
        return n;
    }

    /**
     * Demands that the policy at in[policy] (its form checked by {@link #length}) holds now:
     * none (nothing to check; no approval allowed), any-of (no approval allowed) or authorized
     * (the approval at in[approval..+approvalLength)). {@code slot} at slotOff: the 32 bytes the
     * host PCRs pass through (docs/mtpm.md "Service window").
     */
    void require(byte form, byte[] in, short policy, short approval, short approvalLength, HostPcrs host,
                 byte[] slot, short slotOff, byte[] scratch) {
        if (form != Constants.P1_POLICY_AUTHORIZED) {
            if (approvalLength != 0) {
                ISOException.throwIt(Constants.SW_WRONG_DATA);
            }
            if (form == Constants.P1_POLICY_ANY_OF) {
                anyOf(in, policy, host, slot, slotOff, scratch);
            }
            return;
        }
        if (approvalLength == 0) {
            ISOException.throwIt(Constants.SW_POLICY_MISMATCH);  // an authorized object needs an approval
        }
        authorized(in, policy, approval, approvalLength, host, slot, slotOff, scratch);
    }

    private void anyOf(byte[] in, short policy, HostPcrs host, byte[] slot, short slotOff, byte[] scratch) {
        pcrs.compositeDigest(in, policy, host, slot, slotOff, scratch, S_DIGEST);
        short count = (short) (in[(short) (policy + 3)] & 0xFF);
        boolean match = false;
        short entry = (short) (policy + 4);
        for (short i = 0; i < count; i++) {
            // Every entry compared, whatever the result: the time says nothing about which matched.
            match |= ConstantTime.equals(scratch, S_DIGEST, in, entry, Constants.DIGEST_LENGTH);
            entry += Constants.DIGEST_LENGTH;
        }
        if (!match) {
            ISOException.throwIt(Constants.SW_POLICY_MISMATCH);
        }
    }

    private void authorized(byte[] in, short policy, short approval, short approvalLength, HostPcrs host,
                            byte[] slot, short slotOff, byte[] scratch) {
        if (approvalLength < (short) (APPROVAL_HEAD + MIN_SIGNATURE) || approvalLength > MAX_APPROVAL) {
            ISOException.throwIt(Constants.SW_WRONG_LENGTH);
        }
        short selection = approval;
        Pcrs.checkSelection(in, selection);
        short point = (short) (approval + Constants.SELECTION_LENGTH);
        short epoch = (short) (point + POINT);
        short signature = (short) (epoch + EPOCH);
        hashPoint(in, point, scratch);
        if (!ConstantTime.equals(scratch, S_HASH, in, policy, HASH)) {
            ISOException.throwIt(Constants.SW_UNTRUSTED_AUTHORITY);
        }
        load(in, point, scratch);
        pcrs.compositeDigest(in, selection, host, slot, slotOff, scratch, S_DIGEST);
        boolean verified = false;
        try {
            ecdsa.init(authorityKey, Signature.MODE_VERIFY);
            ecdsa.update(APPROVE, (short) 0, (short) APPROVE.length);
            ecdsa.update(in, selection, Constants.SELECTION_LENGTH);
            ecdsa.update(scratch, S_DIGEST, Constants.DIGEST_LENGTH);
            ecdsa.update(in, (short) (policy + HASH), (short) (1 + (in[(short) (policy + HASH)] & 0xFF)));
            verified = ecdsa.verify(in, epoch, EPOCH, in, signature, (short) (approvalLength - APPROVAL_HEAD));
        } catch (CryptoException e) {
            verified = false;
        }
        if (!verified) {
            ISOException.throwIt(Constants.SW_POLICY_MISMATCH);  // not this state, or not signed by it
        }
        short at = find(scratch);
        if (at < 0) {
            requireRoom();
            JCSystem.beginTransaction();
            at = allocate(scratch);
            JCSystem.commitTransaction();
        }
        if (ConstantTime.compareUnsigned(in, epoch, authorities, (short) (at + HASH), EPOCH) < 0) {
            ISOException.throwIt(Constants.SW_APPROVAL_REVOKED);
        }
    }

    /**
     * REVOKE APPROVALS: in = authority point 65 || epoch 8 || DER signature over the revoke
     * statement. Raises the authority's floor to epoch (approvals of a lower epoch are refused
     * from now on); a lower or equal epoch changes nothing. Out: the floor now (8 bytes).
     */
    short revoke(byte[] in, short off, short len, byte[] out, short outOff, byte[] scratch) {
        if (len < (short) (POINT + EPOCH + MIN_SIGNATURE) || len > (short) (POINT + EPOCH + MAX_SIGNATURE)) {
            ISOException.throwIt(Constants.SW_WRONG_LENGTH);
        }
        short epoch = (short) (off + POINT);
        short signature = (short) (epoch + EPOCH);
        hashPoint(in, off, scratch);
        load(in, off, scratch);
        boolean verified = false;
        try {
            ecdsa.init(authorityKey, Signature.MODE_VERIFY);
            ecdsa.update(REVOKE, (short) 0, (short) REVOKE.length);
            verified = ecdsa.verify(in, epoch, EPOCH, in, signature, (short) (len - POINT - EPOCH));
        } catch (CryptoException e) {
            verified = false;
        }
        if (!verified) {
            ISOException.throwIt(Constants.SW_POLICY_MISMATCH);
        }
        short at = find(scratch);
        if (at < 0 || ConstantTime.compareUnsigned(in, epoch, authorities, (short) (at + HASH), EPOCH) > 0) {
            if (at < 0) {
                requireRoom();
            }
            // A new slot and its floor, or a raised floor: one transaction (old or new, never a mix).
            JCSystem.beginTransaction();
            if (at < 0) {
                at = allocate(scratch);
            }
            Util.arrayCopy(in, epoch, authorities, (short) (at + HASH), EPOCH);
            JCSystem.commitTransaction();
        }
        return (short) (Util.arrayCopyNonAtomic(authorities, (short) (at + HASH), out, outOff, EPOCH) - outOff);
    }

    /** scratch[S_HASH..+32) = SHA-256(point); the point must be uncompressed (04 || x || y). */
    private void hashPoint(byte[] in, short point, byte[] scratch) {
        if (in[point] != (byte) 0x04) {
            ISOException.throwIt(Constants.SW_WRONG_DATA);
        }
        sha256.reset();
        sha256.doFinal(in, point, POINT, scratch, S_HASH);
    }

    /**
     * Sets the verification key to the point (hash at scratch[S_HASH]) unless it holds it
     * already: one EEPROM write when the authority changes, none for repeated unseals.
     */
    private void load(byte[] in, short point, byte[] scratch) {
        if (loaded && Util.arrayCompare(loadedAuthority, (short) 0, scratch, S_HASH, HASH) == 0) {
            return;
        }
        loaded = false;  // torn below: the next command loads it again
        try {
            authorityKey.setW(in, point, POINT);
        } catch (CryptoException e) {
            ISOException.throwIt(Constants.SW_WRONG_DATA);
        }
        Util.arrayCopy(scratch, S_HASH, loadedAuthority, (short) 0, HASH);
        loaded = true;
    }

    /** The slot of the authority whose hash is at scratch[S_HASH], or -1. */
    private short find(byte[] scratch) {
        for (short at = 0; at < (short) (authorityCount * SLOT); at += SLOT) {
            if (Util.arrayCompare(authorities, at, scratch, S_HASH, HASH) == 0) {
                return at;
            }
        }
        return -1;
    }

    /** 6A84 when the table is full: checked before the transaction that would take a slot. */
    private void requireRoom() {
        if (authorityCount >= Constants.AUTHORITY_SLOTS) {
            ISOException.throwIt(Constants.SW_NOT_ENOUGH_MEMORY);
        }
    }

    /** A new slot (floor 0) for the hash at scratch[S_HASH]; inside the caller's transaction. */
    private short allocate(byte[] scratch) {
        short at = (short) (authorityCount * SLOT);
        Util.arrayCopy(scratch, S_HASH, authorities, at, HASH);
        authorityCount++;
        return at;
    }
}
