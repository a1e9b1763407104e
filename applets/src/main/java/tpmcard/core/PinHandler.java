package tpmcard.core;

import javacard.framework.ISO7816;
import javacard.framework.ISOException;
import javacard.framework.Util;
import javacard.security.AESKey;
import javacard.security.ECPrivateKey;
import javacard.security.KeyAgreement;
import javacard.security.MessageDigest;
import javacard.security.RandomData;
import javacard.security.Signature;
import javacardx.crypto.Cipher;
import tpmcard.lib.ConstantTime;

/**
 * The PIN half of the binding (docs/binding.md "PIN cryptogram"): GET CHALLENGE, VERIFY without
 * data, CHANGE REFERENCE DATA, RESET RETRY COUNTER, and the PIN cryptogram that PAIR, UNPAIR and
 * PUT DATA end with. The PIN never travels in clear: the host encrypts it to the card identity
 * with a fresh ephemeral and the card's one-command challenge. Work area: NEED_PIN bytes
 * (BindingTransients).
 */
final class PinHandler {
    private static final short POINT_LENGTH = Constants.EC_POINT_LENGTH;
    private static final short KC_LENGTH = Constants.CRYPTOGRAM_LENGTH;

    private final BindingTransients t;
    private final PinStore pins;
    private final ECPrivateKey identityPrivate;
    private final byte[] identityPoint;
    private final MessageDigest sha256;
    private final KeyAgreement keyAgreement;
    private final Cipher cbc;
    private final AESKey symmetricKey;
    private final RandomData random;
    private final Kdf kdf;
    private final SecureChannel channel;

    PinHandler(BindingTransients t, PinStore pins, ECPrivateKey identityPrivate, byte[] identityPoint,
               MessageDigest sha256, KeyAgreement keyAgreement, Cipher cbc, AESKey symmetricKey,
               RandomData random, Kdf kdf, SecureChannel channel) {
        this.t = t;
        this.pins = pins;
        this.identityPrivate = identityPrivate;
        this.identityPoint = identityPoint;
        this.sha256 = sha256;
        this.keyAgreement = keyAgreement;
        this.cbc = cbc;
        this.symmetricKey = symmetricKey;
        this.random = random;
        this.kdf = kdf;
        this.channel = channel;
    }

    boolean personalised() {
        return pins.personalised();
    }

    // ---------------------------------------------------------------------------------------
    // The challenge: in the carry, valid for the next command only.

    void dropChallenge() {
        if (t.vars[BindingTransients.V_CHALLENGE] != BindingTransients.AGE_NONE) {
            t.wipeCarry();  // the carry is the challenge's only while its age says so
        }
        t.vars[BindingTransients.V_CHALLENGE] = BindingTransients.AGE_NONE;
    }

    boolean challengeUsable() {
        return t.vars[BindingTransients.V_CHALLENGE] == BindingTransients.AGE_USABLE;
    }

    /** The challenge is carry[0..CHALLENGE_LENGTH) while {@link #challengeUsable}. */
    byte[] challenge() {
        return t.carry;
    }

    /** GET CHALLENGE (CLA 00): 32 random bytes, valid for the next command only. Drops a pending handshake. */
    short getChallenge(short inLength, byte p1, byte p2, byte[] out, short outOffset,
                       HandshakeHandler handshake) {
        if (p1 != 0 || p2 != 0) {
            ISOException.throwIt(ISO7816.SW_INCORRECT_P1P2);
        }
        if (inLength != 0) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
        handshake.dropHandshake();  // the carry becomes the challenge's
        random.generateData(t.carry, (short) 0, Constants.CHALLENGE_LENGTH);
        t.vars[BindingTransients.V_CHALLENGE] = BindingTransients.AGE_ISSUED;
        Util.arrayCopyNonAtomic(t.carry, (short) 0, out, outOffset, Constants.CHALLENGE_LENGTH);
        return Constants.CHALLENGE_LENGTH;
    }

    /** VERIFY (CLA 00) without data: 63Cx (x tries left) or 6983; the PIN never travels in clear. */
    short verifyStatus(short inLength, byte p1, byte p2) {
        checkReference(p1, p2);
        if (inLength != 0) {
            ISOException.throwIt(ISO7816.SW_WRONG_DATA);
        }
        byte left = pins.triesRemaining(p2);
        ISOException.throwIt(left == 0 ? Constants.SW_AUTHENTICATION_METHOD_BLOCKED
                : (short) (Constants.SW_VERIFY_FAILED | left));
        return 0;
    }

