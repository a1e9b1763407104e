package tpmcard.algorithms;

import javacard.framework.ISO7816;
import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.Util;
import javacard.security.MessageDigest;
import tpmcard.lib.ConstantTime;
import tpmcard.lib.Hmac;

/**
 * HMAC-SHA-256 and HMAC-SHA-512 (RFC 2104, FIPS 198-1) with card-held keys, computed over
 * MessageDigest: H((K0 ^ opad) || H((K0 ^ ipad) || m)) (FIPS 198-1 §4). The key type picks the
 * hash. Not with Signature ALG_HMAC_*: an NXP J3R180 has neither HMAC signatures nor HMAC keys,
 * and the two HMAC engines would cost about 530 bytes of RAM beside the digests this provider
 * needs anyway (docs/core-applet.md "Transient RAM"). An imported key is 1 to
 * {@link #MAX_KEY_LENGTH} bytes. A key longer than the hash's block (64 or 128 bytes) is replaced
 * at import by its hash (RFC 2104 §2, FIPS 198-1 §4 step 2); K0, the key zero-padded to the
 * block, is kept in a persistent array. Generated keys are the hash's output length, below the
 * block. VERIFY compares on the card, in constant time.
 *
 * <p>The logic of every HMAC provider version, in this library package: a package that holds
 * applets exports only its Shareable interfaces, so version 2 (tpmcard.alg.hmac.v2) could not
 * extend version 1's applet class across packages. Each version's package holds only its applet
 * class, which names its version and installs.
 *
 * <p>RAM: one 16-byte array for pieces of K0 ^ pad beside the two digests. The inner hash, a
 * generated or hashed key, and the MAC that VERIFY computes are written in the call's window
 * (AlgorithmProvider: it is the provider's for the call): MAC, KEY GENERATE and KEY IMPORT in the
 * answer's room (at least the 64-byte answer); VERIFY over the message once the inner hash has
 * read it, which with the room after it is always at least 64 bytes (a window of 260 or more
 * minus the handle, the length byte and a MAC of at most 64). The descriptor reports the
 * implementation as software (HMAC in card code over MessageDigest).
 */
public abstract class HmacApplet extends ProviderApplet {
    /** Longest key KEY IMPORT takes: what the wrapped import carries (docs/algorithms.md §3, §4). */
    public static final short MAX_KEY_LENGTH = KeyUnwrap.MAX_KEY_LENGTH;

    /** Transient RAM, checked at install: 360 bytes, SHA-256 and SHA-512 digests included (SuiteRamTest). */
    public static final short TRANSIENT_BYTES = 368;

    private static final short MAX_BLOCK = 128;
    private static final short PIECE = 16;             // pad bytes per digest update
    /** Room a handler takes in the window: the longest hash (SHA-512). */
    private static final short HASH_ROOM = 64;
    private static final byte IPAD = Hmac.IPAD;
    private static final byte OPAD = Hmac.OPAD;

    /** K0 of each slot, MAX_BLOCK bytes apart (persistent, like the HMACKey objects it replaces). */
    private final byte[] keys;
    private final MessageDigest sha256;
    private final MessageDigest sha512;
    private final byte[] scratch;

    protected HmacApplet(byte versionMajor, byte versionMinor, byte[] bArray, short bOffset, byte bLength) {
        super(ProviderConstants.ALG_HMAC_SHA2, versionMajor, versionMinor,
                (short) (ProviderConstants.CAP_MAC | ProviderConstants.CAP_KEY_GENERATE | ProviderConstants.CAP_KEY_IMPORT
                        | ProviderConstants.CAP_STREAM), TRANSIENT_BYTES, bArray, bOffset, bLength);
        keys = new byte[(short) (ProviderConstants.KEY_SLOTS * MAX_BLOCK)];
        sha256 = MessageDigest.getInstance(MessageDigest.ALG_SHA_256, true);
        sha512 = MessageDigest.getInstance(MessageDigest.ALG_SHA_512, true);
        scratch = JCSystem.makeTransientByteArray(PIECE, JCSystem.CLEAR_ON_RESET);
        setImplementation(true);
    }

    protected boolean supportsKeyType(byte keyType) {
        return keyType == ProviderConstants.KEY_HMAC_SHA256 || keyType == ProviderConstants.KEY_HMAC_SHA512;
    }

    protected short generateKey(short slot, byte keyType, byte[] out, short outOffset) {
        short n = keyType == ProviderConstants.KEY_HMAC_SHA256 ? (short) 32 : (short) 64;
        requireRoom(outOffset, n);
        random.generateData(out, outOffset, n);
        setKey(slot, out, outOffset, n);
        Util.arrayFillNonAtomic(out, outOffset, n, (byte) 0);
        return 0;
    }

    protected short importKey(short slot, byte keyType, byte[] key, short keyOffset, short keyLength,
            byte[] out, short outOffset) {
        if (keyLength < 1 || keyLength > MAX_KEY_LENGTH) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
        boolean sha256Key = keyType == ProviderConstants.KEY_HMAC_SHA256;
        short block = sha256Key ? (short) 64 : (short) 128;
        if (keyLength <= block) {
            setKey(slot, key, keyOffset, keyLength);
            return 0;
        }
        // RFC 2104 §2: "Applications that use keys longer than B bytes will first hash the key
        // using H and then use the resultant L byte string as the actual key to HMAC."
        MessageDigest digest = sha256Key ? sha256 : sha512;
        requireRoom(outOffset, HASH_ROOM);
        digest.reset();
        short n = digest.doFinal(key, keyOffset, keyLength, out, outOffset);
        setKey(slot, out, outOffset, n);
        Util.arrayFillNonAtomic(out, outOffset, n, (byte) 0);
        return 0;
    }

