package tpmcard.algorithms;

import javacard.framework.ISO7816;
import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.Util;
import javacard.security.AESKey;
import javacard.security.CryptoException;
import javacard.security.ECPrivateKey;
import javacard.security.ECPublicKey;
import javacard.security.KeyAgreement;
import javacard.security.KeyBuilder;
import javacard.security.KeyPair;
import javacard.security.MessageDigest;
import tpmcard.lib.P256;

/**
 * Import of host-wrapped keys (docs/algorithms.md §4). The registry (in the core applet) owns the
 * suite's one P-256 wrap key pair, made at install; the host reads the public half with GET WRAP
 * KEY to any provider that takes imports (through the bound session, so it knows which card it
 * wraps to) and sends
 * {@code E (65) | nonce (12) | AES-128-GCM(KEK, nonce, aad, key) | tag (16)} with
 * {@code Z = ECDH(e, W).x}, {@code KEK = SHA-256(Z || "tpmcard alg wrap")[0..16]} and
 * {@code aad = algorithm id | key type | E}. The clear key exists in this object's transient
 * scratch (CLEAR_ON_RESET) and, for the length of the provider's KEY IMPORT, in the APDU buffer,
 * and is wiped after use.
 */
public final class KeyUnwrap {
    /** Largest wrapped key accepted (an HMAC-SHA-512 key of one block). */
    public static final short MAX_KEY_LENGTH = (short) 128;

    private final KeyPair wrapKey;
    private final KeyAgreement agreement;
    private final MessageDigest sha256;
    private final AESKey kek;
    private final Gcm gcm;
    private final byte[] aad;         // algorithm id | key type | E
    /** "tpmcard alg wrap": an instance array (a library package may hold no static array). */
    private final byte[] label;
    /** The clear key after {@link #unwrap}; wipe with {@link #wipe}. */
    public final byte[] scratch;

    public KeyUnwrap(P256 curve) {
        label = new byte[] {'t', 'p', 'm', 'c', 'a', 'r', 'd', ' ', 'a', 'l', 'g', ' ', 'w', 'r', 'a', 'p'};
        scratch = JCSystem.makeTransientByteArray((short) (MAX_KEY_LENGTH + 32), JCSystem.CLEAR_ON_RESET);
        aad = JCSystem.makeTransientByteArray((short) (2 + ProviderConstants.EC_POINT_LENGTH), JCSystem.CLEAR_ON_RESET);
        ECPublicKey pub = (ECPublicKey) KeyBuilder.buildKey(KeyBuilder.TYPE_EC_FP_PUBLIC, P256.KEY_LENGTH, false);
        ECPrivateKey priv = (ECPrivateKey) KeyBuilder.buildKey(KeyBuilder.TYPE_EC_FP_PRIVATE, P256.KEY_LENGTH, false);
        curve.setDomainParameters(pub);
        curve.setDomainParameters(priv);
        wrapKey = new KeyPair(pub, priv);
        wrapKey.genKeyPair();
        agreement = KeyAgreement.getInstance(KeyAgreement.ALG_EC_SVDP_DH_PLAIN, true);
        sha256 = MessageDigest.getInstance(MessageDigest.ALG_SHA_256, true);
        kek = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES_TRANSIENT_RESET, KeyBuilder.LENGTH_AES_128, false);
        gcm = new Gcm(kek, scratch, false);   // software GCM where the card has none
    }

    /** The wrap public key, 04 || X || Y. */
    public short publicKey(byte[] out, short outOffset) {
        return ((ECPublicKey) wrapKey.getPublic()).getW(out, outOffset);
    }

    /**
     * Unwrap into {@link #scratch}[0..returned length). Any malformed blob or wrong tag is
     * {@link ProviderConstants#SW_VERIFICATION_FAILED} (one status word: no oracle on which part failed).
     */
    public short unwrap(byte algorithmId, byte keyType, byte[] in, short off, short length) {
        short fixed = (short) (ProviderConstants.EC_POINT_LENGTH + ProviderConstants.WRAP_NONCE_LENGTH
                + ProviderConstants.WRAP_TAG_LENGTH);
        if (length <= fixed || (short) (length - fixed) > MAX_KEY_LENGTH) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
        short z;
        try {
            agreement.init(wrapKey.getPrivate());
            z = agreement.generateSecret(in, off, ProviderConstants.EC_POINT_LENGTH, scratch, (short) 0);
        } catch (CryptoException e) {
            ISOException.throwIt(ProviderConstants.SW_VERIFICATION_FAILED);
            return 0;
        }
        sha256.reset();
        sha256.update(scratch, (short) 0, z);
        sha256.doFinal(label, (short) 0, (short) label.length, scratch, (short) 0);
        kek.setKey(scratch, (short) 0);
        Util.arrayFillNonAtomic(scratch, (short) 0, (short) 32, (byte) 0);
        aad[0] = algorithmId;
        aad[1] = keyType;
        Util.arrayCopyNonAtomic(in, off, aad, (short) 2, ProviderConstants.EC_POINT_LENGTH);
        short nonce = (short) (off + ProviderConstants.EC_POINT_LENGTH);
        short body = (short) (nonce + ProviderConstants.WRAP_NONCE_LENGTH);
        short n = 0;
        try {
            n = gcm.decrypt(kek, in, nonce, ProviderConstants.WRAP_NONCE_LENGTH, aad, (short) 0, (short) aad.length,
                    in, body, (short) (off + length - body), scratch, (short) 0);
        } catch (ISOException e) {
            kek.clearKey();
            ISOException.throwIt(e.getReason());
        }
        kek.clearKey();
        return n;
    }

    public void wipe() {
        Util.arrayFillNonAtomic(scratch, (short) 0, (short) scratch.length, (byte) 0);
    }
}
