package tpmcard.core;

import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.Util;

/**
 * The binding's transient RAM, all of it (docs/core-applet.md "Transient RAM"): the work area
 * (with the Kdf's scratch in it), the one-command carry (the challenge or the pending handshake),
 * the short variables and TpmAttest's parse state. The PIN, pairing and handshake handlers share
 * it; no handler allocates RAM of its own. (The secure channel keeps its state in its own class.)
 *
 * <p><b>The work area is an overlay.</b> It is not an array of its own: it is the last
 * {@link #WORK_LENGTH} bytes of the core's RAM I/O buffer ({@link ApduIo}), where the command and
 * its answer do not reach. Its fields are laid out from the end of that buffer, so that a command
 * that needs little of it leaves the most room in front for its data and answer:
 *
 * <pre>
 *   end - 648 .. end - 583   POINT2  65  AK point (PAIR)
 *   end - 583 .. end - 518   POINT   65  binding key point (PAIR)
 *   end - 518 .. end - 484   NAME    34  binding key Name (PAIR)
 *   end - 484 .. end - 436   PIN     48  decrypted PIN block                    \
 *   end - 436 .. end - 388   KEYS    48  PIN keys: enc, mac, receipt            |  PIN cryptogram:
 *   end - 388 .. end - 292   Z       96  Z values, pairing secret, scalar  \    |  NEED_PIN = 484
 *   end - 292 .. end - 256   KDF     36  Kdf scratch                       | SESSION INIT:
 *   end - 256 .. end -  32   INFO   224  KDF SharedInfo, transcript hashes | NEED_INIT = 388
 *   end - 128 .. end -  32     (within INFO) th2, th3, digest (SESSION AUTH: NEED_AUTH = 128)
 *   end -  32 .. end -  16   MAC     16  computed MAC
 *   end -  16 .. end         SMALL   16  small values, zero IV
 * </pre>
 *
 * How the overlay is kept safe: {@link #ramReserve} tells ApduIo, per instruction, how many bytes
 * at the end of the RAM buffer the command's data and answer (secure messaging included) must
 * leave free; a longer command goes to the persistent I/O buffer, and then the whole RAM buffer is
 * free. Every binding command is unchained (a chain is always assembled in the persistent buffer).
 * The work area is wiped at the start of the next command once a handler has used it, on a
 * failed handshake, and on deselect. On a card without room for the RAM I/O buffer the core gives
 * the binding an array of its own of WORK_LENGTH bytes instead (all commands are persistent then).
 *
 * <p><b>Small RAM I/O buffer</b> (a card with little transient RAM, a J3H145: Constants.RAM_IO_SMALL_LENGTH).
 * PAIR's three public values (POINT2, POINT, NAME: the AK point, the binding key point and its
 * Name, 164 bytes) then live at the end of the persistent I/O buffer ({@link #pairValues}), after
 * any PAIR command and its answer, and the work area in RAM is {@link #NEED_PIN} bytes. PAIR then
 * always takes the persistent buffer (its reserve, NEED_PAIR, exceeds the RAM buffer): it writes
 * those public values to EEPROM, once per pairing, as it writes the pairing itself.
 *
 * <p>The carry (32 bytes, CLEAR_ON_DESELECT) lives from one command to the next: the challenge of
 * GET CHALLENGE, or th2 of a pending handshake (whose keys wait in key objects). Each is usable by
 * the very next command only, so the two never need to coexist: whichever is made drops the other.
 */
final class BindingTransients {
    /** Bytes of the work area at the end of the RAM I/O buffer (the longest need: PAIR). */
    static final short WORK_LENGTH = 648;
    /** How much of the work area each kind of command uses, counted from the buffer's end. */
    static final short NEED_AUTH = 128;
    static final short NEED_INIT = 388;
    static final short NEED_PIN = 484;
    static final short NEED_PAIR = WORK_LENGTH;

