package tpmcard.core;

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
import javacard.security.RandomData;
import javacard.security.Signature;
import javacardx.crypto.Cipher;
import tpmcard.lib.AesCmac;
import tpmcard.lib.Identity;
import tpmcard.lib.P256;
import tpmcard.lib.ConstantTime;

/**
 * The card side of the TPM-card binding (docs/binding.md): PIN management, pairing, the session
 * handshake and the secure-messaging hooks. CoreApplet.process() only dispatches to it:
 *
 * <ol>
 * <li>{@link #beginCommand} once per complete command (after command chaining is reassembled,
 *     never for GET RESPONSE): it ages the challenge and the pending handshake and refuses
 *     unprotected commands while a session is open;</li>
 * <li>for a CLA with {@link Constants#CLA_SECURE_MESSAGING}: {@link #unwrapCommand},
 *     dispatch, then {@link #wrapResponse} with the handler's status word;</li>
 * <li>the handlers take (in, inOffset, inLength, p1, p2, out, outOffset), write the response data
 *     to out and return its length; {@code out} must not overlap {@code in}.</li>
 * </ol>
 *
 * Everything is allocated here, once; session state is CLEAR_ON_DESELECT RAM.
 */
public final class BindingHandler {
    // Work buffer layout (CLEAR_ON_RESET, wiped at every deselect).
    private static final short W_Z = 0;             // 96: Z values, pairing secret
    private static final short W_INFO = 96;         // 224: KDF SharedInfo, transcript hashes, scratch
    private static final short W_KEYS = 320;        // 64: PIN keys (enc, mac, receipt)
    private static final short W_PIN = 384;         // 48: decrypted PIN block
    private static final short W_MAC = 432;         // 16: computed MAC
    private static final short W_NAME = 448;        // 34: binding key Name
    private static final short W_POINT = 482;       // 65: binding key point
    private static final short W_POINT2 = 547;      // 65: AK point / card ephemeral point
    private static final short W_SMALL = 612;       // 28: small values
    /** The caller allocates the work buffer (CLEAR_ON_RESET: it is the identity's scratch at install). */
    static final short WORK_LENGTH = 640;

    // Handshake state (CLEAR_ON_DESELECT): th1, card hello cryptogram, key material.
    private static final short H_TH1 = 0;
    private static final short H_HELLO = 32;
    private static final short H_KEYS = 48;         // K-CONF || S-ENC || S-MAC || S-RMAC
    private static final short H_LENGTH = 112;

    // Short variables (CLEAR_ON_DESELECT).
    private static final short V_CHALLENGE = 0;     // AGE_*
    private static final short V_HANDSHAKE = 1;     // AGE_*
    private static final short V_HANDSHAKE_SLOT = 2;
    private static final short V_SECURED = 3;       // 1 while the current command came protected
    private static final short V_TLV_LENGTH = 4;
    private static final short V_FIELD1_OFFSET = 5;
    private static final short V_FIELD1_LENGTH = 6;
    private static final short V_FIELD2_OFFSET = 7;
    private static final short V_FIELD2_LENGTH = 8;
    private static final short V_SESSION_ID = 9;    // the open session's id, 0 without one
    private static final short V_COUNT = 10;

    // A challenge or a handshake is made by one command and usable by the next one only.
    private static final short AGE_NONE = 0;
    private static final short AGE_ISSUED = 1;
    private static final short AGE_USABLE = 2;

    private static final short POINT_LENGTH = 65;
    private static final short KC_LENGTH = Constants.CRYPTOGRAM_LENGTH;
    private static final short LIST_ENTRY_LENGTH = (short) (3 + 2 + Constants.NAME_LENGTH + 5
            + 2 + Constants.DIGEST_LENGTH + 3);

    private final ECPrivateKey identityPrivate;
    private final byte[] identityPoint;
    private final PinStore pins;
    private final Pairings pairings;
    private final SecureChannel channel;
    private final TpmAttest tpm;
    private final Kdf kdf;

    private final MessageDigest sha256;
    private final Signature cmac;
    private final Signature ecdsa;
    private final KeyAgreement keyAgreement;
    /** ALG_EC_SVDP_DH_PLAIN_XY (s.G for the session ephemeral), or null when the card lacks it. */
    private final KeyAgreement multiplier;
    private final Cipher cbc;
    private final RandomData random;
    private final P256 curve;
    /** Only on a card without ALG_EC_SVDP_DH_PLAIN_XY (multiplier null): genKeyPair() instead. */
    private final KeyPair ephemeral;
    private final ECPrivateKey ephemeralPrivate;
    private final boolean ephemeralInRam;
    private final ECPublicKey certifierKey;
    /** The attestation CA key installed at personalisation (PUT DATA); PAIR needs it. */
    private final ECPublicKey caKey;
    private final AESKey symmetricKey;

    private final byte[] work;
    private final byte[] handshake;
    private final byte[] challenge;
    private final byte[] sessionPcrs;
    private final short[] vars;
    /** Persistent: the last session id given out, so ids differ across card resets too. */
    private short lastSessionId;
    /** Persistent: true once caKey holds the attestation CA key (written last, one field). */
    private boolean caKeyInstalled;

    // PCRs 16 (debug) and 23 (application support) can be reset from locality 0 (TCG PC Client
    // Platform Firmware Profile §3.3.4, PCR reset attributes): a policy over them binds nothing.
    private static final byte RESETTABLE_PCRS_BYTE2 = (byte) 0x81;  // bits 16 and 23 of pcrSelect

