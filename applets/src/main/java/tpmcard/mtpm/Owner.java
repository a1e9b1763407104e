package tpmcard.mtpm;

import javacard.framework.ISOException;
import javacard.framework.OwnerPIN;
import javacard.security.MessageDigest;

/**
 * Owner authorisation. The card keeps SHA-256(owner auth) in an OwnerPIN: its try counter is
 * persistent and decremented before the comparison (JavaCard 3.0.5 OwnerPIN.check), so tearing the
 * card during a guess still costs a try. An unowned card has the empty auth value, like a TPM's
 * owner hierarchy before TPM2_HierarchyChangeAuth. After OWNER_AUTH_TRIES wrong values in a row the
 * owner is blocked (6983) until the card is reinstalled: a card has no lockout hierarchy.
 */
final class Owner {
    private final OwnerPIN auth = new OwnerPIN((byte) Constants.OWNER_AUTH_TRIES, (byte) Constants.DIGEST_LENGTH);
    private boolean owned;
    private final MessageDigest sha256;

    Owner(MessageDigest sha256, byte[] scratch) {
        this.sha256 = sha256;
        set(scratch, (short) 0, (short) 0, scratch);
        owned = false;
    }

    boolean isOwned() {
        return owned;
    }

    byte triesRemaining() {
        return auth.getTriesRemaining();
    }

    /** Checks the owner auth at in[off..off+len); throws 63Cx or 6983 when it is wrong. */
    void check(byte[] in, short off, short len, byte[] scratch) {
        if (auth.getTriesRemaining() == 0) {
            ISOException.throwIt(Constants.SW_OWNER_AUTH_BLOCKED);
        }
        sha256.reset();
        sha256.doFinal(in, off, len, scratch, (short) 0);
        if (!auth.check(scratch, (short) 0, (byte) Constants.DIGEST_LENGTH)) {
            byte left = auth.getTriesRemaining();
            ISOException.throwIt(left == 0 ? Constants.SW_OWNER_AUTH_BLOCKED
                    : (short) (Constants.SW_OWNER_AUTH_FAILED | left));
        }
        auth.reset();
    }

    /** TAKE OWNERSHIP / CLEAR (inside the caller's transaction when there is one). */
    void set(byte[] in, short off, short len, byte[] scratch) {
        sha256.reset();
        sha256.doFinal(in, off, len, scratch, (short) 0);
        auth.update(scratch, (short) 0, (byte) Constants.DIGEST_LENGTH);
        auth.resetAndUnblock();
    }

    void take(byte[] in, short off, short len, byte[] scratch) {
        set(in, off, len, scratch);
        owned = true;
    }

    void clear(byte[] scratch) {
        set(scratch, (short) 0, (short) 0, scratch);
        owned = false;
    }
}
