package tpmcard.lib;

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

/**
 * A P-256 key pair made once, at install, and the id that names it: the core applet's card
 * identity, the mobile TPM's EK, AK and migration key. Persistent state only; it never changes
 * after install. A library class, so that the core and the mobile TPM (two applet packages, which
 * may export only Shareable interfaces) both use it.
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
 * <p>A card without ALG_EC_SVDP_DH_PLAIN_XY falls back to genKeyPair() and reports it by
 * {@link #isDerived()} false; E is then only fed to RandomData.setSeed.
 *
 * <p>Id = SHA-256(04 || X || Y)[0..16), so the id binds the key.
 *
 * <p>The hash, the RNG and the multiplier are the caller's: it obtains them once at install (see
 * {@link #keyGenerationRandom}, {@link #basePointMultiplier}) and keeps them, so making several
 * identities leaves no crypto object behind as garbage (a card has no garbage collector that runs
 * by itself).
 */
public final class Identity {
    public static final short POINT_LENGTH = 65;
    public static final short SCALAR_LENGTH = 32;
    public static final short ID_LENGTH = 16;
    /** Most install entropy a key takes. */
    public static final short MAX_ENTROPY = 32;

    // Layout of the CLEAR_ON_RESET scratch during install.
    private static final short RANDOM_OFFSET = 0;
    private static final short RANDOM_LENGTH = 32;
    private static final short ENTROPY_OFFSET = 32;
    private static final short SCALAR_OFFSET = 96;
    public static final short SCRATCH_LENGTH = 128;

    private static final byte MAX_SCALAR_ATTEMPTS = 4;

    private final KeyPair keyPair;
    private final byte[] publicPoint;
    private final byte[] id;
    private final boolean derived;

    /**
     * Makes the key pair. {@code scratch} is CLEAR_ON_RESET RAM of at least SCRATCH_LENGTH bytes
     * (CLEAR_ON_DESELECT RAM may not be touched during install); its first SCRATCH_LENGTH bytes
     * are wiped before returning. {@code multiplier} is {@link #basePointMultiplier()}'s answer
     * (null: the card lacks it), {@code random} {@link #keyGenerationRandom()}'s.
     */
    public Identity(P256 curve, MessageDigest sha256, RandomData random, KeyAgreement multiplier,
                    byte[] entropy, short entropyOffset, short entropyLength, byte[] scratch) {
        if (entropyLength < 0 || entropyLength > MAX_ENTROPY || (short) (scratch.length) < SCRATCH_LENGTH) {
            CryptoException.throwIt(CryptoException.ILLEGAL_VALUE);
        }
        ECPublicKey publicKey = (ECPublicKey) KeyBuilder.buildKey(
                KeyBuilder.TYPE_EC_FP_PUBLIC, P256.KEY_LENGTH, false);
        ECPrivateKey privateKey = (ECPrivateKey) KeyBuilder.buildKey(
                KeyBuilder.TYPE_EC_FP_PRIVATE, P256.KEY_LENGTH, false);
        curve.setDomainParameters(publicKey);
        curve.setDomainParameters(privateKey);
        keyPair = new KeyPair(publicKey, privateKey);
        publicPoint = new byte[POINT_LENGTH];
        id = new byte[ID_LENGTH];

        derived = multiplier != null;
        if (derived) {
            deriveScalar(curve, entropy, entropyOffset, entropyLength, scratch, random, sha256);
            multiplyGenerator(curve, multiplier, privateKey, scratch, SCALAR_OFFSET, scratch, (short) 0);
            publicKey.setW(scratch, (short) 0, POINT_LENGTH);
        } else {
            if (entropyLength > 0) {
                random.setSeed(entropy, entropyOffset, entropyLength);
            }
            keyPair.genKeyPair();
        }

        // Public point and id: two persistent fields that must agree, updated together.
        short pointLength = publicKey.getW(scratch, (short) 0);
        if (pointLength != POINT_LENGTH) {
            CryptoException.throwIt(CryptoException.ILLEGAL_VALUE);
        }
        sha256.reset();
        sha256.doFinal(scratch, (short) 0, pointLength, scratch, POINT_LENGTH);
        JCSystem.beginTransaction();
        Util.arrayCopy(scratch, (short) 0, publicPoint, (short) 0, pointLength);
        Util.arrayCopy(scratch, POINT_LENGTH, id, (short) 0, ID_LENGTH);
        JCSystem.commitTransaction();
        Util.arrayFillNonAtomic(scratch, (short) 0, SCRATCH_LENGTH, (byte) 0);
    }