    /**
     * @param identity the card identity key (ECDH for PIN cryptograms and the pairing; its public
     *        point is hashed into every transcript)
     * @param curve the core's P-256 parameters
     * @param sha256 the core's SHA-256, also used to make the identity
     * @param random the core's key-generation RNG (Identity.keyGenerationRandom), also the identity's
     * @param multiplier Identity.basePointMultiplier(): s.G for each session ephemeral; null when
     *        the card lacks ALG_EC_SVDP_DH_PLAIN_XY (then genKeyPair())
     * @param work CLEAR_ON_RESET RAM of WORK_LENGTH bytes
     * @param pin initial PIN (length 0: Constants.DEFAULT_PIN), likewise puk
     */
    public BindingHandler(Identity identity, P256 curve, MessageDigest sha256, RandomData random,
                          KeyAgreement multiplier, byte[] work,
                          byte[] pin, short pinOffset, byte pinLength,
                          byte[] puk, short pukOffset, byte pukLength) {
        this.identityPrivate = (ECPrivateKey) identity.keyPair().getPrivate();
        this.curve = curve;
        identityPoint = new byte[POINT_LENGTH];
        identity.writePublicPoint(identityPoint, (short) 0);
        if (pinLength == 0) {
            pin = Constants.DEFAULT_PIN;
            pinOffset = 0;
            pinLength = (byte) pin.length;
        }
        if (pukLength == 0) {
            puk = Constants.DEFAULT_PUK;
            pukOffset = 0;
            pukLength = (byte) puk.length;
        }
        if (pinLength < Constants.PIN_MIN_LENGTH || pinLength > Constants.PIN_MAX_LENGTH
                || pukLength < Constants.PUK_MIN_LENGTH || pukLength > Constants.PIN_MAX_LENGTH) {
            CryptoException.throwIt(CryptoException.ILLEGAL_VALUE);
        }
        pins = new PinStore(pin, pinOffset, pinLength, puk, pukOffset, pukLength);
        pairings = new Pairings(curve);

        this.sha256 = sha256;
        cmac = AesCmac.getInstance(false);
        ecdsa = Signature.getInstance(Signature.ALG_ECDSA_SHA_256, false);
        keyAgreement = KeyAgreement.getInstance(KeyAgreement.ALG_EC_SVDP_DH_PLAIN, false);
        cbc = Cipher.getInstance(Cipher.ALG_AES_BLOCK_128_CBC_NOPAD, false);
        Cipher ecb = Cipher.getInstance(Cipher.ALG_AES_BLOCK_128_ECB_NOPAD, false);
        this.random = random;
        this.multiplier = multiplier;
        channel = new SecureChannel(cbc, ecb, AesCmac.getInstance(false),
                AesCmac.getInstance(false));
        tpm = new TpmAttest(sha256);
        kdf = new Kdf(sha256);

        // The card's session ephemeral: in RAM where the card allows it (cleared on deselect),
        // else in persistent memory, cleared with clearKey() as soon as both ECDH are done.
        ECPrivateKey ephemeralKey;
        boolean inRam;
        try {
            ephemeralKey = (ECPrivateKey) KeyBuilder.buildKey(
                    KeyBuilder.TYPE_EC_FP_PRIVATE_TRANSIENT_DESELECT, P256.KEY_LENGTH, false);
            inRam = true;
        } catch (CryptoException e) {
            ephemeralKey = (ECPrivateKey) KeyBuilder.buildKey(KeyBuilder.TYPE_EC_FP_PRIVATE, P256.KEY_LENGTH, false);
            inRam = false;
        }
        ephemeralPrivate = ephemeralKey;
        ephemeralInRam = inRam;
        curve.setDomainParameters(ephemeralPrivate);
        if (multiplier == null) {
            ECPublicKey ephemeralPublic = (ECPublicKey) KeyBuilder.buildKey(
                    KeyBuilder.TYPE_EC_FP_PUBLIC, P256.KEY_LENGTH, false);
            curve.setDomainParameters(ephemeralPublic);
            ephemeral = new KeyPair(ephemeralPublic, ephemeralPrivate);
        } else {
            ephemeral = null;
        }
        certifierKey = (ECPublicKey) KeyBuilder.buildKey(KeyBuilder.TYPE_EC_FP_PUBLIC, P256.KEY_LENGTH, false);
        curve.setDomainParameters(certifierKey);
        caKey = (ECPublicKey) KeyBuilder.buildKey(KeyBuilder.TYPE_EC_FP_PUBLIC, P256.KEY_LENGTH, false);
        curve.setDomainParameters(caKey);
        symmetricKey = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES_TRANSIENT_DESELECT,
                KeyBuilder.LENGTH_AES_128, false);

