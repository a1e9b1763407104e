package tpmcard.core;

import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.Util;
import javacard.security.AESKey;
import javacard.security.KeyBuilder;
import javacard.security.Signature;
import javacardx.crypto.Cipher;
import tpmcard.lib.ConstantTime;

/**
 * Secure messaging of an open session (docs/binding.md "Secure messaging"), after GP SCP03
 * (GP Card Spec v2.3 Amd D v1.2: §6.2.4 C-MAC, §6.2.5 R-MAC, §6.2.6 command and §6.2.7 response
 * encryption): AES-128 CBC with IVs derived from a per-command counter, AES-CMAC chained across
 * commands, ISO/IEC 9797-1 method 2 padding. Every response is encrypted and MACed, including
 * the real status word; the outer status word is 9000.
 *
 * Uniform failure: whatever check fails (no session, length, MAC, padding, counter), the session
 * is closed, its keys cleared, and 6982 thrown. The MAC is compared in constant time and checked
 * before anything is decrypted. All state is CLEAR_ON_DESELECT.
 *
 * <p>Cost: key setup (Cipher/Signature.init) is the dearest step on cards (several ms each), so
 * the IV cipher (ECB, S-ENC) and the two MACs (S-MAC, S-RMAC, one Signature object each) are
 * initialised once, when the session opens; doFinal() and sign() return them to that state. Per
 * command only the CBC cipher is initialised, twice (its IV changes): 2 inits instead of 6.
 *
 * <p>The binding's PIN cryptograms and key confirmations borrow the command MAC object
 * ({@link #lendCommandMac}): one AES-CMAC object less in RAM. A command that borrowed it inside a
 * session (a protected PIN command, rare) costs the next protected command one more init, to give
 * the object its session key back; every other command costs what it did.
 *
 * <p>Compact (a card with little RAM, a J3H145; CoreApplet decides at install): no IV cipher of
 * its own (each IV is one block of the CBC cipher with a zero IV, initialised for it) and one MAC
 * object for both directions (initialised with S-MAC before each command's MAC, with S-RMAC before
 * each response's): 4 CBC and 2 MAC inits per command instead of 2 and 0, for the RAM of an AES
 * engine and an AES-CMAC object (on a J3H145, whose AES-CMAC is the software one, 51 + 35 bytes).
 */
final class SecureChannel {
    private static final short BLOCK = 16;
    private static final short MAC_LENGTH = Constants.SM_MAC_LENGTH;

    // Layout of the transient state array.
    private static final short S_CHAIN = 0;                         // 16: MAC chaining value
    // 4: the command counter, the last 4 bytes of the counter block (its first 12 are zero)
    private static final short S_COUNTER = 16;
    private static final short COUNTER_LENGTH = 4;
    // 16: computed MAC; also the IV, which each direction needs only before its MAC is computed (a
    // command's after its MAC is checked and chained, a response's before its MAC), and the header
    // the MAC covers (CLA INS P1 P2 Lc(2) | 90 00), which the MAC takes in before it writes its result
    private static final short S_MAC = 20;
    private static final short S_IV = S_MAC;
    private static final short S_HEADER = S_MAC;
    private static final short S_FLAGS = 36;
    private static final short S_LENGTH = 37;
    private static final byte FLAG_OPEN = (byte) 0x01;
    private static final byte FLAG_CLOSE_AFTER_RESPONSE = (byte) 0x02;
    private static final byte FLAG_COMMAND_MAC_LENT = (byte) 0x04;

    private final AESKey enc;
    private final AESKey mac;
    private final AESKey rmac;
    private final Cipher cbc;
    /** The IV cipher (AES-ECB, S-ENC), or null when compact: cbc then makes the IVs. */
    private final Cipher ecb;
    private final Signature commandMac;
    private final Signature responseMac;
    private final byte[] state;

