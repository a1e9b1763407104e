package tpmcard.mtpm;

import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.Util;
import javacard.security.AESKey;
import javacard.security.CryptoException;
import javacard.security.ECPublicKey;
import javacard.security.KeyBuilder;
import javacard.security.MessageDigest;
import javacard.security.Signature;
import tpmcard.lib.P256;

/**
 * Closure images (docs/closures.md "Image format"): sealing to this card, opening, the signing
 * authority, and the card's closure slots (header, code, image id).
 *
 * <pre>
 * sealed = version 01 || card closure id 16 || header 32 || nonce 8
 *          || AES-128-CBC(code || 0-pad) || AES-CMAC 16 (over everything before it)
 * </pre>
 * K_enc, K_mac and the card closure id are SHA-256(label || the mTPM's secret seed) made at
 * install: card-only. The nonce is CMAC_Kmac(header || code)[0..8), a synthetic IV (a header
 * starts with a name character, the MACed image with 01: the two CMAC inputs never coincide).
 */
final class ClosureImages {
    private static final short H = ClosureConstants.HEADER_LENGTH;
    private static final short MIN_SIGNATURE = 8;
    private static final short MAX_SIGNATURE = 72;

    private final AESKey encryption;
    private final AESKey mac;
    private final byte[] cardId = new byte[ClosureConstants.CARD_ID_LENGTH];
    private final Envelope envelope;
    private final MessageDigest sha256;
    private final Signature ecdsa;

    // The authority the card owner trusts to sign closures (AUTHORITY SET), and its author hash.
    private final ECPublicKey authority;
    private final byte[] authorityPoint = new byte[ClosureConstants.AUTHORITY_POINT_LENGTH];
    private final byte[] authorityHash = new byte[ClosureConstants.AUTHOR_LENGTH];
    private boolean authorityInstalled;

    // The closure slots: header, code, image id, in use.
    final byte[] headers = new byte[(short) (ClosureConstants.CLOSURE_SLOTS * H)];
    final byte[] code = new byte[(short) (ClosureConstants.CLOSURE_SLOTS * ClosureConstants.MAX_CODE)];
    private final byte[] imageIds = new byte[(short) (ClosureConstants.CLOSURE_SLOTS * ClosureConstants.IMAGE_ID_LENGTH)];
    private final boolean[] inUse = new boolean[ClosureConstants.CLOSURE_SLOTS];

