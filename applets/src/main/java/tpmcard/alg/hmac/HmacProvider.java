package tpmcard.alg.hmac;

import javacard.framework.ISO7816;
import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.Util;
import javacard.security.HMACKey;
import javacard.security.KeyBuilder;
import javacard.security.MessageDigest;
import javacard.security.RandomData;
import javacard.security.Signature;
import tpmcard.algorithms.KeyUnwrap;
import tpmcard.algorithms.ProviderApplet;
import tpmcard.algorithms.ProviderConstants;

/**
 * HMAC-SHA-256 and HMAC-SHA-512 (RFC 2104, FIPS 198-1) with card-held keys, through Signature
 * ALG_HMAC_SHA_256/512; the key type picks the hash. An imported key is 1 to
 * {@link #MAX_KEY_LENGTH} bytes. A key longer than the hash's block (64 or 128 bytes) is replaced
 * at import by its hash, with MessageDigest and the same hash (RFC 2104 §2, FIPS 198-1 §4 step 2),
 * so the card keeps at most one block. Generated keys are the hash's output length, below the
 * block. VERIFY compares on the card (Signature.verify).
 */
public class HmacProvider extends ProviderApplet {
    public static final byte VERSION_MAJOR = 1;
    public static final byte VERSION_MINOR = 0;
    /** Longest key KEY IMPORT takes: what the wrapped import carries (docs/algorithms.md §3, §4). */
    public static final short MAX_KEY_LENGTH = KeyUnwrap.MAX_KEY_LENGTH;

    private final HMACKey[] keys256;
    private final HMACKey[] keys512;
    private final Signature hmac256;
    private final Signature hmac512;
    private final MessageDigest sha256;
    private final MessageDigest sha512;
    private final RandomData random;
    private final byte[] scratch;

    protected HmacProvider(byte versionMajor, byte versionMinor, byte[] bArray, short bOffset, byte bLength) {
        super(ProviderConstants.ALG_HMAC_SHA2, versionMajor, versionMinor,
                (short) (ProviderConstants.CAP_MAC | ProviderConstants.CAP_KEY_GENERATE | ProviderConstants.CAP_KEY_IMPORT
                        | ProviderConstants.CAP_STREAM), bArray, bOffset, bLength);
        keys256 = new HMACKey[ProviderConstants.KEY_SLOTS];
        keys512 = new HMACKey[ProviderConstants.KEY_SLOTS];
        for (short i = 0; i < ProviderConstants.KEY_SLOTS; i++) {
            keys256[i] = (HMACKey) KeyBuilder.buildKey(KeyBuilder.TYPE_HMAC, KeyBuilder.LENGTH_HMAC_SHA_256_BLOCK_64, false);
            keys512[i] = (HMACKey) KeyBuilder.buildKey(KeyBuilder.TYPE_HMAC, KeyBuilder.LENGTH_HMAC_SHA_512_BLOCK_128, false);
        }
        hmac256 = Signature.getInstance(Signature.ALG_HMAC_SHA_256, true);
        hmac512 = Signature.getInstance(Signature.ALG_HMAC_SHA_512, true);
        sha256 = MessageDigest.getInstance(MessageDigest.ALG_SHA_256, true);
        sha512 = MessageDigest.getInstance(MessageDigest.ALG_SHA_512, true);
        random = RandomData.getInstance(RandomData.ALG_SECURE_RANDOM);
        scratch = JCSystem.makeTransientByteArray((short) 64, JCSystem.CLEAR_ON_RESET);
    }

    public static void install(byte[] bArray, short bOffset, byte bLength) {
        new HmacProvider(VERSION_MAJOR, VERSION_MINOR, bArray, bOffset, bLength).registerFromInstall(bArray, bOffset);
    }

    protected boolean supportsKeyType(byte keyType) {
        return keyType == ProviderConstants.KEY_HMAC_SHA256 || keyType == ProviderConstants.KEY_HMAC_SHA512;
    }

    protected short generateKey(short slot, byte keyType, byte[] out, short outOffset) {
        short n = keyType == ProviderConstants.KEY_HMAC_SHA256 ? (short) 32 : (short) 64;
        random.generateData(scratch, (short) 0, n);
        setKey(slot, keyType, scratch, (short) 0, n);
        Util.arrayFillNonAtomic(scratch, (short) 0, n, (byte) 0);
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
            setKey(slot, keyType, key, keyOffset, keyLength);
            return 0;
        }
        // RFC 2104 §2: "Applications that use keys longer than B bytes will first hash the key
        // using H and then use the resultant L byte string as the actual key to HMAC."
        MessageDigest digest = sha256Key ? sha256 : sha512;
        digest.reset();
        short n = digest.doFinal(key, keyOffset, keyLength, scratch, (short) 0);
        setKey(slot, keyType, scratch, (short) 0, n);
        Util.arrayFillNonAtomic(scratch, (short) 0, n, (byte) 0);
        return 0;
    }

    private void setKey(short slot, byte keyType, byte[] key, short off, short length) {
        (keyType == ProviderConstants.KEY_HMAC_SHA256 ? keys256[slot] : keys512[slot]).setKey(key, off, length);
    }

    protected void clearKey(short slot) {
        keys256[slot].clearKey();
        keys512[slot].clearKey();
    }

    /** The HMAC engine for the key in slot, initialised for sign or verify. */
    private Signature engine(short slot, boolean verify) {
        byte mode = verify ? Signature.MODE_VERIFY : Signature.MODE_SIGN;
        if (slotType(slot) == ProviderConstants.KEY_HMAC_SHA256) {
            hmac256.init(keys256[slot], mode);
            return hmac256;
        }
        hmac512.init(keys512[slot], mode);
        return hmac512;
    }

    private Signature current(short slot) {
        return slotType(slot) == ProviderConstants.KEY_HMAC_SHA256 ? hmac256 : hmac512;
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
            return engine(slot, false).sign(in, p, (short) (end - p), out, outOffset);
        }
        verify(engine(slot, true), in, p, end);
        return 0;
    }

    /** {@code mac length | mac | message} from p to end, verified on the card. */
    private static void verify(Signature engine, byte[] in, short p, short end) {
        if (p >= end) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
        short macLength = (short) (in[p] & 0xFF);
        short message = (short) (p + 1 + macLength);
        if (message > end || macLength != engine.getLength()) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
        if (!engine.verify(in, message, (short) (end - message), in, (short) (p + 1), macLength)) {
            ISOException.throwIt(ProviderConstants.SW_VERIFICATION_FAILED);
        }
    }

    protected short streamInit(byte op, byte[] in, short inOffset, short inLength) {
        if (op != ProviderConstants.INS_MAC && op != ProviderConstants.INS_VERIFY) {
            ISOException.throwIt(ISO7816.SW_INCORRECT_P1P2);
        }
        checkHandleOnly(inLength);
        short slot = keySlot(in, inOffset, inLength);
        engine(slot, op == ProviderConstants.INS_VERIFY);
        return slot;
    }

    protected void streamUpdate(byte op, short slot, byte[] in, short inOffset, short inLength) {
        current(slot).update(in, inOffset, inLength);
    }

    protected short streamFinal(byte op, short slot, byte[] in, short inOffset, short inLength,
            byte[] out, short outOffset) {
        if (op == ProviderConstants.INS_MAC) {
            return current(slot).sign(in, inOffset, inLength, out, outOffset);
        }
        verify(current(slot), in, inOffset, (short) (inOffset + inLength));
        return 0;
    }
}