    static void checkReference(byte p1, byte p2) {
        if (p1 != 0 || (p2 != Constants.P2_PIN && p2 != Constants.P2_PUK)) {
            ISOException.throwIt(ISO7816.SW_INCORRECT_P1P2);
        }
    }

    /**
     * Opens the PIN cryptogram that ends a command: C9 (host ephemeral point), CA (ciphertext ||
     * CMAC), docs/binding.md "PIN cryptogram". The context is in[contextStart..contextEnd).
     * Leaves the secret fields in the work area (offsets in vars) and the receipt key at KEYS + 32.
     * 6982 when there is no fresh challenge or the cryptogram does not verify (no try is used);
     * 6A80 when it verifies but its content is malformed.
     */
    void openPinCryptogram(byte ins, byte p1, byte p2, byte[] in, short contextStart, short contextEnd,
                           short end, short fields) {
        short ephemeralOffset = t.expect(in, contextEnd, end, Constants.TAG_HOST_EPHEMERAL, POINT_LENGTH,
                ISO7816.SW_WRONG_DATA);
        short cryptogram = t.expect(in, (short) (ephemeralOffset + POINT_LENGTH), end,
                Constants.TAG_PIN_CRYPTOGRAM, ISO7816.SW_WRONG_DATA);
        short length = t.tlvLength();
        if ((short) (cryptogram + length) != end) {
            ISOException.throwIt(ISO7816.SW_WRONG_DATA);
        }
        if (!challengeUsable() || length < 32 || length > 64 || (length & 15) != 0) {
            ISOException.throwIt(Constants.SW_SECURITY_STATUS_NOT_SATISFIED);
        }
        byte[] work = t.work;
        t.useWork();
        try {
            keyAgreement.init(identityPrivate);
            keyAgreement.generateSecret(in, ephemeralOffset, POINT_LENGTH, work, t.z);
        } catch (RuntimeException e) {  // not a point on P-256 (jCardSim throws IllegalArgumentException)
            ISOException.throwIt(Constants.SW_SECURITY_STATUS_NOT_SATISFIED);
        }
        // SharedInfo = label || challenge || INS P1 P2 || ephemeral || identity || SHA-256(context)
        short p = Util.arrayCopyNonAtomic(Constants.LABEL_PIN, (short) 0, work, t.info,
                (short) Constants.LABEL_PIN.length);
        p = Util.arrayCopyNonAtomic(t.carry, (short) 0, work, p, Constants.CHALLENGE_LENGTH);
        work[p++] = ins;
        work[p++] = p1;
        work[p++] = p2;
        p = Util.arrayCopyNonAtomic(in, ephemeralOffset, work, p, POINT_LENGTH);
        p = Util.arrayCopyNonAtomic(identityPoint, (short) 0, work, p, POINT_LENGTH);
        sha256.reset();
        sha256.doFinal(in, contextStart, (short) (contextEnd - contextStart), work, p);
        p += Constants.DIGEST_LENGTH;
        dropChallenge();  // used once, whatever happens next
        kdf.derive(work, t.z, (short) 32, work, t.info, (short) (p - t.info), work, t.keys, (short) 48);
        Util.arrayFillNonAtomic(work, t.z, (short) 32, (byte) 0);

        short cipherLength = (short) (length - KC_LENGTH);
        symmetricKey.setKey(work, (short) (t.keys + 16));
        Signature cmac = channel.lendCommandMac();
        cmac.init(symmetricKey, Signature.MODE_SIGN);
        cmac.sign(in, cryptogram, cipherLength, work, t.mac);
        if (!ConstantTime.equals(work, t.mac, in, (short) (cryptogram + cipherLength), KC_LENGTH)) {
            ISOException.throwIt(Constants.SW_SECURITY_STATUS_NOT_SATISFIED);
        }
        symmetricKey.setKey(work, t.keys);
        Util.arrayFillNonAtomic(work, t.small, (short) 16, (byte) 0);
        cbc.init(symmetricKey, Cipher.MODE_DECRYPT, work, t.small, (short) 16);
        cbc.doFinal(in, cryptogram, cipherLength, work, t.pin);
        symmetricKey.clearKey();
        Util.arrayFillNonAtomic(work, t.keys, (short) 32, (byte) 0);

        // The block: len1 || secret1 [|| len2 || secret2] || 80 00..
        short q = t.pin;
        short blockEnd = (short) (t.pin + cipherLength);
        for (short i = 0; i < fields; i++) {
            short n = (short) (work[q] & 0xFF);
            if (n < 1 || n > Constants.PIN_MAX_LENGTH || (short) (blockEnd - q) < (short) (n + 2)) {
                ISOException.throwIt(ISO7816.SW_WRONG_DATA);
            }
            t.vars[(short) (BindingTransients.V_FIELD1_OFFSET + 2 * i)] = (short) (q + 1);
            t.vars[(short) (BindingTransients.V_FIELD1_LENGTH + 2 * i)] = n;
            q += (short) (n + 1);
        }
        if (work[q] != (byte) 0x80 || (short) (blockEnd - q) > 16
                || !ConstantTime.isZero(work, (short) (q + 1), (short) (blockEnd - q - 1))) {
            ISOException.throwIt(ISO7816.SW_WRONG_DATA);
        }
    }

