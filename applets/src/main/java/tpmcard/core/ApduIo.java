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
 * pending response. The two data buffers are RAM when the card can give it, else persistent.
 */
public final class ApduIo {
    /** Returned by {@link #receive} for an intermediate chain segment: answer 9000 without data. */
    public static final short CHAIN_CONTINUES = (short) -1;

    private static final short VAR_CHAIN_LENGTH = 0;
    private static final short VAR_RESPONSE_OFFSET = 1;
    private static final short VAR_RESPONSE_REMAINING = 2;
    private static final short VAR_FLAGS = 3;
    private static final short VAR_COUNT = 4;

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
    private final byte[] command;
    private final byte[] response;
    private final boolean commandInRam;
    private final boolean responseInRam;
    private final short[] vars;
    private final byte[] chainHeader;

    /**
     * Allocates the buffers. With {@code preferRam} the data buffers are CLEAR_ON_DESELECT RAM if
     * the card has room, else persistent arrays (written with non-atomic copies, so they never
     * fill the transaction buffer). The response buffer is asked for first: it is rewritten for
     * every long answer.
     */
    public ApduIo(short capacity, boolean preferRam) {
        this.capacity = capacity;
        vars = JCSystem.makeTransientShortArray(VAR_COUNT, JCSystem.CLEAR_ON_DESELECT);
        chainHeader = JCSystem.makeTransientByteArray(HEADER_LENGTH, JCSystem.CLEAR_ON_DESELECT);

        byte[] ram = preferRam ? allocateRam(capacity) : null;
        responseInRam = ram != null;
        response = responseInRam ? ram : new byte[capacity];

        ram = preferRam ? allocateRam(capacity) : null;
        commandInRam = ram != null;
        command = commandInRam ? ram : new byte[capacity];
    }

    private static byte[] allocateRam(short length) {
        try {
            return JCSystem.makeTransientByteArray(length, JCSystem.CLEAR_ON_DESELECT);
        } catch (SystemException e) {
            if (e.getReason() != SystemException.NO_TRANSIENT_SPACE) {
                throw e;
            }
            return null;
        }
    }

    public byte[] commandBuffer() {
        return command;
    }

    public byte[] responseBuffer() {
        return response;
    }

    public short capacity() {
        return capacity;
    }

    public boolean isCommandBufferInRam() {
        return commandInRam;
    }

    public boolean isResponseBufferInRam() {
        return responseInRam;
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
        return end;
    }

    /**
     * Sends response[0..length) as far as this APDU allows and keeps the rest for GET RESPONSE.
     *
     * @return 9000, or 61xx when part of the response is pending
     */
    public short send(APDU apdu, short length) {
        vars[VAR_RESPONSE_OFFSET] = 0;
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
        if (limit > capacity) {
            limit = capacity;
        }
        short offset = vars[VAR_RESPONSE_OFFSET];
        short remaining = vars[VAR_RESPONSE_REMAINING];
        short part = remaining < limit ? remaining : limit;

        apdu.setOutgoingLength(part);
        if (part > 0) {
            apdu.sendBytesLong(response, offset, part);
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
