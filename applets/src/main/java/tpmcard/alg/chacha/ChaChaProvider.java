package tpmcard.alg.chacha;

import javacard.framework.ISO7816;
import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.Util;
import javacard.security.AESKey;
import javacard.security.KeyBuilder;
import tpmcard.algorithms.AeadRequest;
import tpmcard.algorithms.ProviderApplet;
import tpmcard.algorithms.ProviderConstants;

/**
 * ChaCha20-Poly1305 (RFC 8439) in JavaCard code, with card-held 256-bit keys (kept in AESKey
 * objects, the card's protected key storage, and read out only into CLEAR_ON_RESET RAM for one
 * operation), 96-bit nonces, 128-bit tags. One-shot, like AES-GCM.
 */
public final class ChaChaProvider extends ProviderApplet {
    public static final byte VERSION_MAJOR = 1;
    public static final byte VERSION_MINOR = 0;
    private static final short NONCE_LENGTH = 12;
    /** Transient RAM checked at install: the least it takes on any card (180 bytes everywhere), SuiteRamTest. */
    public static final short TRANSIENT_BYTES = 176;

    private final AESKey[] keys;
    private final ChaCha20Poly1305 aead;
    private final byte[] key;
    private final short[] fields;

    private ChaChaProvider(byte[] bArray, short bOffset, byte bLength) {
        super(ProviderConstants.ALG_CHACHA20_POLY1305, VERSION_MAJOR, VERSION_MINOR,
                (short) (ProviderConstants.CAP_AEAD | ProviderConstants.CAP_KEY_GENERATE | ProviderConstants.CAP_KEY_IMPORT),
                TRANSIENT_BYTES, bArray, bOffset, bLength);
        keys = new AESKey[ProviderConstants.KEY_SLOTS];
        for (short i = 0; i < ProviderConstants.KEY_SLOTS; i++) {
            keys[i] = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES, KeyBuilder.LENGTH_AES_256, false);
        }
        aead = new ChaCha20Poly1305();
        setImplementation(true);   // no card API offers ChaCha20-Poly1305
        key = JCSystem.makeTransientByteArray((short) 32, JCSystem.CLEAR_ON_RESET);
        fields = JCSystem.makeTransientShortArray((short) 6, JCSystem.CLEAR_ON_RESET);
    }

    public static void install(byte[] bArray, short bOffset, byte bLength) {
        new ChaChaProvider(bArray, bOffset, bLength).registerFromInstall(bArray, bOffset);
    }

    protected boolean supportsKeyType(byte keyType) {
        return keyType == ProviderConstants.KEY_CHACHA20;
    }

    protected short generateKey(short slot, byte keyType, byte[] out, short outOffset) {
        random.generateData(key, (short) 0, (short) 32);
        keys[slot].setKey(key, (short) 0);
        Util.arrayFillNonAtomic(key, (short) 0, (short) 32, (byte) 0);
        return 0;
    }

    protected short importKey(short slot, byte keyType, byte[] k, short keyOffset, short keyLength,
            byte[] out, short outOffset) {
        if (keyLength != 32) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
        keys[slot].setKey(k, keyOffset);
        return 0;
    }

    protected void clearKey(short slot) {
        keys[slot].clearKey();
    }

    protected short operate(byte ins, byte p1, byte p2, byte[] in, short inOffset, short inLength,
            byte[] out, short outOffset) {
        boolean encrypt = ins == ProviderConstants.INS_ENCRYPT;
        if (!encrypt && ins != ProviderConstants.INS_DECRYPT) {
            ISOException.throwIt(ISO7816.SW_INS_NOT_SUPPORTED);
        }
        if (p1 != 0 || p2 != 0) {
            ISOException.throwIt(ISO7816.SW_INCORRECT_P1P2);
        }
        checkHandle(inLength);
        short slot = slotOf(in, inOffset, ProviderConstants.KEY_CHACHA20);
        AeadRequest.parse(in, inOffset, inLength, NONCE_LENGTH, encrypt ? 0 : ProviderConstants.AEAD_TAG_LENGTH, fields);
        keys[slot].getKey(key, (short) 0);
        short n = 0;
        try {
            n = encrypt
                    ? aead.seal(key, (short) 0, in, fields[0], in, fields[2], fields[3], in, fields[4], fields[5], out, outOffset)
                    : aead.open(key, (short) 0, in, fields[0], in, fields[2], fields[3], in, fields[4], fields[5], out, outOffset);
        } catch (ISOException e) {
            Util.arrayFillNonAtomic(key, (short) 0, (short) 32, (byte) 0);
            ISOException.throwIt(e.getReason());
        }
        Util.arrayFillNonAtomic(key, (short) 0, (short) 32, (byte) 0);
        return n;
    }
}
