package tpmcard.core;

import javacard.framework.JCSystem;
import javacard.framework.Util;
import javacard.security.CryptoException;
import javacard.security.ECPrivateKey;
import javacard.security.ECPublicKey;
import javacard.security.KeyAgreement;
import javacard.security.KeyBuilder;
import javacard.security.KeyPair;
import javacard.security.MessageDigest;
import javacard.security.RandomData;
import tpmcard.lib.P256;
import tpmcard.lib.ConstantTime;

/**
 * The card identity: a P-256 key pair made once, at install, and the card id that names it.
 * Persistent state only; it never changes after install.
 *
 * <p>How the key is made. When the card offers KeyAgreement.ALG_EC_SVDP_DH_PLAIN_XY (JavaCard
 * 3.0.5; JCOP 4 and jCardSim do), the private scalar is
 * <pre>  s = SHA-256(R || E || c)</pre>
 * with R 32 bytes of the card's key-generation RNG, E the 0..32 bytes of install entropy and c a
 * one-byte counter (0, then 1, ... if s is 0 or not below n: probability about 2^-32), and the
 * public point is W = s.G, computed as the "shared secret" of s with the base point G. On a real
 * card R is unpredictable and E only adds to it; in jCardSim, whose RandomData and KeyPair are
 * deterministic (every fresh simulator makes the same key pair), E is what makes two simulated
 * cards differ. KeyPair.genKeyPair() cannot take E: in jCardSim 3.0.6.0 each KeyPair draws from
 * its own unseeded SHA1 DRBG, which RandomData.setSeed does not reach.
 *
 * <p>A card without ALG_EC_SVDP_DH_PLAIN_XY falls back to genKeyPair() and reports it by a clear
 * FEATURE_IDENTITY_KEY_DERIVED bit; E is then only fed to RandomData.setSeed.
 *
 * <p>Card id = SHA-256(04 || X || Y)[0..16), so the id binds the key.
 */
public final class Identity {
    // Layout of the CLEAR_ON_RESET scratch during install.
    private static final short RANDOM_OFFSET = 0;
    private static final short RANDOM_LENGTH = 32;
    private static final short ENTROPY_OFFSET = 32;
    private static final short SCALAR_OFFSET = 96;
    public static final short SCRATCH_LENGTH = 128;

    private static final byte MAX_SCALAR_ATTEMPTS = 4;

    private final KeyPair keyPair;
    private final byte[] publicPoint;
    private final byte[] cardId;
    private final boolean derived;

    /**
     * Makes the key pair. {@code scratch} is CLEAR_ON_RESET RAM of at least SCRATCH_LENGTH bytes
     * (CLEAR_ON_DESELECT RAM may not be touched during install); it is wiped before returning.
     */
    public Identity(byte[] entropy, short entropyOffset, short entropyLength, byte[] scratch) {
        if (entropyLength < 0 || entropyLength > Constants.MAX_INSTALL_ENTROPY
                || (short) (scratch.length) < SCRATCH_LENGTH) {
            CryptoException.throwIt(CryptoException.ILLEGAL_VALUE);
        }
        ECPublicKey publicKey = (ECPublicKey) KeyBuilder.buildKey(
                KeyBuilder.TYPE_EC_FP_PUBLIC, P256.KEY_LENGTH, false);
        ECPrivateKey privateKey = (ECPrivateKey) KeyBuilder.buildKey(
                KeyBuilder.TYPE_EC_FP_PRIVATE, P256.KEY_LENGTH, false);
        P256.setDomainParameters(publicKey);
        P256.setDomainParameters(privateKey);
        keyPair = new KeyPair(publicKey, privateKey);
        publicPoint = new byte[Constants.EC_POINT_LENGTH];
        cardId = new byte[Constants.CARD_ID_LENGTH];

        MessageDigest sha256 = MessageDigest.getInstance(MessageDigest.ALG_SHA_256, false);
        RandomData random = keyGenerationRandom();
        KeyAgreement multiplier = basePointMultiplier();
        derived = multiplier != null;
        if (derived) {
            deriveKey(entropy, entropyOffset, entropyLength, scratch, random, sha256, multiplier,
                    publicKey, privateKey);
        } else {
            if (entropyLength > 0) {
                random.setSeed(entropy, entropyOffset, entropyLength);
            }
            keyPair.genKeyPair();
        }

        // Public point and card id: two persistent fields that must agree, updated together.
        short pointLength = publicKey.getW(scratch, (short) 0);
        if (pointLength != Constants.EC_POINT_LENGTH) {
            CryptoException.throwIt(CryptoException.ILLEGAL_VALUE);
        }
        sha256.reset();
        sha256.doFinal(scratch, (short) 0, pointLength, scratch, Constants.EC_POINT_LENGTH);
        JCSystem.beginTransaction();
        Util.arrayCopy(scratch, (short) 0, publicPoint, (short) 0, pointLength);
        Util.arrayCopy(scratch, Constants.EC_POINT_LENGTH, cardId, (short) 0, Constants.CARD_ID_LENGTH);
        JCSystem.commitTransaction();
        Util.arrayFillNonAtomic(scratch, (short) 0, SCRATCH_LENGTH, (byte) 0);
    }

