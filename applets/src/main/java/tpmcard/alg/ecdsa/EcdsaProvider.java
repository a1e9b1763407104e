package tpmcard.alg.ecdsa;

import javacard.framework.ISO7816;
import javacard.framework.ISOException;
import javacard.framework.Util;
import javacard.security.CryptoException;
import javacard.security.ECPrivateKey;
import javacard.security.ECPublicKey;
import javacard.security.KeyAgreement;
import javacard.security.KeyBuilder;
import javacard.security.KeyPair;
import javacard.security.Signature;
import tpmcard.algorithms.ProviderApplet;
import tpmcard.algorithms.ProviderConstants;
import tpmcard.lib.ConstantTime;
import tpmcard.lib.P256;

/**
 * ECDSA over P-256 with SHA-256 (FIPS 186-4, X9.62 DER signatures) through Signature
 * ALG_ECDSA_SHA_256 (docs/algorithms.md §3).
 *
 * <p>Two key types. {@link ProviderConstants#KEY_EC_P256} is a key pair: KEY GENERATE answers
 * handle | 04 X Y, and KEY IMPORT takes a wrapped {@code d (32) | 04 X Y (65)}. When the card has
 * ALG_EC_SVDP_DH_PLAIN_XY it checks d.G = W and refuses a mismatch.
 * {@link ProviderConstants#KEY_EC_P256_PUBLIC} is a public key alone, {@code 04 X Y}, and serves
 * VERIFY only; SIGN with it is {@link ProviderConstants#SW_KEY_TYPE_MISMATCH}. The card's API
 * checks its point: setW, Signature.init and one trial verification must not throw.
 *
 * <p>VERIFY accepts only a strict DER signature with r, s in [1, n-1] ({@link DerSignature}).
 * Anything else is {@link ProviderConstants#SW_VERIFICATION_FAILED}, the answer to a bad signature,
 * and never reaches the card's parser.
 */
public final class EcdsaProvider extends ProviderApplet {
    public static final byte VERSION_MAJOR = 1;
    public static final byte VERSION_MINOR = 0;
    /**
     * Transient RAM checked at install: the least the provider takes on any card (9 bytes on a
     * J3H145, whose ECDSA engine takes 1; 120 on a J3R180), SuiteRamTest. The card charges its
     * crypto objects at its own figures when install makes them.
     */
    public static final short TRANSIENT_BYTES = 8;

    private final KeyPair[] pairs;
    private final Signature ecdsa;
    private final KeyAgreement pointCheck;   // null when the card lacks ALG_EC_SVDP_DH_PLAIN_XY

    /** A well-formed signature (r = s = 1), verified over the empty message when a public key is imported. */
    private static final byte[] TRIAL_SIGNATURE = {0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01};

    private EcdsaProvider(byte[] bArray, short bOffset, byte bLength) {
        super(ProviderConstants.ALG_ECDSA_P256_SHA256, VERSION_MAJOR, VERSION_MINOR,
                (short) (ProviderConstants.CAP_SIGN | ProviderConstants.CAP_KEY_GENERATE | ProviderConstants.CAP_KEY_IMPORT
                        | ProviderConstants.CAP_STREAM), TRANSIENT_BYTES, bArray, bOffset, bLength);
        pairs = new KeyPair[ProviderConstants.KEY_SLOTS];
        for (short i = 0; i < ProviderConstants.KEY_SLOTS; i++) {
            ECPublicKey pub = (ECPublicKey) KeyBuilder.buildKey(KeyBuilder.TYPE_EC_FP_PUBLIC, P256.KEY_LENGTH, false);
            ECPrivateKey priv = (ECPrivateKey) KeyBuilder.buildKey(KeyBuilder.TYPE_EC_FP_PRIVATE, P256.KEY_LENGTH, false);
            curve.setDomainParameters(pub);
            curve.setDomainParameters(priv);
            pairs[i] = new KeyPair(pub, priv);
        }
        ecdsa = Signature.getInstance(Signature.ALG_ECDSA_SHA_256, true);
        KeyAgreement check = null;
        try {
            check = KeyAgreement.getInstance(KeyAgreement.ALG_EC_SVDP_DH_PLAIN_XY, true);
        } catch (CryptoException e) {
            check = null;
        }
        pointCheck = check;
    }