    /** {@code scratch}: CLEAR_ON_RESET, at least 32 bytes (install). */
    ClosureImages(Keys keys, Envelope envelope, byte[] scratch) {
        this.envelope = envelope;
        sha256 = keys.sha256();
        ecdsa = keys.ecdsa;
        encryption = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES, KeyBuilder.LENGTH_AES_128, false);
        mac = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES, KeyBuilder.LENGTH_AES_128, false);
        keys.deriveSecret((byte) 'c', (byte) 'e', scratch, (short) 0);
        encryption.setKey(scratch, (short) 0);
        keys.deriveSecret((byte) 'c', (byte) 'm', scratch, (short) 0);
        mac.setKey(scratch, (short) 0);
        keys.deriveSecret((byte) 'c', (byte) 'i', scratch, (short) 0);
        Util.arrayCopy(scratch, (short) 0, cardId, (short) 0, ClosureConstants.CARD_ID_LENGTH);
        Util.arrayFillNonAtomic(scratch, (short) 0, (short) 32, (byte) 0);
        authority = (ECPublicKey) KeyBuilder.buildKey(KeyBuilder.TYPE_EC_FP_PUBLIC, P256.KEY_LENGTH, false);
        keys.curve.setDomainParameters(authority);
    }

    // --- Header ------------------------------------------------------------------------------

    /** Checks the header at h against the card's caps (6A80); returns the code length. */
    static short checkHeader(byte[] h, short off) {
        boolean ok = h[(short) (off + ClosureConstants.H_RESERVED1)] == 0
                && Util.getShort(h, (short) (off + ClosureConstants.H_RESERVED2)) == 0
                && (h[(short) (off + ClosureConstants.H_FLAGS)] & ~ClosureConstants.FLAG_SIGNED) == 0;
        short stack = (short) (h[(short) (off + ClosureConstants.H_STACK)] & 0xFF);
        short memory = Util.getShort(h, (short) (off + ClosureConstants.H_MEMORY));
        short output = (short) (h[(short) (off + ClosureConstants.H_OUTPUT)] & 0xFF);
        short store = Util.getShort(h, (short) (off + ClosureConstants.H_STORE));
        short steps = Util.getShort(h, (short) (off + ClosureConstants.H_STEPS));
        short codeLength = Util.getShort(h, (short) (off + ClosureConstants.H_CODE));
        ok = ok && stack >= 1 && stack <= ClosureConstants.MAX_STACK
                && memory >= 0 && memory <= ClosureConstants.MAX_MEMORY
                && output <= ClosureConstants.MAX_OUTPUT
                && store >= 0 && store <= ClosureConstants.MAX_STORE
                && steps >= 1 && steps <= ClosureConstants.MAX_STEPS
                && codeLength >= 1 && codeLength <= ClosureConstants.MAX_CODE
                && checkName(h, off);
        if (!ok) {
            ISOException.throwIt(Constants.SW_WRONG_DATA);
        }
        return codeLength;
    }

    /** 1..8 characters of [A-Za-z0-9_.-], zero-padded. */
    private static boolean checkName(byte[] h, short off) {
        boolean ended = false;
        for (short i = 0; i < ClosureConstants.NAME_LENGTH; i++) {
            byte c = h[(short) (off + i)];
            if (c == 0) {
                if (i == 0) {
                    return false;
                }
                ended = true;
            } else if (ended || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                    || c == '_' || c == '.' || c == '-')) {
                return false;
            }
        }
        return true;
    }

    // --- Seal and open -----------------------------------------------------------------------

    /**
     * in = plain image (header || code || [authority signature]); the sealed image goes to
     * out[outOff] (no overlap with in). Returns its length. scratch: 16 bytes at scratchOff.
     */
    short seal(byte[] in, short off, short len, byte[] out, short outOff, byte[] scratch, short scratchOff) {
        if (len < (short) (H + 1)) {
            ISOException.throwIt(Constants.SW_WRONG_LENGTH);
        }
        short codeLength = checkHeader(in, off);
        short imageLength = (short) (H + codeLength);
        if (codeLength > (short) (len - H)) {
            ISOException.throwIt(Constants.SW_WRONG_LENGTH);
        }
        short author = (short) (off + ClosureConstants.H_AUTHOR);
        if ((in[(short) (off + ClosureConstants.H_FLAGS)] & ClosureConstants.FLAG_SIGNED) != 0) {
            checkAuthority(in, off, imageLength, (short) (len - imageLength));
        } else if (len != imageLength || !isZero(in, author, ClosureConstants.AUTHOR_LENGTH)) {
            ISOException.throwIt(Constants.SW_WRONG_DATA);  // an author or a signature without the flag
        }
        short o = outOff;
        out[o] = ClosureConstants.IMAGE_VERSION;
        Util.arrayCopyNonAtomic(cardId, (short) 0, out, (short) (o + ClosureConstants.S_CARD_ID),
                ClosureConstants.CARD_ID_LENGTH);
        Util.arrayCopyNonAtomic(in, off, out, (short) (o + ClosureConstants.S_HEADER), H);
        envelope.mac(mac, in, off, imageLength, scratch, scratchOff);  // the synthetic nonce
        Util.arrayCopyNonAtomic(scratch, scratchOff, out, (short) (o + ClosureConstants.S_NONCE),
                ClosureConstants.NONCE_LENGTH);
        short body = (short) (o + ClosureConstants.SEALED_PREFIX);
        short padded = Envelope.padded(codeLength);
        Util.arrayCopyNonAtomic(in, (short) (off + H), out, body, codeLength);
        Util.arrayFillNonAtomic(out, (short) (body + codeLength), (short) (padded - codeLength), (byte) 0);
        envelope.encrypt(encryption, out, o, ClosureConstants.SEALED_PREFIX, (short) (o + ClosureConstants.S_NONCE),
                out, body, padded, scratch, scratchOff);
        return envelope.sign(mac, out, o, (short) (ClosureConstants.SEALED_PREFIX + padded));
    }

    /** FLAG_SIGNED: the registered authority's hash as author, and its signature over header || code. */
    private void checkAuthority(byte[] in, short off, short imageLength, short signatureLength) {
        if (!authorityInstalled || signatureLength < MIN_SIGNATURE || signatureLength > MAX_SIGNATURE
                || Util.arrayCompare(in, (short) (off + ClosureConstants.H_AUTHOR), authorityHash, (short) 0,
                        ClosureConstants.AUTHOR_LENGTH) != 0) {
            ISOException.throwIt(ClosureConstants.SW_UNTRUSTED_AUTHORITY);
        }
        boolean verified;
        try {
            ecdsa.init(authority, Signature.MODE_VERIFY);
            verified = ecdsa.verify(in, off, imageLength, in, (short) (off + imageLength), signatureLength);
        } catch (CryptoException e) {
            verified = false;
        }
        if (!verified) {
            ISOException.throwIt(ClosureConstants.SW_UNTRUSTED_AUTHORITY);
        }
    }

    /**
     * Checks the sealed image at in[off..off+len) and decrypts its code in place (to off +
     * SEALED_PREFIX; the header stays at off + S_HEADER). Another card's: 6A88; altered: 6984.
     */
    void open(byte[] in, short off, short len, byte[] scratch, short scratchOff) {
        if (len < (short) (ClosureConstants.SEALED_PREFIX + Envelope.BLOCK + Envelope.MAC_LENGTH)
                || len > (short) (ClosureConstants.SEALED_PREFIX + ClosureConstants.MAX_CODE + Envelope.MAC_LENGTH)) {
            ISOException.throwIt(Constants.SW_WRONG_LENGTH);
        }
        if (in[off] != ClosureConstants.IMAGE_VERSION) {
            ISOException.throwIt(Constants.SW_WRONG_DATA);
        }
        if (Util.arrayCompare(in, (short) (off + ClosureConstants.S_CARD_ID), cardId, (short) 0,
                ClosureConstants.CARD_ID_LENGTH) != 0) {
            ISOException.throwIt(Constants.SW_NOT_FOUND);  // sealed by another card
        }
        short ctLength = envelope.verify(mac, in, off, len, ClosureConstants.SEALED_PREFIX, scratch, scratchOff);
        short codeLength = checkHeader(in, (short) (off + ClosureConstants.S_HEADER));
        if (Envelope.padded(codeLength) != ctLength) {
            ISOException.throwIt(Constants.SW_OBJECT_INVALID);
        }
        envelope.decrypt(encryption, in, off, ClosureConstants.SEALED_PREFIX, ctLength,
                (short) (off + ClosureConstants.S_NONCE), in, (short) (off + ClosureConstants.SEALED_PREFIX),
                scratch, scratchOff);
    }

    /** SHA-256(header || code)[0..8) to out[outOff]; scratch 32 bytes at scratchOff. */
    void imageId(byte[] header, short hOff, byte[] codeArray, short codeOff, byte[] scratch, short scratchOff,
                 byte[] out, short outOff) {
        sha256.reset();
        sha256.update(header, hOff, H);
        sha256.doFinal(codeArray, codeOff, Util.getShort(header, (short) (hOff + ClosureConstants.H_CODE)),
                scratch, scratchOff);
        Util.arrayCopy(scratch, scratchOff, out, outOff, ClosureConstants.IMAGE_ID_LENGTH);
    }

    // --- Authority ---------------------------------------------------------------------------

    /** Installs the authority point at in[off] (65 bytes), or removes it (len 0); scratch 32. */
    void setAuthority(byte[] in, short off, short len, byte[] scratch, short scratchOff) {
        if (len == 0) {
            JCSystem.beginTransaction();
            clearAuthority();
            JCSystem.commitTransaction();
            return;
        }
        if (len != ClosureConstants.AUTHORITY_POINT_LENGTH) {
            ISOException.throwIt(Constants.SW_WRONG_LENGTH);
        }
        if (in[off] != (byte) 0x04) {
            ISOException.throwIt(Constants.SW_WRONG_DATA);
        }
        try {
            authority.setW(in, off, len);
        } catch (CryptoException e) {
            ISOException.throwIt(Constants.SW_WRONG_DATA);
        }
        sha256.reset();
        sha256.doFinal(in, off, len, scratch, scratchOff);
        JCSystem.beginTransaction();
        Util.arrayCopy(in, off, authorityPoint, (short) 0, len);
        Util.arrayCopy(scratch, scratchOff, authorityHash, (short) 0, ClosureConstants.AUTHOR_LENGTH);
        authorityInstalled = true;
        JCSystem.commitTransaction();
    }

    /** Inside the caller's transaction (AUTHORITY SET without a point, CLEAR). */
    void clearAuthority() {
        authorityInstalled = false;
        Wipe.zero(authorityHash, (short) 0, ClosureConstants.AUTHOR_LENGTH);
        Wipe.zero(authorityPoint, (short) 0, ClosureConstants.AUTHORITY_POINT_LENGTH);
    }

    short getAuthority(byte[] out, short outOff) {
        if (!authorityInstalled) {
            ISOException.throwIt(Constants.SW_NOT_FOUND);
        }
        Util.arrayCopyNonAtomic(authorityPoint, (short) 0, out, outOff, ClosureConstants.AUTHORITY_POINT_LENGTH);
        return ClosureConstants.AUTHORITY_POINT_LENGTH;
    }

    /** Signed, and its author is the authority registered now. */
    boolean trusted(short slot) {
        short h = headerOffset(slot);
        return authorityInstalled && (headers[(short) (h + ClosureConstants.H_FLAGS)] & ClosureConstants.FLAG_SIGNED) != 0
                && Util.arrayCompare(headers, (short) (h + ClosureConstants.H_AUTHOR), authorityHash, (short) 0,
                        ClosureConstants.AUTHOR_LENGTH) == 0;
    }

    // --- Slots -------------------------------------------------------------------------------

    static short headerOffset(short slot) {
        return (short) (slot * H);
    }

    static short codeOffset(short slot) {
        return (short) (slot * ClosureConstants.MAX_CODE);
    }

    boolean inUse(short slot) {
        return inUse[slot];
    }

    /** The slot holding the closure named in[off..off+8), or -1. */
    short find(byte[] in, short off) {
        for (short i = 0; i < ClosureConstants.CLOSURE_SLOTS; i++) {
            if (inUse[i] && Util.arrayCompare(headers, headerOffset(i), in, off, ClosureConstants.NAME_LENGTH) == 0) {
                return i;
            }
        }
        return -1;
    }

    /**
     * LOAD of an opened image (header at in[header], code at in[codeOff]) into a free slot, whose
     * code, store and id are all zero (REMOVE leaves them so): code, header, id and the in-use mark
     * in one transaction. Returns the slot.
     */
    short load(byte[] in, short header, short codeOff, byte[] scratch, short scratchOff) {
        if (find(in, header) >= 0) {
            ISOException.throwIt(Constants.SW_ALREADY_EXISTS);
        }
        short slot = -1;
        for (short i = 0; i < ClosureConstants.CLOSURE_SLOTS && slot < 0; i++) {
            if (!inUse[i]) {
                slot = i;
            }
        }
        if (slot < 0) {
            ISOException.throwIt(Constants.SW_NOT_ENOUGH_MEMORY);
        }
        short codeLength = Util.getShort(in, (short) (header + ClosureConstants.H_CODE));
        imageId(in, header, in, codeOff, scratch, scratchOff, scratch, scratchOff);
        JCSystem.beginTransaction();
        Util.arrayCopy(in, codeOff, code, codeOffset(slot), codeLength);
        Util.arrayCopy(in, header, headers, headerOffset(slot), H);
        Util.arrayCopy(scratch, scratchOff, imageIds, (short) (slot * ClosureConstants.IMAGE_ID_LENGTH),
                ClosureConstants.IMAGE_ID_LENGTH);
        inUse[slot] = true;
        JCSystem.commitTransaction();
        return slot;
    }

    /** REMOVE: in one transaction the slot free and its code, header, id and store zero (journaled). */
    void remove(short slot, ClosureStore store) {
        JCSystem.beginTransaction();
        inUse[slot] = false;
        store.erase(slot);
        Wipe.zero(code, codeOffset(slot), ClosureConstants.MAX_CODE);
        Wipe.zero(headers, headerOffset(slot), H);
        Wipe.zero(imageIds, (short) (slot * ClosureConstants.IMAGE_ID_LENGTH), ClosureConstants.IMAGE_ID_LENGTH);
        JCSystem.commitTransaction();
    }

    /** LIST entry of a slot at out[o]: name 8, version 2, flags 1, trusted 1, quota 2, used 2, code length 2, id 8. */
    short describe(short slot, ClosureStore store, byte[] out, short o) {
        short h = headerOffset(slot);
        o = Util.arrayCopyNonAtomic(headers, h, out, o, (short) 11);  // name, version, flags
        out[o++] = trusted(slot) ? (byte) 1 : (byte) 0;
        o = Util.setShort(out, o, Util.getShort(headers, (short) (h + ClosureConstants.H_STORE)));
        o = Util.setShort(out, o, store.used(slot));
        o = Util.setShort(out, o, Util.getShort(headers, (short) (h + ClosureConstants.H_CODE)));
        return Util.arrayCopyNonAtomic(imageIds, (short) (slot * ClosureConstants.IMAGE_ID_LENGTH), out, o,
                ClosureConstants.IMAGE_ID_LENGTH);
    }

    private static boolean isZero(byte[] a, short off, short len) {
        byte acc = 0;
        for (short i = 0; i < len; i++) {
            acc |= a[(short) (off + i)];
        }
        return acc == 0;
    }
}
