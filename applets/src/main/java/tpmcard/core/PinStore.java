package tpmcard.core;

import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.OwnerPIN;
import javacard.framework.Util;

/**
 * The card owner's PIN and the PUK that unblocks it, both javacard.framework.OwnerPIN.
 *
 * OwnerPIN is the platform's hardened implementation and does what the binding needs, which
 * PinStoreTest checks on jCardSim 3.0.6.0: check() decrements the persistent try counter before
 * it compares (the counter is already down when a comparison throws, so cutting the power during
 * the comparison cannot save a try), the counter does not take part in transactions, and it
 * survives card resets. A PIN whose counter is at 0 is blocked until the PUK resets it; a blocked
 * PUK is final.
 *
 * <p>Whether the PIN and the PUK still hold the factory defaults (Constants.DEFAULT_PIN,
 * DEFAULT_PUK) is kept in two persistent flags, written with the value in one transaction: PAIR
 * is refused until neither does (issue 11, finding 4), since anyone who knows the defaults could
 * otherwise enrol a pairing on a card that was never personalised — with the default PUK as well
 * as with the default PIN, as RESET RETRY COUNTER sets a new PIN with the PUK alone.
 */
final class PinStore {
    private final OwnerPIN pin;
    private final OwnerPIN puk;
    private boolean pinIsDefault;
    private boolean pukIsDefault;

    PinStore(byte[] pinValue, short pinOffset, byte pinLength, byte[] pukValue, short pukOffset, byte pukLength) {
        pin = new OwnerPIN(Constants.PIN_TRY_LIMIT, (byte) Constants.PIN_MAX_LENGTH);
        puk = new OwnerPIN(Constants.PUK_TRY_LIMIT, (byte) Constants.PIN_MAX_LENGTH);
        pin.update(pinValue, pinOffset, pinLength);
        puk.update(pukValue, pukOffset, pukLength);
        pinIsDefault = isDefault(Constants.P2_PIN, pinValue, pinOffset, pinLength);
        pukIsDefault = isDefault(Constants.P2_PUK, pukValue, pukOffset, pukLength);
    }

    /** Whether value equals the factory default of that reference (not secret: the defaults are public). */
    private static boolean isDefault(byte reference, byte[] value, short offset, byte length) {
        byte[] standard = reference == Constants.P2_PUK ? Constants.DEFAULT_PUK : Constants.DEFAULT_PIN;
        return length == standard.length
                && Util.arrayCompare(value, offset, standard, (short) 0, length) == 0;
    }

    /** Neither the PIN nor the PUK holds its factory default any more: PAIR may proceed. */
    boolean personalised() {
        return !pinIsDefault && !pukIsDefault;
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
        boolean standard = isDefault(reference, buf, offset, length);
        JCSystem.beginTransaction();
        of(reference).update(buf, offset, length);
        if (reference == Constants.P2_PUK) {
            pukIsDefault = standard;
        } else {
            pinIsDefault = standard;
        }
        JCSystem.commitTransaction();
    }

    /** RESET RETRY COUNTER: new PIN value and full tries, atomically. */
    void resetPin(byte[] buf, short offset, byte length) {
        boolean standard = isDefault(Constants.P2_PIN, buf, offset, length);
        JCSystem.beginTransaction();
        pin.update(buf, offset, length);
        pin.resetAndUnblock();
        pinIsDefault = standard;
        JCSystem.commitTransaction();
    }
}