    // Short variables (CLEAR_ON_DESELECT).
    static final short V_CHALLENGE = 0;     // AGE_*
    static final short V_HANDSHAKE = 1;     // AGE_*
    static final short V_HANDSHAKE_SLOT = 2;
    static final short V_SECURED = 3;       // 1 while the current command came protected
    static final short V_TLV_LENGTH = 4;
    static final short V_FIELD1_OFFSET = 5;
    static final short V_FIELD1_LENGTH = 6;
    static final short V_FIELD2_OFFSET = 7;
    static final short V_FIELD2_LENGTH = 8;
    static final short V_SESSION_ID = 9;    // the open session's id, 0 without one
    static final short V_WORK_USED = 10;    // 1 once a handler wrote the work area
    private static final short V_COUNT = 11;

    // A challenge or a handshake is made by one command and usable by the next one only.
    static final short AGE_NONE = 0;
    static final short AGE_ISSUED = 1;
    static final short AGE_USABLE = 2;

    static final short CARRY_LENGTH = 32;

    /** PAIR's public values outside the work area: the end of the persistent I/O buffer. */
    static final short PAIR_VALUES_LENGTH = (short) (WORK_LENGTH - NEED_PIN);

    /** The RAM I/O buffer (or the binding's own array): the work area is its last workLength bytes. */
    final byte[] work;
    /** Where POINT2, POINT and NAME are: {@link #work}, or the persistent I/O buffer (small RAM buffer). */
    final byte[] pairValues;
    // Absolute offsets of the work area's fields in {@link #work} (point2, point and name in pairValues).
    final short workStart;
    final short workLength;
    final short point2;
    final short point;
    final short name;
    final short pin;
    final short keys;
    final short z;
    final short kdf;
    final short info;
    final short th2;      // SESSION AUTH: th2, th3 and a digest, the last 96 bytes of INFO
    final short th3;
    final short digest;
    final short mac;
    final short small;
    /** CLEAR_ON_DESELECT: the challenge or th2 of the pending handshake. */
    final byte[] carry;
    final short[] vars;
    /** TpmAttest's parse state (offsets into the structure it parsed last). */
    final short[] tpmFields;

    /**
     * @param work transient RAM: the RAM I/O buffer, of at least WORK_LENGTH bytes, or of at least
     *        NEED_PIN bytes with {@code persistentIo}
     * @param persistentIo the persistent I/O buffer, whose last PAIR_VALUES_LENGTH bytes hold PAIR's
     *        public values when {@code work} is shorter than WORK_LENGTH
     */
    BindingTransients(byte[] work, byte[] persistentIo) {
        short end = (short) work.length;
        this.work = work;
        if (end >= WORK_LENGTH) {
            pairValues = work;
            workLength = WORK_LENGTH;
            point2 = (short) (end - WORK_LENGTH);
        } else {
            if (end < NEED_PIN || persistentIo == null) {
                ISOException.throwIt(Constants.SW_NOT_ENOUGH_MEMORY);
            }
            pairValues = persistentIo;
            workLength = NEED_PIN;
            point2 = (short) (persistentIo.length - PAIR_VALUES_LENGTH);
        }
        workStart = (short) (end - workLength);
        point = (short) (point2 + 65);
        name = (short) (point2 + 130);
        pin = (short) (end - 484);
        keys = (short) (end - 436);
        z = (short) (end - 388);
        kdf = (short) (end - 292);
        info = (short) (end - 256);
        th2 = (short) (end - 128);
        th3 = (short) (end - 96);
        digest = (short) (end - 64);
        mac = (short) (end - 32);
        small = (short) (end - 16);
        carry = JCSystem.makeTransientByteArray(CARRY_LENGTH, JCSystem.CLEAR_ON_DESELECT);
        vars = JCSystem.makeTransientShortArray(V_COUNT, JCSystem.CLEAR_ON_DESELECT);
        tpmFields = JCSystem.makeTransientShortArray(TpmAttest.R_COUNT, JCSystem.CLEAR_ON_DESELECT);
    }

