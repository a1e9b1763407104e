package tpmcard.mtpm;

import javacard.framework.JCSystem;
import javacard.framework.Util;
import tpmcard.lib.Identity;
import tpmcard.lib.Tpm2;

/**
 * TPMS_ATTEST (TPM 2.0 Part 2 §10.12.12) for quotes (signed by the AK) and certifications (signed
 * by the EK), and the clock state reported in TPMS_CLOCK_INFO (§10.11.1).
 *
 * <p>The card has no clock: {@code clock} counts the attestations signed since the last CLEAR,
 * jumping ahead by less than CLOCK_BLOCK at a card reset (the values are reserved in EEPROM a
 * block at a time, before any of them is reported, so the clock never repeats or goes back),
 * {@code resetCount} the card resets seen since the last CLEAR (counted at the first command
 * after each reset), {@code restartCount} is 0 (a card has no TPM2_Shutdown(STATE)/Startup(STATE)
 * cycle), and {@code safe} is YES because every reported value was persisted first.
 *
 * <p>Output of QUOTE and CERTIFY: attest length (2) || TPMS_ATTEST || DER ECDSA signature over
 * SHA-256(TPMS_ATTEST).
 */
final class Attest {
    private final byte[] clock = new byte[8];
    private final byte[] resetCount = new byte[4];
    private final byte[] powered = JCSystem.makeTransientByteArray((short) 1, JCSystem.CLEAR_ON_RESET);
    /** Clock values left in the block reserved in EEPROM (Marshal.nextReserved); 0 after a reset. */
    private final short[] clockLeft = JCSystem.makeTransientShortArray((short) 1, JCSystem.CLEAR_ON_RESET);
    /** One EEPROM write of the clock per this many attestations (and per card reset). */
    private static final short CLOCK_BLOCK = 256;
    private final Keys keys;

    Attest(Keys keys) {
        this.keys = keys;
    }

    /** Called on every command: counts the first one after a card reset, and says it is. */
    boolean onCommand(byte[] scratch) {
        if (powered[0] == 0) {
            Util.arrayCopyNonAtomic(resetCount, (short) 0, scratch, (short) 0, (short) 4);
            Marshal.increment(scratch, (short) 0, (short) 4);
            Util.arrayCopy(scratch, (short) 0, resetCount, (short) 0, (short) 4);  // atomic
            powered[0] = 1;
            return true;
        }
        return false;
    }

    /** CLEAR: the clock and reset count start again (Part 3 §24.6). Inside CLEAR's transaction. */
    void clear() {
        Wipe.zero(clock, (short) 0, (short) 8);
        Wipe.zero(resetCount, (short) 0, (short) 4);
        clockLeft[0] = 0;  // RAM: not rolled back; at worst a block is reserved again
    }

    /** The last clock value reported (none yet in this block: the block's start - 1), resetCount. */
    short writeClock(byte[] out, short off) {
        Util.arrayCopyNonAtomic(clock, (short) 0, out, off, (short) 8);
        Marshal.subtract(out, off, (short) 8, clockLeft[0]);
        off += 8;
        return Util.arrayCopyNonAtomic(resetCount, (short) 0, out, off, (short) 4);
    }

    /**
     * Header common to all attestations: magic, type, qualifiedSigner, extraData, clockInfo,
     * firmwareVersion. Advances the clock first: from a block reserved in EEPROM before any of
     * it is reported, so the clock never repeats or goes back and {@code safe} stays YES, at one
     * EEPROM write per CLOCK_BLOCK attestations (docs/mtpm.md "Quote").
     */
    private short header(short type, byte[] signerQualifiedName, byte[] nonce, short nonceOff, short nonceLen,
                         byte[] out, short off) {
        // TPMS_CLOCK_INFO.clock goes after magic 4, type 2, qualifiedSigner 2+34, extraData 2+n.
        Marshal.nextReserved(clock, clockLeft, CLOCK_BLOCK, out, (short) (off + 44 + nonceLen), (short) 8);
        off = Marshal.u32(out, off, Tpm2.GENERATED_HIGH, Tpm2.GENERATED_LOW);
        off = Marshal.u16(out, off, type);
        off = Marshal.u16(out, off, Marshal.NAME_LENGTH);
        off = Util.arrayCopyNonAtomic(signerQualifiedName, (short) 0, out, off, Marshal.NAME_LENGTH);
        off = Marshal.u16(out, off, nonceLen);
        off = Util.arrayCopyNonAtomic(nonce, nonceOff, out, off, nonceLen);
        off += 8;  // the clock, written above
        off = Util.arrayCopyNonAtomic(resetCount, (short) 0, out, off, (short) 4);
        off = Marshal.u32(out, off, (short) 0, (short) 0);   // restartCount
        out[off++] = (byte) 1;                                // safe = YES
        off = Marshal.u32(out, off, Constants.FIRMWARE_MAJOR, Constants.FIRMWARE_MINOR);
        return Marshal.u32(out, off, (short) 0, (short) 0);
    }

    /** TPM2_Quote (Part 3 §18.4): the caller has computed pcrDigest at digest[digestOff]. */
    short quote(byte[] selection, short selectionOff, byte[] digest, short digestOff,
                byte[] nonce, short nonceOff, short nonceLen, byte[] out, short outOff) {
        short start = (short) (outOff + 2);
        short off = header(Tpm2.ST_ATTEST_QUOTE, keys.akQualifiedName, nonce, nonceOff, nonceLen, out, start);
        off = Marshal.u32(out, off, (short) 0, (short) 1);           // TPML_PCR_SELECTION.count
        off = Marshal.u16(out, off, Tpm2.ALG_SHA256);
        out[off++] = (byte) Constants.SELECTION_LENGTH;
        off = Util.arrayCopyNonAtomic(selection, selectionOff, out, off, Constants.SELECTION_LENGTH);
        off = Marshal.u16(out, off, Constants.DIGEST_LENGTH);
        off = Util.arrayCopyNonAtomic(digest, digestOff, out, off, Constants.DIGEST_LENGTH);
        return finish(keys.ak, out, outOff, start, off);
    }

    /** TPM2_Certify (Part 3 §18.2) of a card key by the EK. */
    short certify(byte[] name, byte[] qualifiedName, byte[] nonce, short nonceOff, short nonceLen,
                  byte[] out, short outOff) {
        short start = (short) (outOff + 2);
        short off = header(Tpm2.ST_ATTEST_CERTIFY, keys.ekQualifiedName, nonce, nonceOff, nonceLen, out, start);
        off = Marshal.u16(out, off, Marshal.NAME_LENGTH);
        off = Util.arrayCopyNonAtomic(name, (short) 0, out, off, Marshal.NAME_LENGTH);
        off = Marshal.u16(out, off, Marshal.NAME_LENGTH);
        off = Util.arrayCopyNonAtomic(qualifiedName, (short) 0, out, off, Marshal.NAME_LENGTH);
        return finish(keys.ek, out, outOff, start, off);
    }

    private short finish(Identity signer, byte[] out, short outOff, short start, short end) {
        short attestLength = (short) (end - start);
        Marshal.u16(out, outOff, attestLength);
        short signatureLength = keys.sign(signer, out, start, attestLength, out, end);
        return (short) (2 + attestLength + signatureLength);
    }
}