    private static void deriveKey(byte[] entropy, short entropyOffset, short entropyLength, byte[] scratch,
                                  RandomData random, MessageDigest sha256, KeyAgreement multiplier,
                                  ECPublicKey publicKey, ECPrivateKey privateKey) {
        random.nextBytes(scratch, RANDOM_OFFSET, RANDOM_LENGTH);
        Util.arrayCopyNonAtomic(entropy, entropyOffset, scratch, ENTROPY_OFFSET, entropyLength);
        short counterOffset = (short) (ENTROPY_OFFSET + entropyLength);
        short hashedLength = (short) (counterOffset + 1);

        boolean valid = false;
        for (byte counter = 0; counter < MAX_SCALAR_ATTEMPTS && !valid; counter++) {
            scratch[counterOffset] = counter;
            sha256.reset();
            sha256.doFinal(scratch, RANDOM_OFFSET, hashedLength, scratch, SCALAR_OFFSET);
            // 0 < s < n, checked without branching on the secret's bytes.
            valid = !ConstantTime.isZero(scratch, SCALAR_OFFSET, Constants.EC_SCALAR_LENGTH)
                    & ConstantTime.compareUnsigned(scratch, SCALAR_OFFSET, P256.ORDER, (short) 0,
                            Constants.EC_SCALAR_LENGTH) < 0;
        }
        if (!valid) {
            CryptoException.throwIt(CryptoException.ILLEGAL_VALUE);
        }

        privateKey.setS(scratch, SCALAR_OFFSET, Constants.EC_SCALAR_LENGTH);
        multiplier.init(privateKey);
        short length = multiplier.generateSecret(P256.G, (short) 0, (short) P256.G.length, scratch, (short) 0);
        // JavaCard 3.0.5 specifies 04 || X || Y; accept a bare X || Y from a card that omits the 04.
        if (length == (short) (Constants.EC_POINT_LENGTH - 1)) {
            Util.arrayCopyNonAtomic(scratch, (short) 0, scratch, (short) 1, length);
            scratch[0] = (byte) 0x04;
            length = Constants.EC_POINT_LENGTH;
        }
        if (length != Constants.EC_POINT_LENGTH || scratch[0] != (byte) 0x04) {
            CryptoException.throwIt(CryptoException.ILLEGAL_VALUE);
        }
        publicKey.setW(scratch, (short) 0, length);
    }

    /** RandomData for key material: ALG_KEYGENERATION (3.0.5), else ALG_SECURE_RANDOM. */
    @SuppressWarnings("deprecation")
    private static RandomData keyGenerationRandom() {
        try {
            return RandomData.getInstance(RandomData.ALG_KEYGENERATION);
        } catch (CryptoException e) {
            return RandomData.getInstance(RandomData.ALG_SECURE_RANDOM);
        }
    }

    /** KeyAgreement giving the full point s.P, or null when the card lacks it. */
    private static KeyAgreement basePointMultiplier() {
        try {
            return KeyAgreement.getInstance(KeyAgreement.ALG_EC_SVDP_DH_PLAIN_XY, false);
        } catch (CryptoException e) {
            return null;
        }
    }

    public KeyPair keyPair() {
        return keyPair;
    }

    boolean isDerived() {
        return derived;
    }

    /** Writes 04 || X || Y at out[offset]; returns the offset after it. */
    public short writePublicPoint(byte[] out, short offset) {
        return Util.arrayCopyNonAtomic(publicPoint, (short) 0, out, offset, Constants.EC_POINT_LENGTH);
    }

    /** Writes the 16-byte card id at out[offset]; returns the offset after it. */
    short writeCardId(byte[] out, short offset) {
        return Util.arrayCopyNonAtomic(cardId, (short) 0, out, offset, Constants.CARD_ID_LENGTH);
    }
}