    /**
     * Bytes ApduIo keeps free at the end of the RAM buffer for this instruction: the work area the
     * handler uses, its answer, and secure messaging's overhead for a protected command. At least
     * {@code defaultReserve} (the answer reserve of every other command).
     */
    static short ramReserve(byte ins, boolean secured, short defaultReserve) {
        short need;
        short answer;
        switch (ins) {
            case Constants.INS_SESSION_AUTH:
                need = NEED_AUTH;
                answer = (short) (2 + Constants.CRYPTOGRAM_LENGTH);
                break;
            case Constants.INS_SESSION_INIT:
                need = NEED_INIT;
                answer = (short) (4 + Constants.EC_POINT_LENGTH + Constants.CRYPTOGRAM_LENGTH);
                break;
            case Constants.INS_CHANGE_REFERENCE_DATA:
            case Constants.INS_RESET_RETRY_COUNTER:
            case Constants.INS_UNPAIR:
            case Constants.INS_PUT_DATA:
                need = NEED_PIN;
                answer = (short) (2 + Constants.CRYPTOGRAM_LENGTH);
                break;
            case Constants.INS_PAIR:
                need = NEED_PAIR;
                answer = (short) (5 + Constants.CRYPTOGRAM_LENGTH);
                break;
            default:
                return defaultReserve;
        }
        short reserve = (short) (need + answer);
        if (secured) {
            reserve += (short) (Constants.SM_OVERHEAD + 2);
        }
        return reserve > defaultReserve ? reserve : defaultReserve;
    }

    /** A handler takes the work area: it is wiped at the start of the next command. */
    void useWork() {
        vars[V_WORK_USED] = 1;
    }

    /** Wipes the work area if a handler used it since the last wipe (the start of every command). */
    void wipeWorkIfUsed() {
        if (vars[V_WORK_USED] != 0) {
            wipeWork();
        }
    }

    void wipeWork() {
        Util.arrayFillNonAtomic(work, workStart, workLength, (byte) 0);
        vars[V_WORK_USED] = 0;
    }

    void wipeCarry() {
        Util.arrayFillNonAtomic(carry, (short) 0, CARRY_LENGTH, (byte) 0);
    }

    // ---------------------------------------------------------------------------------------
    // TLV (fixed order, one tag byte, BER length up to 82 xx xx).

    /** The value offset of the TLV with this tag at buf[position]; its length in {@link #tlvLength}. */
    short expect(byte[] buf, short position, short end, byte tag, short sw) {
        if ((short) (end - position) < 2 || buf[position] != tag) {
            ISOException.throwIt(sw);
        }
        short length = (short) (buf[(short) (position + 1)] & 0xFF);
        position += 2;
        if (length == 0x81) {
            if ((short) (end - position) < 1) {
                ISOException.throwIt(sw);
            }
            length = (short) (buf[position++] & 0xFF);
        } else if (length == 0x82) {
            if ((short) (end - position) < 2) {
                ISOException.throwIt(sw);
            }
            length = Util.getShort(buf, position);
            position += 2;
        } else if (length > 0x7F) {
            ISOException.throwIt(sw);
        }
        if (length < 0 || (short) (end - position) < length) {
            ISOException.throwIt(sw);
        }
        vars[V_TLV_LENGTH] = length;
        return position;
    }

    /** As {@link #expect(byte[], short, short, byte, short)}, with a value of exactly this length. */
    short expect(byte[] buf, short position, short end, byte tag, short length, short sw) {
        short value = expect(buf, position, end, tag, sw);
        if (vars[V_TLV_LENGTH] != length) {
            ISOException.throwIt(sw);
        }
        return value;
    }

    short tlvLength() {
        return vars[V_TLV_LENGTH];
    }
}
