package tpmcard.core;

import javacard.framework.APDU;
import javacard.framework.ISO7816;
import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.SystemException;
import javacard.framework.Util;

/**
 * Command chaining and response chaining for every command of the suite, so that handlers see
 * one command of up to {@code capacity} bytes and produce one response of up to {@code capacity}
 * bytes whatever the APDU form the host used.
 *
 * <ul>
 * <li>Command chaining, ISO 7816-4 §5.4.1: every segment but the last has CLA bit 0x10 set; all
 *     segments carry the same INS, P1 and P2. Intermediate segments are stored and answered 9000
 *     without data; the last one hands the assembled data to the handler.</li>
 * <li>Response chaining, ISO 7816-4 (SW 61xx and GET RESPONSE): a response longer than the
 *     APDU may carry is sent in parts; each part but the last ends with 61xx (xx = bytes still
 *     pending, 00 for 256 or more) and GET RESPONSE fetches the next part.</li>
 * </ul>
 *
 * Lengths: a short APDU carries at most 256 response bytes, an extended one at most 32767
 * (the JavaCard limit for Ne), both further limited by Le when the host sent one. An absent Le
 * (and jCardSim's Le = 0000, which it reports as 0) counts as the maximum of the APDU's form.
 *
 * State lives in CLEAR_ON_DESELECT RAM, so a SELECT or a card reset drops any chain and any
 * pending response.
 *
 * <p>One data buffer per command, command and response in it together: the command at
 * {@code [0, length)}, the response at {@link #responseOffset()} (after the command, or over it
 * when a handler answers in place, as ECHO and secure messaging do). Two buffers exist: a small
 * RAM buffer for the common case (an unchained command of at most
 * {@link #ramCommandLimit()} bytes, whose answer fits beside it) and a large persistent one for
 * command chains, long extended commands and long answers ({@link #reserveResponse}). Only that
 * rarer path writes EEPROM, with non-atomic copies so it never fills the transaction buffer.
 * Without room for the RAM buffer at install, every command takes the persistent path.
 */
public final class ApduIo {
    /** Returned by {@link #receive} for an intermediate chain segment: answer 9000 without data. */
    public static final short CHAIN_CONTINUES = (short) -1;

    private static final short VAR_CHAIN_LENGTH = 0;
    private static final short VAR_RESPONSE_OFFSET = 1;
    private static final short VAR_RESPONSE_REMAINING = 2;
    private static final short VAR_FLAGS = 3;
    private static final short VAR_BUFFER = 4;          // BUFFER_RAM or BUFFER_PERSISTENT
    private static final short VAR_RESPONSE_START = 5;  // where the handler put its response
    private static final short VAR_COUNT = 6;

    private static final short BUFFER_RAM = 0;
    private static final short BUFFER_PERSISTENT = 1;

    private static final short FLAG_CHAIN_ACTIVE = 0x01;
    private static final short FLAG_EXTENDED_APDU = 0x02;
    private static final short FLAG_RESPONSE_PENDING = 0x04;

    // The header that every later segment of a chain must repeat (CLA without the chaining bit).
    private static final short HEADER_CLA = 0;
    private static final short HEADER_INS = 1;
    private static final short HEADER_P1 = 2;
    private static final short HEADER_P2 = 3;
    private static final short HEADER_LENGTH = 4;

    private final short capacity;
    private final byte[] ram;
    private final byte[] persistent;
    private final short[] vars;
    private final byte[] chainHeader;

    /**
     * Allocates the buffers: {@code capacity} bytes of command data at most, in a persistent
     * buffer of {@code persistentLength} bytes (command plus response), and with {@code preferRam}
     * a RAM buffer of {@code ramLength} bytes if the card has room. The RAM buffer is
     * CLEAR_ON_RESET, so that the applet may use it as scratch while it is being installed (the
     * only transient RAM it may touch then), and wiped on every deselect ({@link #wipeRam}).
     */
    public ApduIo(short capacity, short persistentLength, short ramLength, boolean preferRam) {
        this.capacity = capacity;
        vars = JCSystem.makeTransientShortArray(VAR_COUNT, JCSystem.CLEAR_ON_DESELECT);
        chainHeader = JCSystem.makeTransientByteArray(HEADER_LENGTH, JCSystem.CLEAR_ON_DESELECT);
        ram = preferRam ? allocateRam(ramLength) : null;
        persistent = new byte[persistentLength];
    }

