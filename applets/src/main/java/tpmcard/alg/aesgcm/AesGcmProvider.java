package tpmcard.alg.aesgcm;

import javacard.framework.ISO7816;
import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.security.AESKey;
import javacard.security.KeyBuilder;
import tpmcard.algorithms.AeadRequest;
import tpmcard.algorithms.Gcm;
import tpmcard.algorithms.ProviderApplet;
import tpmcard.algorithms.ProviderConstants;

/**
 * AES-GCM (NIST SP 800-38D) with card-held AES-128/256 keys, 96-bit nonces, 128-bit tags, through
 * javacardx.crypto.AEADCipher: the card's own where it has one, else {@code AesGcmSoftware} over
 * AES-ECB (chosen at install, reported in the descriptor). One-shot only: a streaming decryption
 * would release plaintext before the tag is checked (docs/algorithms.md §5).
 */
public final class AesGcmProvider extends ProviderApplet {
    public static final byte VERSION_MAJOR = 1;
    public static final byte VERSION_MINOR = 0;
    private static final short NONCE_LENGTH = 12;
    /**
     * Transient RAM checked at install: the least the provider takes on any card (134 bytes on a
     * J3R180, software GCM; 169 on a J3H145, whose AES engine takes more), SuiteRamTest.
     */
    public static final short TRANSIENT_BYTES = 128;

    private final AESKey[] keys128;
    private final AESKey[] keys256;
    private final Gcm gcm;
    private final short[] fields;

    private AesGcmProvider(byte[] bArray, short bOffset, byte bLength) {
        super(ProviderConstants.ALG_AES_GCM, VERSION_MAJOR, VERSION_MINOR,
                (short) (ProviderConstants.CAP_AEAD | ProviderConstants.CAP_KEY_GENERATE | ProviderConstants.CAP_KEY_IMPORT),
                TRANSIENT_BYTES, bArray, bOffset, bLength);
        keys128 = new AESKey[ProviderConstants.KEY_SLOTS];
        keys256 = new AESKey[ProviderConstants.KEY_SLOTS];
        for (short i = 0; i < ProviderConstants.KEY_SLOTS; i++) {
            keys128[i] = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES, KeyBuilder.LENGTH_AES_128, false);
            keys256[i] = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES, KeyBuilder.LENGTH_AES_256, false);
        }
        fields = JCSystem.makeTransientShortArray((short) 6, JCSystem.CLEAR_ON_RESET);
        // The probe runs at install, with slot 0's key object (empty until a key is made) and a
        // persistent array dropped after install (InstallMemory.releaseInstallGarbage): no RAM.
        gcm = new Gcm(keys128[0], new byte[48], softwareRequested);
        setImplementation(gcm.isSoftware());
    }

    public static void install(byte[] bArray, short bOffset, byte bLength) {
        new AesGcmProvider(bArray, bOffset, bLength).registerFromInstall(bArray, bOffset);
    }

    protected boolean supportsKeyType(byte keyType) {
        return keyType == ProviderConstants.KEY_AES_128 || keyType == ProviderConstants.KEY_AES_256;
    }

    private AESKey key(short slot) {
        return slotType(slot) == ProviderConstants.KEY_AES_128 ? keys128[slot] : keys256[slot];
    }

    private static short length(byte keyType) {
        return keyType == ProviderConstants.KEY_AES_128 ? (short) 16 : (short) 32;
    }

    protected short generateKey(short slot, byte keyType, byte[] out, short outOffset) {
        // The key is drawn in the answer's room of the window (the answer is the handle only), then wiped.
        requireRoom(outOffset, (short) 32);
        random.generateData(out, outOffset, length(keyType));
        (keyType == ProviderConstants.KEY_AES_128 ? keys128[slot] : keys256[slot]).setKey(out, outOffset);
        javacard.framework.Util.arrayFillNonAtomic(out, outOffset, (short) 32, (byte) 0);
        return 0;
    }

    protected short importKey(short slot, byte keyType, byte[] key, short keyOffset, short keyLength,
            byte[] out, short outOffset) {
        if (keyLength != length(keyType)) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
        (keyType == ProviderConstants.KEY_AES_128 ? keys128[slot] : keys256[slot]).setKey(key, keyOffset);
        return 0;
    }

    protected void clearKey(short slot) {
        keys128[slot].clearKey();
        keys256[slot].clearKey();
    }

    protected short operate(byte ins, byte p1, byte p2, byte[] in, short inOffset, short inLength,
            byte[] out, short outOffset) {
        boolean encrypt = ins == ProviderConstants.INS_ENCRYPT;
        if (!encrypt && ins != ProviderConstants.INS_DECRYPT) {
            ISOException.throwIt(ISO7816.SW_INS_NOT_SUPPORTED);
        }
        checkHandle(inLength);
        if (p1 != 0 || p2 != 0) {
            ISOException.throwIt(ISO7816.SW_INCORRECT_P1P2);
        }
        short slot = slotOf(in, inOffset, ProviderConstants.KEY_AES_128, ProviderConstants.KEY_AES_256);
        AeadRequest.parse(in, inOffset, inLength, NONCE_LENGTH, encrypt ? 0 : ProviderConstants.AEAD_TAG_LENGTH, fields);
        if (encrypt) {
            return gcm.encrypt(key(slot), in, fields[0], fields[1], in, fields[2], fields[3], in, fields[4], fields[5],
                    out, outOffset);
        }
        return gcm.decrypt(key(slot), in, fields[0], fields[1], in, fields[2], fields[3], in, fields[4], fields[5],
                out, outOffset);
    }
}
