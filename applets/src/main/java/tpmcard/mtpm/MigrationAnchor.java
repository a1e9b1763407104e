package tpmcard.mtpm;

import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.Util;
import javacard.security.CryptoException;
import javacard.security.ECPublicKey;
import javacard.security.KeyBuilder;
import javacard.security.Signature;
import tpmcard.lib.P256;

/**
 * The migration trust anchor: the P-256 public key of the CA that the card owner trusts to
 * certify migration targets (docs/mtpm.md "Migration"). Installed with the owner auth
 * (INS_MIGRATION_ANCHOR_SET), removed by CLEAR. MIGRATE EXPORT wraps only to a key that comes
 * with a certificate signed by it:
 *
 * <pre>
 * certificate = 80 10 "migration target" || 81 41 target point || 82 L card id (1..32)
 *               || 9E L DER ECDSA-SHA-256 signature over every byte before the 9E tag
 * </pre>
 * The purpose string keeps a signature the same CA made for another purpose from passing.
 */
final class MigrationAnchor {
    private static final byte[] PURPOSE = {
        'm', 'i', 'g', 'r', 'a', 't', 'i', 'o', 'n', ' ', 't', 'a', 'r', 'g', 'e', 't',
    };
    private static final short POINT = 65;
    private static final short MIN_SIGNATURE = 8;
    private static final short MAX_SIGNATURE = 72;

    private final ECPublicKey key;
    private final byte[] point = new byte[POINT];
    private boolean installed;

    MigrationAnchor(P256 curve) {
        key = (ECPublicKey) KeyBuilder.buildKey(KeyBuilder.TYPE_EC_FP_PUBLIC, P256.KEY_LENGTH, false);
        curve.setDomainParameters(key);
    }

    /** Installs the CA point at in[off..off+65) (04 || x || y); 6A80 when it is no P-256 point. */
    void install(byte[] in, short off) {
        if (in[off] != (byte) 0x04) {
            ISOException.throwIt(Constants.SW_WRONG_DATA);
        }
        try {
            key.setW(in, off, POINT);
        } catch (CryptoException e) {
            ISOException.throwIt(Constants.SW_WRONG_DATA);
        }
        JCSystem.beginTransaction();
        Util.arrayCopy(in, off, point, (short) 0, POINT);
        installed = true;
        JCSystem.commitTransaction();
    }

    /** CLEAR (inside the caller's transaction): the next owner installs an anchor of their own. */
    void clear() {
        installed = false;
        Wipe.zero(point, (short) 0, POINT);
    }

    /** The installed point, or SW_NOT_FOUND. */
    short read(byte[] out, short outOff) {
        if (!installed) {
            ISOException.throwIt(Constants.SW_NOT_FOUND);
        }
        Util.arrayCopyNonAtomic(point, (short) 0, out, outOff, POINT);
        return POINT;
    }

    /**
     * Checks the certificate at in[off..off+len) against the anchor; returns the offset of the
     * certified target point in {@code in}. Any failure, or no anchor: SW_UNTRUSTED_TARGET.
     */
    short verify(byte[] in, short off, short len, Signature ecdsa) {
        if (!installed) {
            ISOException.throwIt(Constants.SW_UNTRUSTED_TARGET);
        }
        short end = (short) (off + len);
        short purpose = field(in, off, end, Constants.TAG_CERT_PURPOSE, (short) PURPOSE.length,
                (short) PURPOSE.length);
        if (Util.arrayCompare(in, purpose, PURPOSE, (short) 0, (short) PURPOSE.length) != 0) {
            ISOException.throwIt(Constants.SW_UNTRUSTED_TARGET);
        }
        short target = field(in, (short) (purpose + PURPOSE.length), end, Constants.TAG_CERT_TARGET, POINT, POINT);
        short cardId = field(in, (short) (target + POINT), end, Constants.TAG_CERT_CARD_ID, (short) 1,
                Constants.MAX_CERT_CARD_ID);
        short signed = (short) (cardId + (in[(short) (cardId - 1)] & 0xFF));
        short signature = field(in, signed, end, Constants.TAG_CERT_SIGNATURE, MIN_SIGNATURE, MAX_SIGNATURE);
        short signatureLength = (short) (in[(short) (signature - 1)] & 0xFF);
        if ((short) (signature + signatureLength) != end) {
            ISOException.throwIt(Constants.SW_UNTRUSTED_TARGET);
        }
        boolean verified = false;
        try {
            ecdsa.init(key, Signature.MODE_VERIFY);
            verified = ecdsa.verify(in, off, (short) (signed - off), in, signature, signatureLength);
        } catch (CryptoException e) {
            verified = false;
        }
        if (!verified || in[target] != (byte) 0x04) {
            ISOException.throwIt(Constants.SW_UNTRUSTED_TARGET);
        }
        return target;
    }

    /** [tag][length min..max][value] at in[at], inside end; returns the value's offset. */
    private static short field(byte[] in, short at, short end, byte tag, short min, short max) {
        if ((short) (at + 2) > end || in[at] != tag) {
            ISOException.throwIt(Constants.SW_UNTRUSTED_TARGET);
        }
        short length = (short) (in[(short) (at + 1)] & 0xFF);
        if (length < min || length > max || (short) (at + 2 + length) > end) {
            ISOException.throwIt(Constants.SW_UNTRUSTED_TARGET);
        }
        return (short) (at + 2);
    }
}