    private static byte[] allocateRam(short length) {
        try {
            return JCSystem.makeTransientByteArray(length, JCSystem.CLEAR_ON_RESET);
        } catch (SystemException e) {
            if (e.getReason() != SystemException.NO_TRANSIENT_SPACE) {
                throw e;
            }
            return null;
        }
    }

    /** The buffer of the current command and its response. */
    public byte[] buffer() {
        return vars[VAR_BUFFER] == BUFFER_RAM && ram != null ? ram : persistent;
    }

    public short capacity() {
        return capacity;
    }

    /**
     * The RAM buffer, or null without one. Its end doubles as the binding's work area
     * (BindingTransients), which {@link #receive(APDU, boolean, short, short)} keeps clear of.
     */
    public byte[] ramBuffer() {
        return ram;
    }

    /** The persistent buffer (its end holds PAIR's public values when the RAM buffer is small). */
    public byte[] persistentBuffer() {
        return persistent;
    }

    /** Zeroes the RAM buffer (deselect: it is CLEAR_ON_RESET, cleared by the card only at reset). */
    public void wipeRam() {
        if (ram != null) {
            Util.arrayFillNonAtomic(ram, (short) 0, (short) ram.length, (byte) 0);
        }
    }

    /** Whether common commands are handled in RAM (the card had room for the RAM buffer). */
    public boolean hasRamBuffer() {
        return ram != null;
    }

    /**
     * The longest command data taken into RAM: RAM_ANSWER_RESERVE bytes stay for the answer of a
     * binding command and its secure-messaging overhead. Longer answers (INVOKE, LIST PAIRINGS)
     * move to the persistent buffer through {@link #reserveResponse}; ECHO answers in place.
     */
    public short ramCommandLimit() {
        return ram == null ? 0 : (short) (ram.length - Constants.RAM_ANSWER_RESERVE);
    }

    /** Where the handler of the current command puts its response (after the command by default). */
    public short responseOffset() {
        return vars[VAR_RESPONSE_START];
    }

    public void setResponseOffset(short offset) {
        vars[VAR_RESPONSE_START] = offset;
    }

    /**
     * Makes room for a response of up to {@code length} bytes at {@code offset} (secure messaging
     * overhead included by the caller): when the RAM buffer is too small, the first
     * {@code keep} bytes (the command, if still needed) move to the persistent buffer, which
     * becomes the current one. Returns the buffer to write to. More than even the persistent
     * buffer holds is 6700.
     */
    public byte[] reserveResponse(short offset, short length, short keep) {
        short end = (short) (offset + length);
        if (end < 0 || end > (short) persistent.length) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
        byte[] current = buffer();
        if (current != persistent && end > (short) current.length) {
            if (keep > 0) {
                Util.arrayCopyNonAtomic(current, (short) 0, persistent, (short) 0, keep);
            }
            vars[VAR_BUFFER] = BUFFER_PERSISTENT;
        }
        return buffer();
    }

    public boolean isChainInProgress() {
        return (vars[VAR_FLAGS] & FLAG_CHAIN_ACTIVE) != 0;
    }

    public boolean isResponsePending() {
        return (vars[VAR_FLAGS] & FLAG_RESPONSE_PENDING) != 0;
    }

    /** True when this APDU repeats the CLA (chaining bit aside), INS, P1 and P2 of the chain. */
    public boolean isChainContinuation(byte[] apduBuffer) {
        return (byte) (apduBuffer[ISO7816.OFFSET_CLA] & ~Constants.CLA_CHAINING_BIT) == chainHeader[HEADER_CLA]
                && apduBuffer[ISO7816.OFFSET_INS] == chainHeader[HEADER_INS]
                && apduBuffer[ISO7816.OFFSET_P1] == chainHeader[HEADER_P1]
                && apduBuffer[ISO7816.OFFSET_P2] == chainHeader[HEADER_P2];
    }

