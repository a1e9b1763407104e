package tpmcard.core;

import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.OwnerPIN;

/**
 * The card owner's PIN and the PUK that unblocks it, both javacard.framework.OwnerPIN.
 *
 * OwnerPIN is the platform's hardened implementation and does what the binding needs, which
 * PinStoreTest checks on jCardSim 3.0.6.0: check() decrements the persistent try counter before
 * it compares (the counter is already down when a comparison throws, so cutting the power during
 * the comparison cannot save a try), the counter does not take part in transactions, and it
 * survives card resets. A PIN whose counter is at 0 is blocked until the PUK resets it; a blocked
 * PUK is final.
 */
final class PinStore {
    private final OwnerPIN pin;
    private final OwnerPIN puk;

    PinStore(byte[] pinValue, short pinOffset, byte pinLength, byte[] pukValue, short pukOffset, byte pukLength) {
        pin = new OwnerPIN(Constants.PIN_TRY_LIMIT, (byte) Constants.PIN_MAX_LENGTH);
        puk = new OwnerPIN(Constants.PUK_TRY_LIMIT, (byte) Constants.PIN_MAX_LENGTH);
        pin.update(pinValue, pinOffset, pinLength);
        puk.update(pukValue, pukOffset, pukLength);
    }

    private OwnerPIN of(byte reference) {
        return reference == Constants.P2_PUK ? puk : pin;
    }

    byte triesRemaining(byte reference) {
        return of(reference).getTriesRemaining();
    }

    /**
     * Checks a PIN or PUK value; returns normally when it is right. Throws 6983 when blocked
     * (before or by this try) and 63Cx (x tries left) when wrong.
     */
    void check(byte reference, byte[] buf, short offset, byte length) {
        OwnerPIN target = of(reference);
        if (target.getTriesRemaining() == 0) {
            ISOException.throwIt(Constants.SW_AUTHENTICATION_METHOD_BLOCKED);
        }
        if (!target.check(buf, offset, length)) {
            byte left = target.getTriesRemaining();
            ISOException.throwIt(left == 0 ? Constants.SW_AUTHENTICATION_METHOD_BLOCKED
                    : (short) (Constants.SW_VERIFY_FAILED | left));
        }
        target.reset();  // the binding never leaves a PIN "validated" beyond the command
    }

    /** Replaces a PIN or PUK (its try counter back to the limit), atomically. */
    void update(byte reference, byte[] buf, short offset, byte length) {
        JCSystem.beginTransaction();
        of(reference).update(buf, offset, length);
        JCSystem.commitTransaction();
    }

    /** RESET RETRY COUNTER: new PIN value and full tries, atomically. */
    void resetPin(byte[] buf, short offset, byte length) {
        JCSystem.beginTransaction();
        pin.update(buf, offset, length);
        pin.resetAndUnblock();
        JCSystem.commitTransaction();
    }
}