    /** scratch[SCALAR_OFFSET..+32) = a valid scalar from SHA-256(R || E || c). */
    private static void deriveScalar(P256 curve, byte[] entropy, short entropyOffset, short entropyLength,
                                     byte[] scratch, RandomData random, MessageDigest sha256) {
        random.nextBytes(scratch, RANDOM_OFFSET, RANDOM_LENGTH);
        Util.arrayCopyNonAtomic(entropy, entropyOffset, scratch, ENTROPY_OFFSET, entropyLength);
        short counterOffset = (short) (ENTROPY_OFFSET + entropyLength);
        short hashedLength = (short) (counterOffset + 1);

        boolean valid = false;
        for (byte counter = 0; counter < MAX_SCALAR_ATTEMPTS && !valid; counter++) {
            scratch[counterOffset] = counter;
            sha256.reset();
            sha256.doFinal(scratch, RANDOM_OFFSET, hashedLength, scratch, SCALAR_OFFSET);
            valid = isValidScalar(curve, scratch, SCALAR_OFFSET);
        }
        if (!valid) {
            CryptoException.throwIt(CryptoException.ILLEGAL_VALUE);
        }
    }

    /** 0 < s < n for the 32-byte big-endian s at buf[offset], without branching on its bytes. */
    public static boolean isValidScalar(P256 curve, byte[] buf, short offset) {
        return !ConstantTime.isZero(buf, offset, SCALAR_LENGTH)
                & ConstantTime.compareUnsigned(buf, offset, curve.order, (short) 0, SCALAR_LENGTH) < 0;
    }

    /**
     * Sets {@code key}'s scalar to the 32 bytes at scalar[scalarOffset] (full length: jCardSim
     * mangles a shorter one) and writes the public point s.G, 04 || X || Y, at out[outOffset]
     * (which may overlap nothing but itself). Returns POINT_LENGTH. The multiplier is
     * ALG_EC_SVDP_DH_PLAIN_XY; the key must carry the P-256 domain parameters.
     */
    public static short multiplyGenerator(P256 curve, KeyAgreement multiplier, ECPrivateKey key,
                                          byte[] scalar, short scalarOffset, byte[] out, short outOffset) {
        key.setS(scalar, scalarOffset, SCALAR_LENGTH);
        multiplier.init(key);
        short length = multiplier.generateSecret(curve.g, (short) 0, (short) curve.g.length, out, outOffset);
        // JavaCard 3.0.5 specifies 04 || X || Y; accept a bare X || Y from a card that omits the 04.
        if (length == (short) (POINT_LENGTH - 1)) {
            Util.arrayCopyNonAtomic(out, outOffset, out, (short) (outOffset + 1), length);
            out[outOffset] = (byte) 0x04;
            length = POINT_LENGTH;
        }
        if (length != POINT_LENGTH || out[outOffset] != (byte) 0x04) {
            CryptoException.throwIt(CryptoException.ILLEGAL_VALUE);
        }
        return length;
    }

    /** RandomData for key material: ALG_KEYGENERATION (3.0.5), else ALG_SECURE_RANDOM. Install only. */
    @SuppressWarnings("deprecation")
    public static RandomData keyGenerationRandom() {
        try {
            return RandomData.getInstance(RandomData.ALG_KEYGENERATION);
        } catch (CryptoException e) {
            return RandomData.getInstance(RandomData.ALG_SECURE_RANDOM);
        }
    }

    /** KeyAgreement giving the full point s.P, or null when the card lacks it. Install only. */
    public static KeyAgreement basePointMultiplier() {
        try {
            return KeyAgreement.getInstance(KeyAgreement.ALG_EC_SVDP_DH_PLAIN_XY, false);
        } catch (CryptoException e) {
            return null;
        }
    }

    public KeyPair keyPair() {
        return keyPair;
    }

    /** True when the scalar came from SHA-256(R || E || c), false after the genKeyPair() fallback. */
    public boolean isDerived() {
        return derived;
    }

    /** Writes 04 || X || Y at out[offset]; returns the offset after it. */
    public short writePublicPoint(byte[] out, short offset) {
        return Util.arrayCopyNonAtomic(publicPoint, (short) 0, out, offset, POINT_LENGTH);
    }

    /** Writes the 16-byte id at out[offset]; returns the offset after it. */
    public short writeId(byte[] out, short offset) {
        return Util.arrayCopyNonAtomic(id, (short) 0, out, offset, ID_LENGTH);
    }
}