    /**
     * @param cbc shared (initialised per use); {@code ecb} and {@code responseMac} belong to this
     *            channel alone (initialised per session), {@code commandMac} too, but lent to the
     *            binding ({@link #lendCommandMac}). Compact: {@code ecb} null (cbc makes the IVs)
     *            and {@code responseMac} the same object as {@code commandMac} (initialised per use)
     */
    SecureChannel(Cipher cbc, Cipher ecb, Signature commandMac, Signature responseMac) {
        this.cbc = cbc;
        this.ecb = ecb;
        this.commandMac = commandMac;
        this.responseMac = responseMac;
        enc = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES_TRANSIENT_DESELECT, KeyBuilder.LENGTH_AES_128, false);
        mac = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES_TRANSIENT_DESELECT, KeyBuilder.LENGTH_AES_128, false);
        rmac = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES_TRANSIENT_DESELECT, KeyBuilder.LENGTH_AES_128, false);
        state = JCSystem.makeTransientByteArray(S_LENGTH, JCSystem.CLEAR_ON_DESELECT);
    }

    /**
     * Sets the session keys S-ENC || S-MAC || S-RMAC (48 bytes) into the key objects, the channel
     * still closed (SESSION INIT: they wait there for SESSION AUTH; {@link #close} forgets them).
     */
    void load(byte[] keys, short keysOffset) {
        close();
        enc.setKey(keys, keysOffset);
        mac.setKey(keys, (short) (keysOffset + BLOCK));
        rmac.setKey(keys, (short) (keysOffset + 2 * BLOCK));
    }

    /** Opens the session with the keys {@link #load}ed, and the initial MAC chain. */
    void start(byte[] chain, short chainOffset) {
        if (ecb != null) {
            ecb.init(enc, Cipher.MODE_ENCRYPT);
        }
        commandMac.init(mac, Signature.MODE_SIGN);
        if (responseMac != commandMac) {
            responseMac.init(rmac, Signature.MODE_SIGN);
        }
        Util.arrayCopyNonAtomic(chain, chainOffset, state, S_CHAIN, BLOCK);
        state[S_FLAGS] = FLAG_OPEN;
    }

    /** Opens a session: keys = S-ENC || S-MAC || S-RMAC (48 bytes), then the initial MAC chain. */
    void open(byte[] keys, short keysOffset, byte[] chain, short chainOffset) {
        load(keys, keysOffset);
        start(chain, chainOffset);
    }

    /**
     * The command MAC object for a binding computation with another key (any state): the next
     * protected command initialises it with S-MAC again before it uses it.
     */
    Signature lendCommandMac() {
        state[S_FLAGS] |= FLAG_COMMAND_MAC_LENT;
        return commandMac;
    }

    boolean isOpen() {
        return (state[S_FLAGS] & FLAG_OPEN) != 0;
    }

    /** Ends the session and forgets its keys. Idempotent. */
    void close() {
        enc.clearKey();
        mac.clearKey();
        rmac.clearKey();
        Util.arrayFillNonAtomic(state, (short) 0, S_LENGTH, (byte) 0);
    }

    /** SESSION CLOSE: the response to this command is still protected, then the session ends. */
    void closeAfterResponse() {
        state[S_FLAGS] |= FLAG_CLOSE_AFTER_RESPONSE;
    }

    private void fail() {
        close();
        ISOException.throwIt(Constants.SW_SECURITY_STATUS_NOT_SATISFIED);
    }

    /**
     * IV = AES-ECB(S-ENC, counter block), the first byte 00 for commands, 80 for responses. Compact:
     * one block of AES-CBC with a zero IV, which is the same.
     */
    private void deriveIv(byte first) {
        Util.arrayFillNonAtomic(state, S_IV, (short) (BLOCK - COUNTER_LENGTH), (byte) 0);
        Util.arrayCopyNonAtomic(state, S_COUNTER, state, (short) (S_IV + BLOCK - COUNTER_LENGTH), COUNTER_LENGTH);
        state[S_IV] = first;
        if (ecb != null) {
            ecb.doFinal(state, S_IV, BLOCK, state, S_IV);  // initialised in start()
            return;
        }
        cbc.init(enc, Cipher.MODE_ENCRYPT);
        cbc.doFinal(state, S_IV, BLOCK, state, S_IV);
    }

    /**
     * Checks and decrypts a protected command in place: buf[offset..offset+length) holds
     * C || C-MAC(8). The MAC covers chain || CLA (SM bit set, chaining bit clear) INS P1 P2 ||
     * length (2 bytes) || C. Returns the plaintext length at buf[offset].
     */
    short unwrapCommand(byte cla, byte ins, byte p1, byte p2, byte[] buf, short offset, short length) {
        if (!isOpen() || length < MAC_LENGTH || ((short) (length - MAC_LENGTH) & (short) (BLOCK - 1)) != 0
                || length > (short) (Constants.SM_MAX_PAYLOAD + Constants.SM_OVERHEAD)) {
            fail();
        }
        // Counter: 4 bytes big-endian at the end of the counter block; its wrap ends the session.
        short i = (short) (S_COUNTER + COUNTER_LENGTH - 1);
        while (i >= S_COUNTER && ++state[i] == 0) {
            i--;
        }
        if (i < S_COUNTER) {
            fail();
        }
        short cipherLength = (short) (length - MAC_LENGTH);
        if ((state[S_FLAGS] & FLAG_COMMAND_MAC_LENT) != 0 || responseMac == commandMac) {
            commandMac.init(mac, Signature.MODE_SIGN);
            state[S_FLAGS] &= (byte) ~FLAG_COMMAND_MAC_LENT;
        }
        state[S_HEADER] = (byte) ((cla | Constants.CLA_SECURE_MESSAGING) & ~Constants.CLA_CHAINING_BIT);
        state[(short) (S_HEADER + 1)] = ins;
        state[(short) (S_HEADER + 2)] = p1;
        state[(short) (S_HEADER + 3)] = p2;
        Util.setShort(state, (short) (S_HEADER + 4), length);
        commandMac.update(state, S_CHAIN, BLOCK);  // initialised in open(); sign() resets it
        commandMac.update(state, S_HEADER, (short) 6);
        commandMac.sign(buf, offset, cipherLength, state, S_MAC);
        if (!ConstantTime.equals(state, S_MAC, buf, (short) (offset + cipherLength), MAC_LENGTH)) {
            fail();
        }
        Util.arrayCopyNonAtomic(state, S_MAC, state, S_CHAIN, BLOCK);
        if (cipherLength == 0) {
            return 0;
        }
        deriveIv((byte) 0x00);
        cbc.init(enc, Cipher.MODE_DECRYPT, state, S_IV, BLOCK);
        cbc.doFinal(buf, offset, cipherLength, buf, offset);
        // ISO/IEC 9797-1 method 2: the last non-zero byte is 80, within the last block.
        short end = (short) (offset + cipherLength - 1);
        short stop = (short) (end - BLOCK);
        while (end > stop && buf[end] == 0) {
            end--;
        }
        if (end == stop || buf[end] != (byte) 0x80) {
            fail();
        }
        return (short) (end - offset);
    }

    /**
     * Protects a response in place: buf[offset..offset+length) is the response data; appends the
     * status word and padding, encrypts, appends the R-MAC over chain || C || 90 00. buf needs
     * room for length + SM_OVERHEAD bytes from offset. Returns the protected length.
     */
    short wrapResponse(byte[] buf, short offset, short length, short sw) {
        if (!isOpen()) {
            fail();
        }
        short p = Util.setShort(buf, (short) (offset + length), sw);
        buf[p++] = (byte) 0x80;
        while (((short) (p - offset) & (short) (BLOCK - 1)) != 0) {
            buf[p++] = 0;
        }
        short cipherLength = (short) (p - offset);
        deriveIv((byte) 0x80);
        cbc.init(enc, Cipher.MODE_ENCRYPT, state, S_IV, BLOCK);
        cbc.doFinal(buf, offset, cipherLength, buf, offset);
        Util.setShort(state, S_HEADER, (short) 0x9000);
        if (responseMac == commandMac) {
            responseMac.init(rmac, Signature.MODE_SIGN);  // compact: the one MAC object had S-MAC
        }
        responseMac.update(state, S_CHAIN, BLOCK);
        responseMac.update(buf, offset, cipherLength);
        responseMac.update(state, S_HEADER, (short) 2);
        responseMac.sign(state, S_HEADER, (short) 0, state, S_MAC);  // S_HEADER is S_MAC
        Util.arrayCopyNonAtomic(state, S_MAC, buf, p, MAC_LENGTH);
        if ((state[S_FLAGS] & FLAG_CLOSE_AFTER_RESPONSE) != 0) {
            close();
        }
        return (short) (cipherLength + MAC_LENGTH);
    }
}