    public static void install(byte[] bArray, short bOffset, byte bLength) {
        new EcdsaProvider(bArray, bOffset, bLength).registerFromInstall(bArray, bOffset);
    }

    protected boolean supportsKeyType(byte keyType) {
        return keyType == ProviderConstants.KEY_EC_P256 || keyType == ProviderConstants.KEY_EC_P256_PUBLIC;
    }

    protected short generateKey(short slot, byte keyType, byte[] out, short outOffset) {
        if (keyType != ProviderConstants.KEY_EC_P256) {
            ISOException.throwIt(ProviderConstants.SW_KEY_TYPE_MISMATCH);   // a public key is imported, not made
        }
        pairs[slot].genKeyPair();
        return ((ECPublicKey) pairs[slot].getPublic()).getW(out, outOffset);
    }

    protected short importKey(short slot, byte keyType, byte[] key, short keyOffset, short keyLength,
            byte[] out, short outOffset) {
        if (keyType == ProviderConstants.KEY_EC_P256_PUBLIC) {
            return importPublicKey(slot, key, keyOffset, keyLength, out, outOffset);
        }
        if (keyLength != (short) (32 + ProviderConstants.EC_POINT_LENGTH) || key[(short) (keyOffset + 32)] != 0x04) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
        ECPrivateKey priv = (ECPrivateKey) pairs[slot].getPrivate();
        ECPublicKey pub = (ECPublicKey) pairs[slot].getPublic();
        try {
            priv.setS(key, keyOffset, (short) 32);
            pub.setW(key, (short) (keyOffset + 32), ProviderConstants.EC_POINT_LENGTH);
            if (pointCheck != null) {
                // d*G is computed in the answer's room (the answer is W, as long), then overwritten.
                requireRoom(outOffset, ProviderConstants.EC_POINT_LENGTH);
                pointCheck.init(priv);
                pointCheck.generateSecret(curve.g, (short) 0, (short) curve.g.length, out, outOffset);
                if (!ConstantTime.equals(out, outOffset, key, (short) (keyOffset + 32), ProviderConstants.EC_POINT_LENGTH)) {
                    Util.arrayFillNonAtomic(out, outOffset, ProviderConstants.EC_POINT_LENGTH, (byte) 0);
                    ISOException.throwIt(ProviderConstants.SW_VERIFICATION_FAILED);
                }
            }
        } catch (CryptoException e) {
            ISOException.throwIt(ISO7816.SW_WRONG_DATA);
        }
        return pub.getW(out, outOffset);
    }

    /**
     * A public key {@code 04 X Y}, for VERIFY. Only the uncompressed form is taken (SEC 1 §2.3.3).
     * The point itself is checked by the card's API rather than by code here: setW,
     * Signature.init and a trial verification are where implementations refuse a coordinate
     * outside [0, p) or a point off the curve. jCardSim (BouncyCastle) does so in init, with an
     * exception other than CryptoException, hence the wide catch. Refusal: ISO7816.SW_WRONG_DATA,
     * with the slot left empty.
     */
    private short importPublicKey(short slot, byte[] key, short keyOffset, short keyLength, byte[] out, short outOffset) {
        if (keyLength != ProviderConstants.EC_POINT_LENGTH) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
        if (key[keyOffset] != 0x04) {
            ISOException.throwIt(ISO7816.SW_WRONG_DATA);
        }
        clearKey(slot);   // no private scalar from an earlier, failed import stays beside this point
        ECPublicKey pub = (ECPublicKey) pairs[slot].getPublic();
        boolean valid;
        try {
            pub.setW(key, keyOffset, ProviderConstants.EC_POINT_LENGTH);
            ecdsa.init(pub, Signature.MODE_VERIFY);
            ecdsa.verify(TRIAL_SIGNATURE, (short) 0, (short) 0, TRIAL_SIGNATURE, (short) 0, (short) TRIAL_SIGNATURE.length);
            valid = true;
        } catch (RuntimeException e) {
            valid = false;
        }
        if (!valid) {
            clearKey(slot);
            ISOException.throwIt(ISO7816.SW_WRONG_DATA);
        }
        return pub.getW(out, outOffset);
    }