    /** K0 = the key, zero-padded to the block (FIPS 198-1 §4 step 3). */
    private void setKey(short slot, byte[] key, short off, short length) {
        short at = (short) (slot * MAX_BLOCK);
        Util.arrayFillNonAtomic(keys, at, MAX_BLOCK, (byte) 0);
        Util.arrayCopyNonAtomic(key, off, keys, at, length);
    }

    protected void clearKey(short slot) {
        Util.arrayFillNonAtomic(keys, (short) (slot * MAX_BLOCK), MAX_BLOCK, (byte) 0);
    }

    private MessageDigest digest(short slot) {
        return slotType(slot) == ProviderConstants.KEY_HMAC_SHA256 ? sha256 : sha512;
    }

    /** Feeds K0 ^ pad of the slot's key (one block) to the digest, PIECE bytes at a time. */
    private void updatePad(short slot, MessageDigest digest, byte pad) {
        short block = digest == sha256 ? (short) 64 : (short) 128;
        Hmac.updatePad(digest, keys, (short) (slot * MAX_BLOCK), block, pad, scratch, (short) 0, PIECE);
    }

    /** Starts the inner hash: H((K0 ^ ipad) || ... */
    private MessageDigest begin(short slot) {
        MessageDigest digest = digest(slot);
        digest.reset();
        updatePad(slot, digest, IPAD);
        return digest;
    }

    /**
     * Ends the inner hash with the last message part and computes the MAC into out, where the
     * inner hash is kept meanwhile (doFinal's input and output may overlap: JC API).
     */
    private short finish(short slot, MessageDigest digest, byte[] in, short off, short length, byte[] out, short outOffset) {
        requireRoom(outOffset, HASH_ROOM);
        short n = digest.doFinal(in, off, length, out, outOffset);
        digest.reset();
        updatePad(slot, digest, OPAD);
        return digest.doFinal(out, outOffset, n, out, outOffset);
    }

    private short keySlot(byte[] in, short off, short length) {
        checkHandle(length);
        return slotOf(in, off, ProviderConstants.KEY_HMAC_SHA256, ProviderConstants.KEY_HMAC_SHA512);
    }

    protected short operate(byte ins, byte p1, byte p2, byte[] in, short inOffset, short inLength,
            byte[] out, short outOffset) {
        if (ins != ProviderConstants.INS_MAC && ins != ProviderConstants.INS_VERIFY) {
            ISOException.throwIt(ISO7816.SW_INS_NOT_SUPPORTED);
        }
        if (p1 != 0 || p2 != 0) {
            ISOException.throwIt(ISO7816.SW_INCORRECT_P1P2);
        }
        short slot = keySlot(in, inOffset, inLength);
        short p = (short) (inOffset + ProviderConstants.HANDLE_LENGTH);
        short end = (short) (inOffset + inLength);
        if (ins == ProviderConstants.INS_MAC) {
            return finish(slot, begin(slot), in, p, (short) (end - p), out, outOffset);
        }
        verify(slot, begin(slot), in, p, end);
        return 0;
    }

    /**
     * {@code mac length | mac | message} from p to end, verified on the card. The computed MAC
     * is written over the message (read by then) and the window after it, then wiped.
     */
    private void verify(short slot, MessageDigest digest, byte[] in, short p, short end) {
        if (p >= end) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
        short macLength = (short) (in[p] & 0xFF);
        short message = (short) (p + 1 + macLength);
        if (message > end || macLength != digest.getLength()) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
        short n = finish(slot, digest, in, message, (short) (end - message), in, message);
        boolean ok = ConstantTime.equals(in, message, in, (short) (p + 1), n);
        Util.arrayFillNonAtomic(in, message, n, (byte) 0);
        if (!ok) {
            ISOException.throwIt(ProviderConstants.SW_VERIFICATION_FAILED);
        }
    }

    protected short streamInit(byte op, byte[] in, short inOffset, short inLength) {
        if (op != ProviderConstants.INS_MAC && op != ProviderConstants.INS_VERIFY) {
            ISOException.throwIt(ISO7816.SW_INCORRECT_P1P2);
        }
        checkHandleOnly(inLength);
        short slot = keySlot(in, inOffset, inLength);
        begin(slot);
        return slot;
    }

    protected void streamUpdate(byte op, short slot, byte[] in, short inOffset, short inLength) {
        digest(slot).update(in, inOffset, inLength);
    }

    protected short streamFinal(byte op, short slot, byte[] in, short inOffset, short inLength,
            byte[] out, short outOffset) {
        if (op == ProviderConstants.INS_MAC) {
            return finish(slot, digest(slot), in, inOffset, inLength, out, outOffset);
        }
        verify(slot, digest(slot), in, inOffset, (short) (inOffset + inLength));
        return 0;
    }
}