    public void discardChain() {
        vars[VAR_CHAIN_LENGTH] = 0;
        clearFlag(FLAG_CHAIN_ACTIVE);
    }

    public void discardResponse() {
        vars[VAR_RESPONSE_OFFSET] = 0;
        vars[VAR_RESPONSE_REMAINING] = 0;
        clearFlag(FLAG_RESPONSE_PENDING);
    }

    /** Drops any chain and any pending response (SELECT, and every error status word). */
    public void reset() {
        discardChain();
        discardResponse();
    }

    /**
     * When the current buffer is the persistent one: zeroes {@code [0, keep)} and
     * {@code [keep + keepLength, end)}, i.e. everything of the command but the protected answer
     * at keep. Non-atomic; a no-op for the RAM buffer (cleared on deselect anyway).
     */
    public void wipePersistentAround(short keep, short keepLength, short end) {
        if (buffer() != persistent) {
            return;
        }
        if (keep > 0) {
            Util.arrayFillNonAtomic(persistent, (short) 0, keep, (byte) 0);
        }
        short after = (short) (keep + keepLength);
        if (end > after) {
            Util.arrayFillNonAtomic(persistent, after, (short) (end - after), (byte) 0);
        }
    }

    /**
     * For a command that carries no data (GET RESPONSE): refuses the chaining bit (6884) and any
     * data (6700) without touching the buffers, so a pending response stays where it is.
     */
    public void receiveNothing(APDU apdu) {
        byte[] buffer = apdu.getBuffer();
        if ((buffer[ISO7816.OFFSET_CLA] & Constants.CLA_CHAINING_BIT) != 0) {
            ISOException.throwIt(ISO7816.SW_COMMAND_CHAINING_NOT_SUPPORTED);
        }
        if (apdu.setIncomingAndReceive() != 0 || apdu.getIncomingLength() != 0) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
    }

    /**
     * Reads the command data of this APDU into the command buffer, after the segments already
     * stored if a chain is in progress. The caller has checked that the APDU belongs to the chain.
     *
     * @return the length of the whole command data (offset 0 of the command buffer), or
     *         {@link #CHAIN_CONTINUES} for a segment with the chaining bit
     */
    public short receive(APDU apdu, boolean chainingAllowed) {
        return receive(apdu, chainingAllowed, capacity);
    }

    /**
     * As {@link #receive(APDU, boolean)}, with the whole command data (all segments) limited to
     * {@code limit} bytes, at most the capacity: more is 6700, decided before any byte is copied.
     */
    public short receive(APDU apdu, boolean chainingAllowed, short limit) {
        return receive(apdu, chainingAllowed, limit, Constants.RAM_ANSWER_RESERVE);
    }