    protected void clearKey(short slot) {
        pairs[slot].getPrivate().clearKey();
        pairs[slot].getPublic().clearKey();
        curve.setDomainParameters((ECPublicKey) pairs[slot].getPublic());
        curve.setDomainParameters((ECPrivateKey) pairs[slot].getPrivate());
    }

    /** SIGN needs a key pair; VERIFY takes a key pair or a public key. */
    private short keySlot(byte op, byte[] in, short off, short length) {
        checkHandle(length);
        if (op == ProviderConstants.INS_SIGN) {
            return slotOf(in, off, ProviderConstants.KEY_EC_P256);
        }
        return slotOf(in, off, ProviderConstants.KEY_EC_P256, ProviderConstants.KEY_EC_P256_PUBLIC);
    }

    protected short operate(byte ins, byte p1, byte p2, byte[] in, short inOffset, short inLength,
            byte[] out, short outOffset) {
        if (ins != ProviderConstants.INS_SIGN && ins != ProviderConstants.INS_VERIFY) {
            ISOException.throwIt(ISO7816.SW_INS_NOT_SUPPORTED);
        }
        if (p1 != 0 || p2 != 0) {
            ISOException.throwIt(ISO7816.SW_INCORRECT_P1P2);
        }
        short slot = keySlot(ins, in, inOffset, inLength);
        short p = (short) (inOffset + ProviderConstants.HANDLE_LENGTH);
        short end = (short) (inOffset + inLength);
        if (ins == ProviderConstants.INS_SIGN) {
            ecdsa.init(pairs[slot].getPrivate(), Signature.MODE_SIGN);
            return ecdsa.sign(in, p, (short) (end - p), out, outOffset);
        }
        ecdsa.init(pairs[slot].getPublic(), Signature.MODE_VERIFY);
        verify(in, p, end);
        return 0;
    }

    /**
     * {@code sig length | DER signature | message} from p to end. A signature that is not strict DER
     * is a bad one: refused before the card's parser sees it (and before the message is hashed).
     */
    private void verify(byte[] in, short p, short end) {
        if (p >= end) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
        short sigLength = (short) (in[p] & 0xFF);
        short message = (short) (p + 1 + sigLength);
        if (message > end) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
        boolean ok = DerSignature.isValid(in, (short) (p + 1), sigLength, curve.order);
        if (ok) {
            try {
                ok = ecdsa.verify(in, message, (short) (end - message), in, (short) (p + 1), sigLength);
            } catch (CryptoException e) {
                ok = false;
            }
        }
        if (!ok) {
            ISOException.throwIt(ProviderConstants.SW_VERIFICATION_FAILED);
        }
    }

    protected short streamInit(byte op, byte[] in, short inOffset, short inLength) {
        if (op != ProviderConstants.INS_SIGN && op != ProviderConstants.INS_VERIFY) {
            ISOException.throwIt(ISO7816.SW_INCORRECT_P1P2);
        }
        checkHandleOnly(inLength);
        short slot = keySlot(op, in, inOffset, inLength);
        if (op == ProviderConstants.INS_SIGN) {
            ecdsa.init(pairs[slot].getPrivate(), Signature.MODE_SIGN);
        } else {
            ecdsa.init(pairs[slot].getPublic(), Signature.MODE_VERIFY);
        }
        return slot;
    }

    protected void streamUpdate(byte op, short slot, byte[] in, short inOffset, short inLength) {
        ecdsa.update(in, inOffset, inLength);
    }

    protected short streamFinal(byte op, short slot, byte[] in, short inOffset, short inLength,
            byte[] out, short outOffset) {
        if (op == ProviderConstants.INS_SIGN) {
            return ecdsa.sign(in, inOffset, inLength, out, outOffset);
        }
        verify(in, inOffset, (short) (inOffset + inLength));
        return 0;
    }
}
