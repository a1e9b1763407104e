package tpmcard.mtpm;

import javacard.framework.ISOException;
import tpmcard.lib.ConstantTime;

/**
 * Dictionary-attack protection for sealed-object and NV auth values (after TPM 2.0 Part 1 §19.8:
 * failedTries, maxTries, lockout). One persistent try counter for all of them: a wrong value
 * costs a try, charged BEFORE the comparison so that tearing the card mid-check still costs it;
 * a right value gives the tries back. At zero every auth-value check answers 6983 until the owner
 * resets the counter (DA RESET, owner auth) or clears the mobile TPM.
 *
 * <p>Objects and indices without an auth value (SHA-256 of the empty string stored) are exempt,
 * like a TPM object with noDA: there is nothing to guess, so a PCR-policy unseal never wears the
 * counter or the EEPROM.
 */
final class DictionaryGuard {
    /** SHA-256 of the empty string: the stored hash of an object without an auth value. */
    private static final byte[] EMPTY_AUTH_HASH = {
        (byte) 0xe3, (byte) 0xb0, (byte) 0xc4, (byte) 0x42, (byte) 0x98, (byte) 0xfc, (byte) 0x1c, (byte) 0x14,
        (byte) 0x9a, (byte) 0xfb, (byte) 0xf4, (byte) 0xc8, (byte) 0x99, (byte) 0x6f, (byte) 0xb9, (byte) 0x24,
        (byte) 0x27, (byte) 0xae, (byte) 0x41, (byte) 0xe4, (byte) 0x64, (byte) 0x9b, (byte) 0x93, (byte) 0x4c,
        (byte) 0xa4, (byte) 0x95, (byte) 0x99, (byte) 0x1b, (byte) 0x78, (byte) 0x52, (byte) 0xb8, (byte) 0x55,
    };

    private short tries = Constants.DA_MAX_TRIES;

    /** Whether the stored auth hash at {@code hash[off]} is that of the empty auth value. */
    static boolean hasNoAuth(byte[] hash, short off) {
        return ConstantTime.equals(hash, off, EMPTY_AUTH_HASH, (short) 0, Constants.DIGEST_LENGTH);
    }

    /** Spend a try before comparing; 6983 when none is left. (One short: an atomic write.) */
    void charge() {
        if (tries <= 0) {
            ISOException.throwIt(Constants.SW_AUTH_BLOCKED);
        }
        tries--;
    }

    /** The value was right: the try comes back (written only when something changes). */
    void succeeded() {
        if (tries != Constants.DA_MAX_TRIES) {
            tries = Constants.DA_MAX_TRIES;
        }
    }

    /** DA RESET and CLEAR. */
    void reset() {
        tries = Constants.DA_MAX_TRIES;
    }

    short remaining() {
        return tries;
    }
}
