package tpmcard.mtpm;

import javacard.framework.ISOException;
import javacard.framework.Util;
import javacard.security.MessageDigest;
import tpmcard.core.HostPcrs;

/**
 * The mobile TPM's 24 SHA-256 PCRs. PCRs 0..8 are the host TPM's values verified in the current
 * secure session's handshake quote; the service asks the core applet for one at a time (HostPcrs,
 * through the APDU buffer) and never stores them. PCRs 9..23 live in a persistent array (480 bytes
 * are more RAM than the suite has to spare) that the first command after every card reset
 * zeroes: zero after every card reset, as a TPM's PCRs are after TPM2_Startup(CLEAR) (PC Client
 * PTP §4.6). Selections are the 3-byte
 * bitmaps of TPMS_PCR_SELECTION (Part 2 §10.6.2): PCR i is bit (i mod 8) of byte i/8.
 */
final class Pcrs {
    private final byte[] cardPcrs = new byte[(short) (Constants.CARD_PCR_COUNT * Constants.DIGEST_LENGTH)];
    /** Whether any card PCR may be non-zero (persistent): spares the EEPROM a clear of zeros. */
    private boolean dirty;
    private final MessageDigest sha256;

    Pcrs(MessageDigest sha256) {
        this.sha256 = sha256;
    }

    /** Card reset: PCRs 9..23 back to zero. Non-atomic: a torn clear is finished at the next power-up. */
    void powerOn() {
        if (dirty) {
            Util.arrayFillNonAtomic(cardPcrs, (short) 0, (short) cardPcrs.length, (byte) 0);
            dirty = false;
        }
    }

    static boolean selected(byte[] selection, short selectionOff, short index) {
        return (selection[(short) (selectionOff + (index >> 3))] & (short) (1 << (index & 7))) != 0;
    }

    /** Refuses an empty selection (a quote or policy over nothing proves nothing). */
    static void checkSelection(byte[] selection, short off) {
        if ((short) (selection[off] | selection[(short) (off + 1)] | selection[(short) (off + 2)]) == 0) {
            ISOException.throwIt(Constants.SW_WRONG_DATA);
        }
    }

    /**
     * Copies PCR index of the combined view to out[outOff]; returns the offset after it. A host PCR
     * comes from the core applet through {@code host}, which writes it into the APDU buffer's slot
     * ({@code slot} at slotOff, 32 bytes): the values never leave the core's
     * context otherwise.
     */
    short read(short index, HostPcrs host, byte[] slot, short slotOff, byte[] out, short outOff) {
        if (index < Constants.HOST_PCR_COUNT) {
            host.copyHostPcr(index, slot, slotOff);
            return Util.arrayCopyNonAtomic(slot, slotOff, out, outOff, Constants.DIGEST_LENGTH);
        }
        return Util.arrayCopyNonAtomic(cardPcrs, cardOffset(index), out, outOff, Constants.DIGEST_LENGTH);
    }

    /** The selected PCRs' values in index order; returns the offset after them. */
    short readSelection(byte[] selection, short selectionOff, HostPcrs host, byte[] slot, short slotOff,
                        byte[] out, short outOff) {
        for (short i = 0; i < Constants.PCR_COUNT; i++) {
            if (selected(selection, selectionOff, i)) {
                outOff = read(i, host, slot, slotOff, out, outOff);
            }
        }
        return outOff;
    }

    /** pcrDigest = SHA-256(selected values in index order), Part 3 §18.4 and §23.7. */
    short compositeDigest(byte[] selection, short selectionOff, HostPcrs host, byte[] slot, short slotOff,
                          byte[] out, short outOff) {
        sha256.reset();
        for (short i = 0; i < Constants.PCR_COUNT; i++) {
            if (selected(selection, selectionOff, i)) {
                if (i < Constants.HOST_PCR_COUNT) {
                    host.copyHostPcr(i, slot, slotOff);
                    sha256.update(slot, slotOff, Constants.DIGEST_LENGTH);
                } else {
                    sha256.update(cardPcrs, cardOffset(i), Constants.DIGEST_LENGTH);
                }
            }
        }
        return sha256.doFinal(out, outOff, (short) 0, out, outOff);
    }

    /** PCR[index] = SHA-256(PCR[index] || digest) (Part 3 §22.2); new value at out[outOff]. */
    short extend(short index, byte[] digest, short digestOff, byte[] out, short outOff) {
        short at = cardOffset(index);
        if (!dirty) {
            dirty = true;  // one EEPROM write per power cycle, not one per extend
        }
        sha256.reset();
        sha256.update(cardPcrs, at, Constants.DIGEST_LENGTH);
        sha256.doFinal(digest, digestOff, Constants.DIGEST_LENGTH, cardPcrs, at);
        return Util.arrayCopyNonAtomic(cardPcrs, at, out, outOff, Constants.DIGEST_LENGTH);
    }

    /** Only PCR 16 and 23 are resettable (PC Client PTP §4.6, locality 0). */
    void reset(short index) {
        short at = cardOffset(index);
        if (index != Constants.RESETTABLE_PCR_A && index != Constants.RESETTABLE_PCR_B) {
            ISOException.throwIt(Constants.SW_PCR_NOT_RESETTABLE);
        }
        Util.arrayFillNonAtomic(cardPcrs, at, Constants.DIGEST_LENGTH, (byte) 0);
    }

    private static short cardOffset(short index) {
        if (index < 0 || index >= Constants.PCR_COUNT) {
            ISOException.throwIt(Constants.SW_INCORRECT_P1P2);
        }
        if (index < Constants.HOST_PCR_COUNT) {
            ISOException.throwIt(Constants.SW_HOST_PCR_READ_ONLY);
        }
        return (short) ((index - Constants.HOST_PCR_COUNT) * Constants.DIGEST_LENGTH);
    }
}