    /** Checks secret field 0 or 1 of the opened cryptogram against the PIN or the PUK (63Cx, 6983). */
    void checkSecret(byte reference, short field) {
        pins.check(reference, t.work, t.vars[(short) (BindingTransients.V_FIELD1_OFFSET + 2 * field)],
                (byte) t.vars[(short) (BindingTransients.V_FIELD1_LENGTH + 2 * field)]);
    }

    /** Wipes the decrypted PIN block as soon as the secrets are checked and used. */
    void wipeSecrets() {
        Util.arrayFillNonAtomic(t.work, t.pin, (short) 48, (byte) 0);
    }

    /** Appends CD 10 || CMAC(receipt key, out[outOffset..outOffset+prefixLength)). */
    short writeReceipt(byte[] out, short outOffset, short prefixLength) {
        short p = (short) (outOffset + prefixLength);
        out[p++] = Constants.TAG_CARD_CRYPTOGRAM;
        out[p++] = (byte) KC_LENGTH;
        symmetricKey.setKey(t.work, (short) (t.keys + 32));
        Signature cmac = channel.lendCommandMac();
        cmac.init(symmetricKey, Signature.MODE_SIGN);
        cmac.sign(out, outOffset, prefixLength, out, p);
        symmetricKey.clearKey();
        Util.arrayFillNonAtomic(t.work, t.keys, (short) 48, (byte) 0);
        return (short) (prefixLength + 2 + KC_LENGTH);
    }

    /** CHANGE REFERENCE DATA (CLA 80, P2 80 PIN / 81 PUK): encrypted old || new value. */
    short changeReferenceData(byte[] in, short inOffset, short inLength, byte p1, byte p2,
                              byte[] out, short outOffset) {
        checkReference(p1, p2);
        openPinCryptogram(Constants.INS_CHANGE_REFERENCE_DATA, p1, p2, in, inOffset, inOffset,
                (short) (inOffset + inLength), (short) 2);
        short minimum = p2 == Constants.P2_PIN ? Constants.PIN_MIN_LENGTH : Constants.PUK_MIN_LENGTH;
        if (t.vars[BindingTransients.V_FIELD2_LENGTH] < minimum) {
            ISOException.throwIt(ISO7816.SW_WRONG_DATA);
        }
        checkSecret(p2, (short) 0);
        pins.update(p2, t.work, t.vars[BindingTransients.V_FIELD2_OFFSET],
                (byte) t.vars[BindingTransients.V_FIELD2_LENGTH]);
        return writeReceipt(out, outOffset, (short) 0);
    }

    /** RESET RETRY COUNTER (CLA 80, P2 80): encrypted PUK || new PIN; unblocks the PIN. */
    short resetRetryCounter(byte[] in, short inOffset, short inLength, byte p1, byte p2,
                            byte[] out, short outOffset) {
        if (p1 != 0 || p2 != Constants.P2_PIN) {
            ISOException.throwIt(ISO7816.SW_INCORRECT_P1P2);
        }
        openPinCryptogram(Constants.INS_RESET_RETRY_COUNTER, p1, p2, in, inOffset, inOffset,
                (short) (inOffset + inLength), (short) 2);
        if (t.vars[BindingTransients.V_FIELD2_LENGTH] < Constants.PIN_MIN_LENGTH) {
            ISOException.throwIt(ISO7816.SW_WRONG_DATA);
        }
        checkSecret(Constants.P2_PUK, (short) 0);
        pins.resetPin(t.work, t.vars[BindingTransients.V_FIELD2_OFFSET],
                (byte) t.vars[BindingTransients.V_FIELD2_LENGTH]);
        return writeReceipt(out, outOffset, (short) 0);
    }
}
