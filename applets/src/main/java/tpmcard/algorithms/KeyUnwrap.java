package tpmcard.algorithms;

import javacard.framework.ISO7816;
import javacard.framework.ISOException;
import javacard.framework.Util;
import javacard.security.AESKey;
import javacard.security.CryptoException;
import javacard.security.ECPrivateKey;
import javacard.security.ECPublicKey;
import javacard.security.KeyAgreement;
import javacard.security.KeyBuilder;
import javacard.security.KeyPair;
import javacard.security.MessageDigest;
import javacardx.crypto.Cipher;
import tpmcard.lib.P256;

/**
 * Import of host-wrapped keys (docs/algorithms.md §4). The registry (in the core applet) owns the
 * suite's one P-256 wrap key pair, made at install; the host reads the public half with GET WRAP
 * KEY to any provider that takes imports (through the bound session, so it knows which card it
 * wraps to) and sends
 * {@code E (65) | nonce (12) | AES-128-GCM(KEK, nonce, aad, key) | tag (16)} with
 * {@code Z = ECDH(e, W).x}, {@code KEK = SHA-256(Z || "tpmcard alg wrap")[0..16]} and
 * {@code aad = algorithm id | key type | E}. The clear key exists in the scratch the core lends
 * (the end of its RAM I/O buffer, free during INVOKE) and, for the length of the provider's KEY
 * IMPORT, in the APDU buffer, and is wiped after use. The SHA-256, the ECDH and the AES key are
 * the core's own (idle during INVOKE), so key import costs the core one GCM object of RAM.
 */
public final class KeyUnwrap {
    /** Largest wrapped key accepted (an HMAC-SHA-512 key of one block). */
    public static final short MAX_KEY_LENGTH = (short) 128;

    private static final short AAD_LENGTH = (short) (2 + ProviderConstants.EC_POINT_LENGTH);
    /** RAM the caller lends: the clear key (MAX_KEY_LENGTH + 32), then the aad. */
    public static final short SCRATCH_LENGTH = (short) (MAX_KEY_LENGTH + 32 + AAD_LENGTH);

    private final KeyPair wrapKey;
    private final KeyAgreement agreement;
    private final MessageDigest sha256;
    private final AESKey kek;
    private final Gcm gcm;
    private final short aad;          // in scratch: algorithm id | key type | E
    /** "tpmcard alg wrap": an instance array (a library package may hold no static array). */
    private final byte[] label;
    /** The clear key after {@link #unwrap} at scratch[scratchOffset]; wipe with {@link #wipe}. */
    public final byte[] scratch;
    public final short scratchOffset;

    /**
     * @param sha256 a SHA-256, ECDH ({@code ALG_EC_SVDP_DH_PLAIN}) and AES-128 key
     *        ({@code TYPE_AES_TRANSIENT_RESET}) of the caller's, idle while an import runs
     * @param engine the caller's AES-128 CBC or ECB cipher without padding, which the software GCM
     *        shares where the card has no GCM (the caller initialises it before each use of its own)
     * @param scratch RAM of SCRATCH_LENGTH bytes at scratchOffset, free while an import runs
     * @param installScratch CLEAR_ON_RESET RAM of 48 bytes, used in this constructor only
     */
    public KeyUnwrap(P256 curve, MessageDigest sha256, KeyAgreement agreement, AESKey kek, Cipher engine,
                     byte[] scratch, short scratchOffset, byte[] installScratch) {
        label = new byte[] {'t', 'p', 'm', 'c', 'a', 'r', 'd', ' ', 'a', 'l', 'g', ' ', 'w', 'r', 'a', 'p'};
        this.scratch = scratch;
        this.scratchOffset = scratchOffset;
        aad = (short) (scratchOffset + MAX_KEY_LENGTH + 32);
        ECPublicKey pub = (ECPublicKey) KeyBuilder.buildKey(KeyBuilder.TYPE_EC_FP_PUBLIC, P256.KEY_LENGTH, false);
        ECPrivateKey priv = (ECPrivateKey) KeyBuilder.buildKey(KeyBuilder.TYPE_EC_FP_PRIVATE, P256.KEY_LENGTH, false);
        curve.setDomainParameters(pub);
        curve.setDomainParameters(priv);
        wrapKey = new KeyPair(pub, priv);
        wrapKey.genKeyPair();
        this.agreement = agreement;
        this.sha256 = sha256;
        this.kek = kek;
        gcm = new Gcm(kek, installScratch, false, engine);   // software GCM where the card has none
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
            z = agreement.generateSecret(in, off, ProviderConstants.EC_POINT_LENGTH, scratch, scratchOffset);
        } catch (CryptoException e) {
            ISOException.throwIt(ProviderConstants.SW_VERIFICATION_FAILED);
            return 0;
        }
        sha256.reset();
        sha256.update(scratch, scratchOffset, z);
        sha256.doFinal(label, (short) 0, (short) label.length, scratch, scratchOffset);
        kek.setKey(scratch, scratchOffset);
        Util.arrayFillNonAtomic(scratch, scratchOffset, (short) 32, (byte) 0);
        scratch[aad] = algorithmId;
        scratch[(short) (aad + 1)] = keyType;
        Util.arrayCopyNonAtomic(in, off, scratch, (short) (aad + 2), ProviderConstants.EC_POINT_LENGTH);
        short nonce = (short) (off + ProviderConstants.EC_POINT_LENGTH);
        short body = (short) (nonce + ProviderConstants.WRAP_NONCE_LENGTH);
        short n = 0;
        try {
            n = gcm.decrypt(kek, in, nonce, ProviderConstants.WRAP_NONCE_LENGTH, scratch, aad, AAD_LENGTH,
                    in, body, (short) (off + length - body), scratch, scratchOffset);
        } catch (ISOException e) {
            kek.clearKey();
            ISOException.throwIt(e.getReason());
        }
        kek.clearKey();
        return n;
    }

    public void wipe() {
        Util.arrayFillNonAtomic(scratch, scratchOffset, SCRATCH_LENGTH, (byte) 0);
    }
}