    /**
     * As {@link #receive(APDU, boolean, short)}, with the command taken into RAM only when it
     * leaves {@code ramReserve} bytes (at least RAM_ANSWER_RESERVE) free at the end of the RAM
     * buffer: room for its answer and whatever its handler keeps there.
     */
    public short receive(APDU apdu, boolean chainingAllowed, short limit, short ramReserve) {
        if (limit > capacity) {
            limit = capacity;
        }
        byte[] buffer = apdu.getBuffer();
        boolean chained = (buffer[ISO7816.OFFSET_CLA] & Constants.CLA_CHAINING_BIT) != 0;
        if (chained && !chainingAllowed) {
            ISOException.throwIt(ISO7816.SW_COMMAND_CHAINING_NOT_SUPPORTED);
            return CHAIN_CONTINUES;
        }

        short received = apdu.setIncomingAndReceive();
        short declared = apdu.getIncomingLength();
        short dataOffset = apdu.getOffsetCdata();
        if (dataOffset == ISO7816.OFFSET_EXT_CDATA) {
            setFlag(FLAG_EXTENDED_APDU);
        } else {
            clearFlag(FLAG_EXTENDED_APDU);
        }

        short start = isChainInProgress() ? vars[VAR_CHAIN_LENGTH] : 0;
        if (!isChainInProgress()) {
            // A chain, or a command too long for RAM, is assembled in the persistent buffer.
            short ramLimit = ram == null ? 0 : (short) (ram.length - ramReserve);
            vars[VAR_BUFFER] = (!chained && declared >= 0 && declared <= ramLimit && ram != null)
                    ? BUFFER_RAM : BUFFER_PERSISTENT;
        }
        byte[] command = buffer();
        // Too long for the buffer, alone or with the segments before it: 6700, decided before
        // any byte is copied. A negative Lc is an extended Lc above 32767.
        if (declared < 0 || declared > (short) (limit - start)) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
            return CHAIN_CONTINUES;
        }
        short end = start;
        while (received > 0) {
            if (received > (short) (limit - end)) {
                ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
                return CHAIN_CONTINUES;
            }
            Util.arrayCopyNonAtomic(buffer, dataOffset, command, end, received);
            end += received;
            received = apdu.receiveBytes(dataOffset);
        }
        // Lc that disagrees with the bytes that arrived (truncated command): wrong length.
        if ((short) (end - start) != declared) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
            return CHAIN_CONTINUES;
        }

        if (chained) {
            if (!isChainInProgress()) {
                chainHeader[HEADER_CLA] = (byte) (buffer[ISO7816.OFFSET_CLA] & ~Constants.CLA_CHAINING_BIT);
                chainHeader[HEADER_INS] = buffer[ISO7816.OFFSET_INS];
                chainHeader[HEADER_P1] = buffer[ISO7816.OFFSET_P1];
                chainHeader[HEADER_P2] = buffer[ISO7816.OFFSET_P2];
                setFlag(FLAG_CHAIN_ACTIVE);
            }
            vars[VAR_CHAIN_LENGTH] = end;
            return CHAIN_CONTINUES;
        }
        discardChain();
        vars[VAR_RESPONSE_START] = end;
        return end;
    }

    /**
     * Sends buffer()[responseOffset(), + length) as far as this APDU allows and keeps the rest for
     * GET RESPONSE.
     *
     * @return 9000, or 61xx when part of the response is pending
     */
    public short send(APDU apdu, short length) {
        vars[VAR_RESPONSE_OFFSET] = vars[VAR_RESPONSE_START];
        vars[VAR_RESPONSE_REMAINING] = length;
        setFlag(FLAG_RESPONSE_PENDING);
        return sendPending(apdu);
    }

    /** GET RESPONSE: sends the next part of the pending response; 6985 when none is pending. */
    public short sendRemaining(APDU apdu) {
        if (!isResponsePending()) {
            ISOException.throwIt(ISO7816.SW_CONDITIONS_NOT_SATISFIED);
            return ISO7816.SW_CONDITIONS_NOT_SATISFIED;
        }
        return sendPending(apdu);
    }

    private short sendPending(APDU apdu) {
        short expected = apdu.setOutgoing();
        short limit = (vars[VAR_FLAGS] & FLAG_EXTENDED_APDU) != 0
                ? Constants.EXTENDED_RESPONSE_CHUNK : Constants.SHORT_RESPONSE_CHUNK;
        // expected <= 0: Le absent, or an extended Le of 0000 (65536) or above 32767.
        if (expected > 0 && expected < limit) {
            limit = expected;
        }
        short offset = vars[VAR_RESPONSE_OFFSET];
        short remaining = vars[VAR_RESPONSE_REMAINING];
        short part = remaining < limit ? remaining : limit;

        apdu.setOutgoingLength(part);
        if (part > 0) {
            apdu.sendBytesLong(buffer(), offset, part);
        }
        remaining -= part;
        if (remaining == 0) {
            discardResponse();
            return ISO7816.SW_NO_ERROR;
        }
        vars[VAR_RESPONSE_OFFSET] = (short) (offset + part);
        vars[VAR_RESPONSE_REMAINING] = remaining;
        return (short) (Constants.SW_BYTES_REMAINING_00 | (remaining > 255 ? 0 : remaining));
    }

    private void setFlag(short flag) {
        vars[VAR_FLAGS] = (short) (vars[VAR_FLAGS] | flag);
    }

    private void clearFlag(short flag) {
        vars[VAR_FLAGS] = (short) (vars[VAR_FLAGS] & ~flag);
    }
}