        if ((short) work.length < WORK_LENGTH) {
            CryptoException.throwIt(CryptoException.ILLEGAL_VALUE);
        }
        this.work = work;
        handshake = JCSystem.makeTransientByteArray(H_LENGTH, JCSystem.CLEAR_ON_DESELECT);
        challenge = JCSystem.makeTransientByteArray(Constants.CHALLENGE_LENGTH, JCSystem.CLEAR_ON_DESELECT);
        sessionPcrs = JCSystem.makeTransientByteArray(
                (short) (Constants.SESSION_PCR_COUNT * Constants.DIGEST_LENGTH),
                JCSystem.CLEAR_ON_DESELECT);
        vars = JCSystem.makeTransientShortArray(V_COUNT, JCSystem.CLEAR_ON_DESELECT);
    }

    // ---------------------------------------------------------------------------------------
    // Hooks for CoreApplet.process() and deselect().

    /** True for a class byte that announces secure messaging. */
    public static boolean isSecureMessaging(byte cla) {
        return (cla & Constants.CLA_SECURE_MESSAGING) != 0;
    }

    /**
     * Called once per complete command before anything else. Ages the challenge and the pending
     * handshake (each lives for exactly one following command), wipes sensitive scratch, and
     * ends an open session on any unprotected command other than SESSION INIT (6982).
     */
    public void beginCommand(byte cla, byte ins) {
        vars[V_SECURED] = 0;
        if (vars[V_CHALLENGE] == AGE_ISSUED) {
            vars[V_CHALLENGE] = AGE_USABLE;
        } else {
            dropChallenge();
        }
        if (vars[V_HANDSHAKE] == AGE_ISSUED) {
            vars[V_HANDSHAKE] = AGE_USABLE;
        } else {
            dropHandshake();
        }
        Util.arrayFillNonAtomic(work, (short) 0, W_NAME, (byte) 0);
        if (channel.isOpen() && !isSecureMessaging(cla) && ins != Constants.INS_SESSION_INIT) {
            endSession();
            ISOException.throwIt(Constants.SW_SECURITY_STATUS_NOT_SATISFIED);
        }
    }

    /** Checks and decrypts a protected command in place; returns the plaintext length. 6982 on any failure. */
    public short unwrapCommand(byte cla, byte ins, byte p1, byte p2, byte[] buf, short offset, short length) {
        short plain;
        try {
            plain = channel.unwrapCommand(cla, ins, p1, p2, buf, offset, length);
        } catch (ISOException e) {
            endSession();
            throw e;
        }
        vars[V_SECURED] = 1;
        return plain;
    }

    /** Protects the response (data at buf[offset..offset+length) and the handler's sw) in place. */
    public short wrapResponse(byte[] buf, short offset, short length, short sw) {
        short wrapped = channel.wrapResponse(buf, offset, length, sw);
        if (!channel.isOpen()) {
            endSession();
        }
        return wrapped;
    }

    /** From Applet.deselect(): forget every session secret now rather than at the next select. */
    public void deselect() {
        endSession();
        dropHandshake();
        dropChallenge();
        Util.arrayFillNonAtomic(work, (short) 0, WORK_LENGTH, (byte) 0);
    }

    /**
     * Ends the session now: for a failure of the secure-messaging layer that happens outside
     * {@link #unwrapCommand} (a protected command too long to reassemble, a fault while wrapping).
     * The caller answers the uniform 6982.
     */
    public void closeSession() {
        endSession();
    }

    public boolean isSessionOpen() {
        return channel.isOpen();
    }

    /** Copies host PCR index (0..8) as quoted at session opening; 6982 without a session. */
    public short sessionPcr(short index, byte[] out, short offset) {
        if (!channel.isOpen() || index < 0 || index >= Constants.SESSION_PCR_COUNT) {
            ISOException.throwIt(Constants.SW_SECURITY_STATUS_NOT_SATISFIED);
        }
        return Util.arrayCopyNonAtomic(sessionPcrs, (short) (index * Constants.DIGEST_LENGTH), out, offset,
                Constants.DIGEST_LENGTH);
    }

    /**
     * The open session's id for the suite services (SuiteService.invoke): it changes with every
     * session, across card resets too, and is never 0; 0 means no session is open.
     */
    public short sessionId() {
        return channel.isOpen() ? vars[V_SESSION_ID] : 0;
    }

    /**
     * The host PCRs 0..8 of the open session as quoted and verified in its handshake
     * (SESSION_PCR_COUNT * DIGEST_LENGTH bytes at offset 0; zeros without a session). The array
     * itself, so INVOKE passes it to a service without a copy; callers only read it.
     */
    byte[] sessionPcrs() {
        return sessionPcrs;
    }

    private void endSession() {
        channel.close();
        vars[V_SESSION_ID] = 0;
        Util.arrayFillNonAtomic(sessionPcrs, (short) 0, (short) sessionPcrs.length, (byte) 0);
    }

    private void dropChallenge() {
        vars[V_CHALLENGE] = AGE_NONE;
        Util.arrayFillNonAtomic(challenge, (short) 0, Constants.CHALLENGE_LENGTH, (byte) 0);
    }

    private void dropHandshake() {
        vars[V_HANDSHAKE] = AGE_NONE;
        Util.arrayFillNonAtomic(handshake, (short) 0, H_LENGTH, (byte) 0);
        symmetricKey.clearKey();
    }

    // ---------------------------------------------------------------------------------------
    // TLV (fixed order, one tag byte, BER length up to 82 xx xx).

    private short expect(byte[] buf, short position, short end, byte tag, short sw) {
        if ((short) (end - position) < 2 || buf[position] != tag) {
            ISOException.throwIt(sw);
        }
        short length = (short) (buf[(short) (position + 1)] & 0xFF);
        position += 2;
        if (length == 0x81) {
            if ((short) (end - position) < 1) {
                ISOException.throwIt(sw);
            }
            length = (short) (buf[position++] & 0xFF);
        } else if (length == 0x82) {
            if ((short) (end - position) < 2) {
                ISOException.throwIt(sw);
            }
            length = Util.getShort(buf, position);
            position += 2;
        } else if (length > 0x7F) {
            ISOException.throwIt(sw);
        }
        if (length < 0 || (short) (end - position) < length) {
            ISOException.throwIt(sw);
        }
        vars[V_TLV_LENGTH] = length;
        return position;
    }

    private short expect(byte[] buf, short position, short end, byte tag, short length, short sw) {
        short value = expect(buf, position, end, tag, sw);
        if (vars[V_TLV_LENGTH] != length) {
            ISOException.throwIt(sw);
        }
        return value;
    }

    private short tlvLength() {
        return vars[V_TLV_LENGTH];
    }

    // ---------------------------------------------------------------------------------------
    // Challenge and PIN cryptograms.

    /** GET CHALLENGE (CLA 00): 32 random bytes, valid for the next command only. */
    public short getChallenge(byte[] in, short inOffset, short inLength, byte p1, byte p2, byte[] out, short outOffset) {
        if (p1 != 0 || p2 != 0) {
            ISOException.throwIt(ISO7816.SW_INCORRECT_P1P2);
        }
        if (inLength != 0) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
        random.generateData(challenge, (short) 0, Constants.CHALLENGE_LENGTH);
        vars[V_CHALLENGE] = AGE_ISSUED;
        Util.arrayCopyNonAtomic(challenge, (short) 0, out, outOffset, Constants.CHALLENGE_LENGTH);
        return Constants.CHALLENGE_LENGTH;
    }

    /** VERIFY (CLA 00) without data: 63Cx (x tries left) or 6983; the PIN never travels in clear. */
    public short verifyStatus(byte[] in, short inOffset, short inLength, byte p1, byte p2, byte[] out, short outOffset) {
        checkReference(p1, p2);
        if (inLength != 0) {
            ISOException.throwIt(ISO7816.SW_WRONG_DATA);
        }
        byte left = pins.triesRemaining(p2);
        ISOException.throwIt(left == 0 ? Constants.SW_AUTHENTICATION_METHOD_BLOCKED
                : (short) (Constants.SW_VERIFY_FAILED | left));
        return 0;
    }

    private static void checkReference(byte p1, byte p2) {
        if (p1 != 0 || (p2 != Constants.P2_PIN && p2 != Constants.P2_PUK)) {
            ISOException.throwIt(ISO7816.SW_INCORRECT_P1P2);
        }
    }

    private boolean challengeUsable() {
        return vars[V_CHALLENGE] == AGE_USABLE;
    }

    /**
     * Opens the PIN cryptogram that ends a command: C9 (host ephemeral point), CA (ciphertext ||
     * CMAC), docs/binding.md "PIN cryptogram". The context is in[contextStart..contextEnd).
     * Leaves the secret fields in work (offsets in vars) and the receipt key at W_KEYS + 32.
     * 6982 when there is no fresh challenge or the cryptogram does not verify (no try is used);
     * 6A80 when it verifies but its content is malformed.
     */
    private void openPinCryptogram(byte ins, byte p1, byte p2, byte[] in, short contextStart, short contextEnd,
                                   short end, short fields) {
        short ephemeralOffset = expect(in, contextEnd, end, Constants.TAG_HOST_EPHEMERAL, POINT_LENGTH,
                ISO7816.SW_WRONG_DATA);
        short cryptogram = expect(in, (short) (ephemeralOffset + POINT_LENGTH), end,
                Constants.TAG_PIN_CRYPTOGRAM, ISO7816.SW_WRONG_DATA);
        short length = tlvLength();
        if ((short) (cryptogram + length) != end) {
            ISOException.throwIt(ISO7816.SW_WRONG_DATA);
        }
        if (!challengeUsable() || length < 32 || length > 64 || (length & 15) != 0) {
            ISOException.throwIt(Constants.SW_SECURITY_STATUS_NOT_SATISFIED);
        }
        try {
            keyAgreement.init(identityPrivate);
            keyAgreement.generateSecret(in, ephemeralOffset, POINT_LENGTH, work, W_Z);
        } catch (RuntimeException e) {  // not a point on P-256 (jCardSim throws IllegalArgumentException)
            ISOException.throwIt(Constants.SW_SECURITY_STATUS_NOT_SATISFIED);
        }
        // SharedInfo = label || challenge || INS P1 P2 || ephemeral || identity || SHA-256(context)
        short p = Util.arrayCopyNonAtomic(Constants.LABEL_PIN, (short) 0, work, W_INFO,
                (short) Constants.LABEL_PIN.length);
        p = Util.arrayCopyNonAtomic(challenge, (short) 0, work, p, Constants.CHALLENGE_LENGTH);
        work[p++] = ins;
        work[p++] = p1;
        work[p++] = p2;
        p = Util.arrayCopyNonAtomic(in, ephemeralOffset, work, p, POINT_LENGTH);
        p = Util.arrayCopyNonAtomic(identityPoint, (short) 0, work, p, POINT_LENGTH);
        sha256.reset();
        sha256.doFinal(in, contextStart, (short) (contextEnd - contextStart), work, p);
        p += Constants.DIGEST_LENGTH;
        dropChallenge();  // used once, whatever happens next
        kdf.derive(work, W_Z, (short) 32, work, W_INFO, (short) (p - W_INFO), work, W_KEYS, (short) 48);
        Util.arrayFillNonAtomic(work, W_Z, (short) 32, (byte) 0);

        short cipherLength = (short) (length - KC_LENGTH);
        symmetricKey.setKey(work, (short) (W_KEYS + 16));
        cmac.init(symmetricKey, Signature.MODE_SIGN);
        cmac.sign(in, cryptogram, cipherLength, work, W_MAC);
        if (!ConstantTime.equals(work, W_MAC, in, (short) (cryptogram + cipherLength), KC_LENGTH)) {
            ISOException.throwIt(Constants.SW_SECURITY_STATUS_NOT_SATISFIED);
        }
        symmetricKey.setKey(work, W_KEYS);
        Util.arrayFillNonAtomic(work, W_SMALL, (short) 16, (byte) 0);
        cbc.init(symmetricKey, Cipher.MODE_DECRYPT, work, W_SMALL, (short) 16);
        cbc.doFinal(in, cryptogram, cipherLength, work, W_PIN);
        symmetricKey.clearKey();
        Util.arrayFillNonAtomic(work, W_KEYS, (short) 32, (byte) 0);

        // The block: len1 || secret1 [|| len2 || secret2] || 80 00..
        short q = W_PIN;
        short blockEnd = (short) (W_PIN + cipherLength);
        for (short i = 0; i < fields; i++) {
            short n = (short) (work[q] & 0xFF);
            if (n < 1 || n > Constants.PIN_MAX_LENGTH || (short) (blockEnd - q) < (short) (n + 2)) {
                ISOException.throwIt(ISO7816.SW_WRONG_DATA);
            }
            vars[(short) (V_FIELD1_OFFSET + 2 * i)] = (short) (q + 1);
            vars[(short) (V_FIELD1_LENGTH + 2 * i)] = n;
            q += (short) (n + 1);
        }
        if (work[q] != (byte) 0x80 || (short) (blockEnd - q) > 16
                || !ConstantTime.isZero(work, (short) (q + 1), (short) (blockEnd - q - 1))) {
            ISOException.throwIt(ISO7816.SW_WRONG_DATA);
        }
    }

    private void checkSecret(byte reference, short field) {
        pins.check(reference, work, vars[(short) (V_FIELD1_OFFSET + 2 * field)],
                (byte) vars[(short) (V_FIELD1_LENGTH + 2 * field)]);
    }

    /** Appends CD 10 || CMAC(receipt key, out[outOffset..outOffset+prefixLength)). */
    private short writeReceipt(byte[] out, short outOffset, short prefixLength) {
        short p = (short) (outOffset + prefixLength);
        out[p++] = Constants.TAG_CARD_CRYPTOGRAM;
        out[p++] = (byte) KC_LENGTH;
        symmetricKey.setKey(work, (short) (W_KEYS + 32));
        cmac.init(symmetricKey, Signature.MODE_SIGN);
        cmac.sign(out, outOffset, prefixLength, out, p);
        symmetricKey.clearKey();
        Util.arrayFillNonAtomic(work, W_KEYS, (short) 48, (byte) 0);
        return (short) (prefixLength + 2 + KC_LENGTH);
    }

    /** CHANGE REFERENCE DATA (CLA 80, P2 80 PIN / 81 PUK): encrypted old || new value. */
    public short changeReferenceData(byte[] in, short inOffset, short inLength, byte p1, byte p2,
                                     byte[] out, short outOffset) {
        checkReference(p1, p2);
        openPinCryptogram(Constants.INS_CHANGE_REFERENCE_DATA, p1, p2, in, inOffset, inOffset,
                (short) (inOffset + inLength), (short) 2);
        short minimum = p2 == Constants.P2_PIN ? Constants.PIN_MIN_LENGTH : Constants.PUK_MIN_LENGTH;
        if (vars[V_FIELD2_LENGTH] < minimum) {
            ISOException.throwIt(ISO7816.SW_WRONG_DATA);
        }
        checkSecret(p2, (short) 0);
        pins.update(p2, work, vars[V_FIELD2_OFFSET], (byte) vars[V_FIELD2_LENGTH]);
        return writeReceipt(out, outOffset, (short) 0);
    }

    /** RESET RETRY COUNTER (CLA 80, P2 80): encrypted PUK || new PIN; unblocks the PIN. */
    public short resetRetryCounter(byte[] in, short inOffset, short inLength, byte p1, byte p2,
                                   byte[] out, short outOffset) {
        if (p1 != 0 || p2 != Constants.P2_PIN) {
            ISOException.throwIt(ISO7816.SW_INCORRECT_P1P2);
        }
        openPinCryptogram(Constants.INS_RESET_RETRY_COUNTER, p1, p2, in, inOffset, inOffset,
                (short) (inOffset + inLength), (short) 2);
        if (vars[V_FIELD2_LENGTH] < Constants.PIN_MIN_LENGTH) {
            ISOException.throwIt(ISO7816.SW_WRONG_DATA);
        }
        checkSecret(Constants.P2_PUK, (short) 0);
        pins.resetPin(work, vars[V_FIELD2_OFFSET], (byte) vars[V_FIELD2_LENGTH]);
        return writeReceipt(out, outOffset, (short) 0);
    }

    // ---------------------------------------------------------------------------------------
    // Personalisation: the attestation CA key.

    /**
     * PUT DATA (CLA 80, P2 80 PIN / 81 PUK): D4 CA point | C9 | CA with the PIN or the PUK.
     * Installs the attestation CA key that PAIR checks AK certificates against. With the PIN
     * only while no key is installed (else 6985, before the PIN: no try used); the PUK installs
     * or replaces. Existing pairings are kept (they were checked when they were made). Answers
     * CD receipt.
     */
    public short putData(byte[] in, short inOffset, short inLength, byte p1, byte p2, byte[] out, short outOffset) {
        checkReference(p1, p2);
        short end = (short) (inOffset + inLength);
        short point = expect(in, inOffset, end, Constants.TAG_CA_KEY, POINT_LENGTH, ISO7816.SW_WRONG_DATA);
        if (in[point] != (byte) 0x04) {
            ISOException.throwIt(ISO7816.SW_WRONG_DATA);
        }
        try {  // a point the key object refuses is refused here, before the PIN and the old key
            certifierKey.setW(in, point, POINT_LENGTH);
        } catch (CryptoException e) {
            ISOException.throwIt(ISO7816.SW_WRONG_DATA);
        }
        if (p2 == Constants.P2_PIN && caKeyInstalled) {
            ISOException.throwIt(Constants.SW_CA_KEY_PRESENT);
        }
        openPinCryptogram(Constants.INS_PUT_DATA, p1, p2, in, inOffset, (short) (point + POINT_LENGTH), end,
                (short) 1);
        checkSecret(p2, (short) 0);
        // The flag is one field, written last: a torn update leaves no key rather than half a key.
        caKeyInstalled = false;
        caKey.setW(in, point, POINT_LENGTH);
        caKeyInstalled = true;
        return writeReceipt(out, outOffset, (short) 0);
    }

    /**
     * Checks the AK certificate value in[value..value+length) (docs/binding.md "AK certificate")
     * against the AK whose TPMT_PUBLIC is in[ak..ak+akLength) and whose point is at work[W_POINT2],
     * then the CA's signature in[signature..) over the whole D1 TLV in[tlv..value+length).
     * Malformed: sw; well-formed but not for this AK or not the installed CA's: 6985.
     */
    private void checkAkCertificate(byte[] in, short tlv, short value, short length, short signature,
                                    short signatureLength, short ak, short akLength, short sw) {
        short end = (short) (value + length);
        short p = expect(in, value, end, Constants.TAG_AKC_VERSION, (short) 1, sw);
        if (in[p] != Constants.AK_CERTIFICATE_VERSION) {
            ISOException.throwIt(sw);
        }
        p = expect(in, (short) (p + 1), end, Constants.TAG_AKC_SERIAL, (short) 8, sw);
        p = expect(in, (short) (p + 8), end, Constants.TAG_AKC_AK_POINT, POINT_LENGTH, sw);
        short certifiedPoint = p;
        p = expect(in, (short) (p + POINT_LENGTH), end, Constants.TAG_AKC_AK_NAME, Constants.NAME_LENGTH, sw);
        short certifiedName = p;
        p = expect(in, (short) (p + Constants.NAME_LENGTH), end, Constants.TAG_AKC_EK_DIGEST,
                Constants.DIGEST_LENGTH, sw);
        p = expect(in, (short) (p + Constants.DIGEST_LENGTH), end, Constants.TAG_AKC_ISSUED_AT, (short) 8, sw);
        p = expect(in, (short) (p + 8), end, Constants.TAG_AKC_NOT_AFTER, (short) 8, sw);
        if ((short) (p + 8) != end) {
            ISOException.throwIt(sw);
        }
        // The card has no clock: validity is the CA's and the host's to check (docs/binding.md §8).
        tpm.computeName(in, ak, akLength, work, W_NAME);
        if (Util.arrayCompare(in, certifiedPoint, work, W_POINT2, POINT_LENGTH) != 0
                || Util.arrayCompare(in, certifiedName, work, W_NAME, Constants.NAME_LENGTH) != 0) {
            ISOException.throwIt(Constants.SW_AK_CERTIFICATE_REFUSED);
        }
        boolean verified;
        try {
            ecdsa.init(caKey, Signature.MODE_VERIFY);
            verified = ecdsa.verify(in, tlv, (short) (end - tlv), in, signature, signatureLength);
        } catch (RuntimeException e) {  // a malformed DER signature (jCardSim throws, cards may too)
            verified = false;
        }
        if (!verified) {
            ISOException.throwIt(Constants.SW_AK_CERTIFICATE_REFUSED);
        }
    }

    // ---------------------------------------------------------------------------------------
    // Pairing table.

    /**
     * PAIR (CLA 80): C1 binding TPMT_PUBLIC | C2 AK TPMT_PUBLIC | C3 selection | C4 pcrDigest |
     * C5 options | C6 TPMS_ATTEST (Certify) | C7 signature | D1 AK certificate | D2 its CA
     * signature | C9 | CA. Answers CE slot | CD receipt. A card whose PIN or PUK is still the
     * factory default refuses first (6984, no try used); no attestation CA key installed: 6A88.
     * Then public checks (6A80; the AK certificate 6985), then the table (6A89, 6A84), then the
     * PIN (6982, 63Cx, 6983), then the AK signature (6A80), then the table is written in one
     * transaction.
     */
    public short pair(byte[] in, short inOffset, short inLength, byte p1, byte p2, byte[] out, short outOffset) {
        if (p1 != 0 || p2 != 0) {
            ISOException.throwIt(ISO7816.SW_INCORRECT_P1P2);
        }
        if (!pins.personalised()) {
            ISOException.throwIt(Constants.SW_PIN_CHANGE_REQUIRED);
        }
        if (!caKeyInstalled) {
            ISOException.throwIt(Constants.SW_CA_KEY_MISSING);
        }
        final short sw = ISO7816.SW_WRONG_DATA;
        short end = (short) (inOffset + inLength);
        short binding = expect(in, inOffset, end, Constants.TAG_BINDING_PUBLIC, sw);
        short bindingLength = tlvLength();
        short ak = expect(in, (short) (binding + bindingLength), end, Constants.TAG_AK_PUBLIC, sw);
        short akLength = tlvLength();
        short selection = expect(in, (short) (ak + akLength), end, Constants.TAG_PCR_SELECTION, (short) 3, sw);
        short pcrDigest = expect(in, (short) (selection + 3), end, Constants.TAG_POLICY_PCR_DIGEST,
                Constants.DIGEST_LENGTH, sw);
        short options = expect(in, (short) (pcrDigest + Constants.DIGEST_LENGTH), end,
                Constants.TAG_POLICY_OPTIONS, (short) 1, sw);
        short attest = expect(in, (short) (options + 1), end, Constants.TAG_ATTEST, sw);
        short attestLength = tlvLength();
        short signature = expect(in, (short) (attest + attestLength), end, Constants.TAG_SIGNATURE, sw);
        short signatureLength = tlvLength();
        short certificateTlv = (short) (signature + signatureLength);
        short certificate = expect(in, certificateTlv, end, Constants.TAG_AK_CERTIFICATE, sw);
        short certificateLength = tlvLength();
        short certificateSignature = expect(in, (short) (certificate + certificateLength), end,
                Constants.TAG_AK_CERTIFICATE_SIGNATURE, sw);
        short certificateSignatureLength = tlvLength();
        short contextEnd = (short) (certificateSignature + certificateSignatureLength);

        byte policyOptions = in[options];
        if ((policyOptions & (byte) ~Constants.POLICY_OPTION_AUTH_VALUE) != 0
                || (in[selection] | in[(short) (selection + 1)] | in[(short) (selection + 2)]) == 0
                || (in[(short) (selection + 2)] & RESETTABLE_PCRS_BYTE2) != 0) {
            ISOException.throwIt(sw);
        }
        tpm.parsePublic(in, ak, akLength, sw);
        tpm.checkAttestationKey(sw);
        tpm.writePoint(in, work, W_POINT2);
        checkAkCertificate(in, certificateTlv, certificate, certificateLength, certificateSignature,
                certificateSignatureLength, ak, akLength, sw);
        tpm.parsePublic(in, binding, bindingLength, sw);
        tpm.checkBindingKey(sw);
        tpm.policyDigest(in, selection, in, pcrDigest, policyOptions, work, W_INFO, work, (short) (W_INFO + 32));
        if (!tpm.authPolicyEquals(in, work, W_INFO)) {
            ISOException.throwIt(sw);
        }
        tpm.writePoint(in, work, W_POINT);
        tpm.computeName(in, binding, bindingLength, work, W_NAME);
        tpm.parseAttest(in, attest, attestLength, sw);
        tpm.checkCertify(in, work, W_NAME, sw);
        if (!challengeUsable()) {
            ISOException.throwIt(Constants.SW_SECURITY_STATUS_NOT_SATISFIED);
        }
        if (!tpm.extraDataEquals(in, challenge, (short) 0, Constants.CHALLENGE_LENGTH)) {
            ISOException.throwIt(sw);
        }
        if (pairings.findName(work, W_NAME) >= 0) {
            ISOException.throwIt(Constants.SW_PAIRING_EXISTS);
        }
        short slot = pairings.findFree();
        if (slot < 0) {
            ISOException.throwIt(Constants.SW_NOT_ENOUGH_MEMORY);
        }

        openPinCryptogram(Constants.INS_PAIR, p1, p2, in, inOffset, contextEnd, end, (short) 1);
        checkSecret(Constants.P2_PIN, (short) 0);
        Util.arrayFillNonAtomic(work, W_PIN, (short) 48, (byte) 0);

        boolean verified = false;
        try {
            certifierKey.setW(work, W_POINT2, POINT_LENGTH);
            ecdsa.init(certifierKey, Signature.MODE_VERIFY);
            verified = ecdsa.verify(in, attest, attestLength, in, signature, signatureLength);
            keyAgreement.init(identityPrivate);
            keyAgreement.generateSecret(work, W_POINT, POINT_LENGTH, work, W_Z);
        } catch (RuntimeException e) {
            verified = false;
        }
        if (!verified) {
            ISOException.throwIt(sw);
        }
        // pairing secret = X9.63(Z_static, label || card identity || binding Name), 32 bytes
        short p = Util.arrayCopyNonAtomic(Constants.LABEL_PAIRING, (short) 0, work, W_INFO,
                (short) Constants.LABEL_PAIRING.length);
        p = Util.arrayCopyNonAtomic(identityPoint, (short) 0, work, p, POINT_LENGTH);
        p = Util.arrayCopyNonAtomic(work, W_NAME, work, p, Constants.NAME_LENGTH);
        kdf.derive(work, W_Z, (short) 32, work, W_INFO, (short) (p - W_INFO), work, (short) (W_Z + 32), (short) 32);
        pairings.store(slot, work, W_NAME, work, W_POINT, work, W_POINT2, in, selection, policyOptions,
                in, pcrDigest, work, (short) (W_Z + 32));
        Util.arrayFillNonAtomic(work, W_Z, (short) 64, (byte) 0);

        out[outOffset] = Constants.TAG_SLOT;
        out[(short) (outOffset + 1)] = 1;
        out[(short) (outOffset + 2)] = (byte) slot;
        return writeReceipt(out, outOffset, (short) 3);
    }

    /** LIST PAIRINGS (CLA 80): D0 slot count, then per used slot E1 { CE | CF | C3 | C4 | C5 }. */
    public short listPairings(byte[] in, short inOffset, short inLength, byte p1, byte p2, byte[] out, short outOffset) {
        if (p1 != 0 || p2 != 0) {
            ISOException.throwIt(ISO7816.SW_INCORRECT_P1P2);
        }
        short p = outOffset;
        out[p++] = Constants.TAG_SLOT_COUNT;
        out[p++] = 1;
        out[p++] = (byte) Constants.PAIRING_SLOTS;
        for (short slot = 0; slot < Constants.PAIRING_SLOTS; slot++) {
            if (!pairings.isUsed(slot)) {
                continue;
            }
            out[p++] = Constants.TAG_PAIRING_ENTRY;
            out[p++] = (byte) LIST_ENTRY_LENGTH;
            out[p++] = Constants.TAG_SLOT;
            out[p++] = 1;
            out[p++] = (byte) slot;
            out[p++] = Constants.TAG_BINDING_NAME;
            out[p++] = (byte) Constants.NAME_LENGTH;
            p = pairings.read(slot, Pairings.OFFSET_NAME, out, p, Constants.NAME_LENGTH);
            out[p++] = Constants.TAG_PCR_SELECTION;
            out[p++] = 3;
            p = pairings.read(slot, Pairings.OFFSET_SELECTION, out, p, (short) 3);
            out[p++] = Constants.TAG_POLICY_PCR_DIGEST;
            out[p++] = (byte) Constants.DIGEST_LENGTH;
            p = pairings.read(slot, Pairings.OFFSET_PCR_DIGEST, out, p, Constants.DIGEST_LENGTH);
            out[p++] = Constants.TAG_POLICY_OPTIONS;
            out[p++] = 1;
            out[p++] = pairings.options(slot);
        }
        return (short) (p - outOffset);
    }

    /** UNPAIR (CLA 80, P1 slot): C9 | CA with the PIN. Answers CD receipt. */
    public short unpair(byte[] in, short inOffset, short inLength, byte p1, byte p2, byte[] out, short outOffset) {
        if (p2 != 0 || !Pairings.isValidSlot(p1)) {
            ISOException.throwIt(ISO7816.SW_INCORRECT_P1P2);
        }
        if (!pairings.isUsed(p1)) {
            ISOException.throwIt(Constants.SW_REFERENCED_DATA_NOT_FOUND);
        }
        openPinCryptogram(Constants.INS_UNPAIR, p1, p2, in, inOffset, inOffset,
                (short) (inOffset + inLength), (short) 1);
        checkSecret(Constants.P2_PIN, (short) 0);
        pairings.remove(p1);
        return writeReceipt(out, outOffset, (short) 0);
    }

    // ---------------------------------------------------------------------------------------
    // Session handshake. Every failure: state dropped, 6982.

    private void handshakeFailed() {
        dropHandshake();
        Util.arrayFillNonAtomic(work, (short) 0, WORK_LENGTH, (byte) 0);
        ISOException.throwIt(Constants.SW_SECURITY_STATUS_NOT_SATISFIED);
    }

    /** CMAC(K-CONF, kind || transcript hash), 16 bytes, to out. */
    private void keyConfirmation(byte kind, byte[] hash, short hashOffset, byte[] out, short outOffset) {
        symmetricKey.setKey(handshake, H_KEYS);
        work[W_SMALL] = kind;
        cmac.init(symmetricKey, Signature.MODE_SIGN);
        cmac.update(work, W_SMALL, (short) 1);
        cmac.sign(hash, hashOffset, Constants.DIGEST_LENGTH, out, outOffset);
    }

    /**
     * SESSION INIT (CLA 80, P1 slot): C9 host ephemeral. Answers CC card ephemeral | CD card
     * key confirmation. Ends any open session.
     */
    public short sessionInit(byte[] in, short inOffset, short inLength, byte p1, byte p2, byte[] out, short outOffset) {
        if (vars[V_SECURED] != 0) {
            ISOException.throwIt(ISO7816.SW_CONDITIONS_NOT_SATISFIED);
        }
        endSession();
        dropHandshake();
        try {
            short slot = p1;
            if (p2 != 0 || !pairings.isUsed(slot)) {
                handshakeFailed();
            }
            short end = (short) (inOffset + inLength);
            short host = expect(in, inOffset, end, Constants.TAG_HOST_EPHEMERAL, POINT_LENGTH,
                    Constants.SW_SECURITY_STATUS_NOT_SATISFIED);
            if ((short) (host + POINT_LENGTH) != end) {
                handshakeFailed();
            }
            // clearKey() after the last session (and, for a RAM key, deselect) cleared the domain
            // parameters with the scalar; set them again.
            curve.setDomainParameters(ephemeralPrivate);
            newEphemeral(work, W_POINT2);
            pairings.read(slot, Pairings.OFFSET_POINT, work, W_POINT, POINT_LENGTH);
            keyAgreement.init(ephemeralPrivate);
            keyAgreement.generateSecret(in, host, POINT_LENGTH, work, W_Z);                // Z_ee
            keyAgreement.generateSecret(work, W_POINT, POINT_LENGTH, work, (short) (W_Z + 32));  // Z_es
            ephemeralPrivate.clearKey();  // forward secrecy: the scalar is not needed any more
            pairings.readSecret(slot, work, (short) (W_Z + 64));

            // th1 = SHA-256(label || slot || card identity || binding Name || eH || eC)
            work[W_SMALL] = (byte) slot;
            sha256.reset();
            sha256.update(Constants.LABEL_TRANSCRIPT, (short) 0, (short) Constants.LABEL_TRANSCRIPT.length);
            sha256.update(work, W_SMALL, (short) 1);
            sha256.update(identityPoint, (short) 0, POINT_LENGTH);
            sha256.update(pairings.records(), Pairings.fieldOffset(slot, Pairings.OFFSET_NAME), Constants.NAME_LENGTH);
            sha256.update(in, host, POINT_LENGTH);
            sha256.doFinal(work, W_POINT2, POINT_LENGTH, handshake, H_TH1);

            short p = Util.arrayCopyNonAtomic(Constants.LABEL_SESSION, (short) 0, work, W_INFO,
                    (short) Constants.LABEL_SESSION.length);
            p = Util.arrayCopyNonAtomic(handshake, H_TH1, work, p, Constants.DIGEST_LENGTH);
            kdf.derive(work, W_Z, (short) 96, work, W_INFO, (short) (p - W_INFO), handshake, H_KEYS, (short) 64);
            Util.arrayFillNonAtomic(work, W_Z, (short) 96, (byte) 0);
            keyConfirmation(Constants.KC_CARD_HELLO, handshake, H_TH1, handshake, H_HELLO);
            vars[V_HANDSHAKE_SLOT] = slot;
            vars[V_HANDSHAKE] = AGE_ISSUED;

            p = outOffset;
            out[p++] = Constants.TAG_CARD_EPHEMERAL;
            out[p++] = (byte) POINT_LENGTH;
            p = Util.arrayCopyNonAtomic(work, W_POINT2, out, p, POINT_LENGTH);
            out[p++] = Constants.TAG_CARD_CRYPTOGRAM;
            out[p++] = (byte) KC_LENGTH;
            p = Util.arrayCopyNonAtomic(handshake, H_HELLO, out, p, KC_LENGTH);
            return (short) (p - outOffset);
        } catch (RuntimeException e) {  // ISOException from the checks above, CryptoException, bad points
            ephemeralPrivate.clearKey();
            handshakeFailed();
        }
        return 0;
    }

    /**
     * The card's session ephemeral eC: a fresh 32-byte scalar drawn into RAM (work[W_Z..+32),
     * wiped at once), set into the ephemeral private key at full length, and eC = s.G by
     * ALG_EC_SVDP_DH_PLAIN_XY, as Identity does; the point goes to out[offset]. No persistent
     * public key is written per session. A card without PLAIN_XY uses genKeyPair() instead.
     */
    private void newEphemeral(byte[] out, short offset) {
        if (multiplier == null) {
            ephemeral.genKeyPair();
            ((ECPublicKey) ephemeral.getPublic()).getW(out, offset);
            return;
        }
        boolean valid = false;
        for (short attempt = 0; attempt < 4 && !valid; attempt++) {  // a miss has probability ~2^-32
            random.nextBytes(work, W_Z, Identity.SCALAR_LENGTH);
            valid = Identity.isValidScalar(curve, work, W_Z);
        }
        if (!valid) {
            CryptoException.throwIt(CryptoException.ILLEGAL_VALUE);
        }
        // A failure leaves the scalar to handshakeFailed(), which wipes the whole work buffer.
        Identity.multiplyGenerator(curve, multiplier, ephemeralPrivate, work, W_Z, out, offset);
        Util.arrayFillNonAtomic(work, W_Z, Identity.SCALAR_LENGTH, (byte) 0);
    }

    /**
     * SESSION AUTH (CLA 80), directly after SESSION INIT: C6 TPMS_ATTEST (Quote) | C7 signature |
     * C8 PCR values | CB host key confirmation. Answers CD card key confirmation and opens secure
     * messaging.
     */
    public short sessionAuth(byte[] in, short inOffset, short inLength, byte p1, byte p2, byte[] out, short outOffset) {
        if (vars[V_SECURED] != 0) {
            ISOException.throwIt(ISO7816.SW_CONDITIONS_NOT_SATISFIED);
        }
        final short sw = Constants.SW_SECURITY_STATUS_NOT_SATISFIED;
        try {
            if (p1 != 0 || p2 != 0 || vars[V_HANDSHAKE] != AGE_USABLE) {
                handshakeFailed();
            }
            short slot = vars[V_HANDSHAKE_SLOT];
            short end = (short) (inOffset + inLength);
            short attest = expect(in, inOffset, end, Constants.TAG_ATTEST, sw);
            short attestLength = tlvLength();
            short signature = expect(in, (short) (attest + attestLength), end, Constants.TAG_SIGNATURE, sw);
            short signatureLength = tlvLength();
            short values = expect(in, (short) (signature + signatureLength), end, Constants.TAG_PCR_VALUES, sw);
            short valuesLength = tlvLength();
            short prefixEnd = (short) (values + valuesLength);
            short hostKc = expect(in, prefixEnd, end, Constants.TAG_HOST_CRYPTOGRAM, KC_LENGTH, sw);
            if ((short) (hostKc + KC_LENGTH) != end) {
                handshakeFailed();
            }
            // th2 = SHA-256(th1 || card hello) (the quote's nonce); th3 = SHA-256(th2 || prefix)
            final short th2 = W_INFO;
            final short th3 = (short) (W_INFO + 32);
            final short digest = (short) (W_INFO + 64);
            sha256.reset();
            sha256.doFinal(handshake, H_TH1, (short) (32 + KC_LENGTH), work, th2);
            sha256.reset();
            sha256.update(work, th2, Constants.DIGEST_LENGTH);
            sha256.doFinal(in, inOffset, (short) (prefixEnd - inOffset), work, th3);
            keyConfirmation(Constants.KC_HOST, work, th3, work, W_MAC);
            if (!ConstantTime.equals(work, W_MAC, in, hostKc, KC_LENGTH)) {
                handshakeFailed();
            }

            // The quote: fresh (extraData = th2), the expected PCRs, values that hash to it.
            tpm.parseAttest(in, attest, attestLength, sw);
            if (!tpm.extraDataEquals(in, work, th2, Constants.DIGEST_LENGTH)) {
                handshakeFailed();
            }
            final short expected = (short) (W_SMALL + 4);
            final short policy = (short) (W_SMALL + 8);
            pairings.read(slot, Pairings.OFFSET_SELECTION, work, policy, (short) 3);
            work[expected] = (byte) 0xFF;                      // PCRs 0..7
            work[(short) (expected + 1)] = (byte) (work[(short) (policy + 1)] | 0x01);  // and 8
            work[(short) (expected + 2)] = work[(short) (policy + 2)];
            work[expected] |= work[policy];
            short quoteDigest = tpm.checkQuote(in, work, expected, sw);
            short count = 0;
            for (short i = 0; i < 24; i++) {
                if ((work[(short) (expected + (i >> 3))] & (short) (1 << (i & 7))) != 0) {
                    count++;
                }
            }
            if (valuesLength != (short) (count * Constants.DIGEST_LENGTH)) {
                handshakeFailed();
            }
            sha256.reset();
            sha256.doFinal(in, values, valuesLength, work, digest);
            if (Util.arrayCompare(work, digest, in, quoteDigest, Constants.DIGEST_LENGTH) != 0) {
                handshakeFailed();
            }
            // The policy PCRs among them must hash to the pairing's PolicyPCR pcrDigest.
            sha256.reset();
            short k = 0;
            for (short i = 0; i < 24; i++) {
                if ((work[(short) (expected + (i >> 3))] & (short) (1 << (i & 7))) == 0) {
                    continue;
                }
                if ((work[(short) (policy + (i >> 3))] & (short) (1 << (i & 7))) != 0) {
                    sha256.update(in, (short) (values + k * Constants.DIGEST_LENGTH), Constants.DIGEST_LENGTH);
                }
                k++;
            }
            sha256.doFinal(work, digest, (short) 0, work, digest);
            if (Util.arrayCompare(work, digest, pairings.records(),
                    Pairings.fieldOffset(slot, Pairings.OFFSET_PCR_DIGEST), Constants.DIGEST_LENGTH) != 0) {
                handshakeFailed();
            }
            ecdsa.init(pairings.attestationKey(slot), Signature.MODE_VERIFY);
            if (!ecdsa.verify(in, attest, attestLength, in, signature, signatureLength)) {
                handshakeFailed();
            }

            keyConfirmation(Constants.KC_CARD_FINAL, work, th3, work, W_MAC);
            // PCRs 0..8 are all selected, so they are the first nine values.
            Util.arrayCopyNonAtomic(in, values, sessionPcrs, (short) 0, (short) sessionPcrs.length);
            channel.open(handshake, (short) (H_KEYS + KC_LENGTH), work, W_MAC);
            // One persistent short write per session (atomic: a single field). Skips 0.
            short id = (short) (lastSessionId + 1);
            if (id == 0) {
                id = 1;
            }
            lastSessionId = id;
            vars[V_SESSION_ID] = id;
            dropHandshake();
            short p = outOffset;
            out[p++] = Constants.TAG_CARD_CRYPTOGRAM;
            out[p++] = (byte) KC_LENGTH;
            p = Util.arrayCopyNonAtomic(work, W_MAC, out, p, KC_LENGTH);
            return (short) (p - outOffset);
        } catch (RuntimeException e) {
            endSession();
            handshakeFailed();
        }
        return 0;
    }

    /** SESSION CLOSE (protected, CLA 84): the protected 9000 goes out, then the session ends. */
    public short sessionClose(byte[] in, short inOffset, short inLength, byte p1, byte p2, byte[] out, short outOffset) {
        if (vars[V_SECURED] == 0 || !channel.isOpen()) {
            ISOException.throwIt(ISO7816.SW_CONDITIONS_NOT_SATISFIED);
        }
        if (p1 != 0 || p2 != 0 || inLength != 0) {
            ISOException.throwIt(ISO7816.SW_INCORRECT_P1P2);
        }
        channel.closeAfterResponse();
        return 0;
    }
}
