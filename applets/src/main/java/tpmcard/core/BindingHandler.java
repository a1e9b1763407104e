package tpmcard.core;

import javacard.framework.ISO7816;
import javacard.framework.ISOException;
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

/**
 * The card side of the TPM-card binding (docs/binding.md): PIN management ({@link PinHandler}),
 * pairing ({@link PairingHandler}), the session handshake ({@link HandshakeHandler}) and the
 * secure-messaging hooks, over one set of transients ({@link BindingTransients}) and the
 * persistent session record ({@link SessionRecord}). CoreApplet.process() only dispatches to it:
 *
 * <ol>
 * <li>{@link #beginCommand} once per complete command (after command chaining is reassembled,
 *     never for GET RESPONSE): it ages the challenge and the pending handshake and refuses
 *     unprotected commands while a session is open;</li>
 * <li>for a CLA with {@link Constants#CLA_SECURE_MESSAGING}: {@link #unwrapCommand},
 *     dispatch, then {@link #wrapResponse} with the handler's status word;</li>
 * <li>the handlers take (in, inOffset, inLength, p1, p2, out, outOffset), write the response data
 *     to out and return its length; {@code out} must not overlap {@code in}, and neither may
 *     reach into the work area (ApduIo keeps {@link #ramReserve} bytes free for it).</li>
 * </ol>
 *
 * Everything is allocated here, once; session state is CLEAR_ON_DESELECT RAM.
 */
public final class BindingHandler {
    private final PinStore pins;
    private final Pairings pairings;
    private final SecureChannel channel;
    private final SessionRecord record;
    private final BindingTransients t;
    private final PinHandler pin;
    private final PairingHandler pairing;
    private final HandshakeHandler handshake;

    /**
     * @param identity the card identity key (ECDH for PIN cryptograms and the pairing; its public
     *        point is hashed into every transcript)
     * @param curve the core's P-256 parameters
     * @param sha256 the core's SHA-256, also used to make the identity and by the registry
     * @param random the core's key-generation RNG (Identity.keyGenerationRandom), also the identity's
     * @param multiplier Identity.basePointMultiplier(): s.G for each session ephemeral; null when
     *        the card lacks ALG_EC_SVDP_DH_PLAIN_XY (then genKeyPair())
     * @param keyAgreement the core's ALG_EC_SVDP_DH_PLAIN, shared with the registry's key import
     * @param symmetricKey the core's transient AES-128 key, shared with the registry's key import
     * @param cbc the core's AES-128 CBC engine (initialised before each use), shared with key import
     * @param compact the card has little RAM: a compact secure channel (SecureChannel)
     * @param work transient RAM whose last WORK_LENGTH bytes are the work area: the RAM I/O
     *        buffer (BindingTransients), wiped on deselect; a shorter one (at least NEED_PIN bytes)
     *        puts PAIR's public values at the end of {@code persistentIo}, the persistent I/O buffer
     * @param pin initial PIN (length 0: Constants.DEFAULT_PIN), likewise puk
     */
    public BindingHandler(Identity identity, P256 curve, MessageDigest sha256, RandomData random,
                          KeyAgreement multiplier, KeyAgreement keyAgreement, AESKey symmetricKey, Cipher cbc,
                          boolean compact, byte[] work, byte[] persistentIo,
                          byte[] pin, short pinOffset, byte pinLength,
                          byte[] puk, short pukOffset, byte pukLength) {
        ECPrivateKey identityPrivate = (ECPrivateKey) identity.keyPair().getPrivate();
        byte[] identityPoint = new byte[Constants.EC_POINT_LENGTH];
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
        record = new SessionRecord();
        t = new BindingTransients(work, persistentIo);

        Signature ecdsa = Signature.getInstance(Signature.ALG_ECDSA_SHA_256, false);
        // The secure channel's AES-CMAC objects (the binding borrows the command MAC): where the
        // card has no AES-CMAC, software over the core's one AES engine (cbc). Compact (little RAM):
        // no IV cipher and one MAC object for both directions (SecureChannel).
        Signature commandMac = AesCmac.getInstance(cbc, false);
        if (compact) {
            channel = new SecureChannel(cbc, null, commandMac, commandMac);
        } else {
            channel = new SecureChannel(cbc, Cipher.getInstance(Cipher.ALG_AES_BLOCK_128_ECB_NOPAD, false),
                    commandMac, AesCmac.getInstance(cbc, false));
        }
        TpmAttest tpm = new TpmAttest(sha256, t.tpmFields);
        Kdf kdf = new Kdf(sha256, t.work, t.kdf);

        // The card's session ephemeral: in RAM where the card allows it (cleared on deselect),
        // else in persistent memory, cleared with clearKey() as soon as both ECDH are done.
        ECPrivateKey ephemeralKey;
        try {
            ephemeralKey = (ECPrivateKey) KeyBuilder.buildKey(
                    KeyBuilder.TYPE_EC_FP_PRIVATE_TRANSIENT_DESELECT, P256.KEY_LENGTH, false);
        } catch (CryptoException e) {
            ephemeralKey = (ECPrivateKey) KeyBuilder.buildKey(KeyBuilder.TYPE_EC_FP_PRIVATE, P256.KEY_LENGTH, false);
        }
        curve.setDomainParameters(ephemeralKey);
        KeyPair ephemeral = null;
        if (multiplier == null) {
            ECPublicKey ephemeralPublic = (ECPublicKey) KeyBuilder.buildKey(
                    KeyBuilder.TYPE_EC_FP_PUBLIC, P256.KEY_LENGTH, false);
            curve.setDomainParameters(ephemeralPublic);
            ephemeral = new KeyPair(ephemeralPublic, ephemeralKey);
        }
        ECPublicKey certifierKey = (ECPublicKey) KeyBuilder.buildKey(KeyBuilder.TYPE_EC_FP_PUBLIC, P256.KEY_LENGTH, false);
        curve.setDomainParameters(certifierKey);
        ECPublicKey caKey = (ECPublicKey) KeyBuilder.buildKey(KeyBuilder.TYPE_EC_FP_PUBLIC, P256.KEY_LENGTH, false);
        curve.setDomainParameters(caKey);

        this.pin = new PinHandler(t, pins, identityPrivate, identityPoint, sha256, keyAgreement, cbc, symmetricKey,
                random, kdf, channel);
        pairing = new PairingHandler(t, this.pin, pairings, tpm, kdf, identityPrivate, identityPoint, keyAgreement,
                ecdsa, certifierKey, caKey);
        handshake = new HandshakeHandler(t, pairings, channel, tpm, kdf, identityPoint, sha256, ecdsa,
                keyAgreement, multiplier, random, curve, symmetricKey, ephemeral, ephemeralKey);
    }

    // ---------------------------------------------------------------------------------------
    // Hooks for CoreApplet.process() and deselect().

    /** True for a class byte that announces secure messaging. */
    public static boolean isSecureMessaging(byte cla) {
        return (cla & Constants.CLA_SECURE_MESSAGING) != 0;
    }

    /**
     * The bytes a command with this class and instruction must leave free at the end of the RAM
     * I/O buffer (its answer, secure messaging, and the part of the work area its handler uses);
     * at least {@code defaultReserve}. A longer command takes the persistent buffer.
     */
    public static short ramReserve(byte cla, byte ins, short defaultReserve) {
        return BindingTransients.ramReserve(ins, isSecureMessaging(cla), defaultReserve);
    }

    /**
     * Called once per complete command before anything else (before its data is received).
     * Ages the challenge and the pending handshake (each lives for exactly one following
     * command), wipes the work area if the last command used it, and ends an open session on any
     * unprotected command other than SESSION INIT (6982).
     */
    public void beginCommand(byte cla, byte ins) {
        short[] vars = t.vars;
        vars[BindingTransients.V_SECURED] = 0;
        if (vars[BindingTransients.V_CHALLENGE] == BindingTransients.AGE_ISSUED) {
            vars[BindingTransients.V_CHALLENGE] = BindingTransients.AGE_USABLE;
        } else {
            pin.dropChallenge();
        }
        if (vars[BindingTransients.V_HANDSHAKE] == BindingTransients.AGE_ISSUED) {
            vars[BindingTransients.V_HANDSHAKE] = BindingTransients.AGE_USABLE;
        } else {
            handshake.dropHandshake();
        }
        t.wipeWorkIfUsed();
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
        t.vars[BindingTransients.V_SECURED] = 1;
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
        handshake.dropHandshake();
        pin.dropChallenge();
        t.wipeCarry();
        t.wipeWork();
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

    /**
     * The open session's id for the suite services (SuiteService.invoke): it changes with every
     * session, across card resets too, and is never 0; 0 means no session is open.
     */
    public short sessionId() {
        return channel.isOpen() ? t.vars[BindingTransients.V_SESSION_ID] : 0;
    }

    /**
     * Copies host PCR index (0..8) of the open session, as quoted and verified in its handshake,
     * to out[offset]; 6982 without a session, 6A86 for another index.
     */
    public short copyHostPcr(short index, byte[] out, short offset) {
        if (index < 0 || index >= Constants.SESSION_PCR_COUNT) {
            ISOException.throwIt(ISO7816.SW_INCORRECT_P1P2);
        }
        if (!channel.isOpen()) {
            ISOException.throwIt(Constants.SW_SECURITY_STATUS_NOT_SATISFIED);
        }
        return record.copyHostPcr(index, out, offset);
    }

    /**
     * Copies the TPMS_CLOCK_INFO of the open session's handshake quote (17 bytes) to
     * out[offset]; 6982 without a session.
     */
    public short copyClock(byte[] out, short offset) {
        if (!channel.isOpen()) {
            ISOException.throwIt(Constants.SW_SECURITY_STATUS_NOT_SATISFIED);
        }
        return record.copyClock(out, offset);
    }

    /**
     * Opens the session whose keys SESSION INIT loaded into the channel (SESSION AUTH, once the
     * quote is verified): its host PCRs 0..8 (pcrs[offset..+288)), the quote's TPMS_CLOCK_INFO
     * (clock[clockOffset..+17)) and a new id go to the session record in one transaction, then
     * secure messaging starts with the MAC chain.
     */
    void openSession(byte[] pcrs, short pcrsOffset, byte[] clock, short clockOffset, byte[] chain,
                     short chainOffset) {
        t.vars[BindingTransients.V_SESSION_ID] = record.commit(pcrs, pcrsOffset, clock, clockOffset);
        channel.start(chain, chainOffset);
    }

    private void endSession() {
        channel.close();
        t.vars[BindingTransients.V_SESSION_ID] = 0;
    }

    // ---------------------------------------------------------------------------------------
    // The commands (CoreApplet.dispatch), each with the handler that owns it.

    /** GET CHALLENGE (CLA 00): 32 random bytes, valid for the next command only. */
    public short getChallenge(byte[] in, short inOffset, short inLength, byte p1, byte p2, byte[] out, short outOffset) {
        return pin.getChallenge(inLength, p1, p2, out, outOffset, handshake);
    }

    /** VERIFY (CLA 00) without data: 63Cx (x tries left) or 6983; the PIN never travels in clear. */
    public short verifyStatus(byte[] in, short inOffset, short inLength, byte p1, byte p2, byte[] out, short outOffset) {
        return pin.verifyStatus(inLength, p1, p2);
    }

    /** CHANGE REFERENCE DATA (CLA 80, P2 80 PIN / 81 PUK): encrypted old || new value. */
    public short changeReferenceData(byte[] in, short inOffset, short inLength, byte p1, byte p2,
                                     byte[] out, short outOffset) {
        return pin.changeReferenceData(in, inOffset, inLength, p1, p2, out, outOffset);
    }

    /** RESET RETRY COUNTER (CLA 80, P2 80): encrypted PUK || new PIN; unblocks the PIN. */
    public short resetRetryCounter(byte[] in, short inOffset, short inLength, byte p1, byte p2,
                                   byte[] out, short outOffset) {
        return pin.resetRetryCounter(in, inOffset, inLength, p1, p2, out, outOffset);
    }

    /** PUT DATA (CLA 80): the attestation CA key (PairingHandler#putData). */
    public short putData(byte[] in, short inOffset, short inLength, byte p1, byte p2, byte[] out, short outOffset) {
        return pairing.putData(in, inOffset, inLength, p1, p2, out, outOffset);
    }

    /** PAIR (CLA 80): PairingHandler#pair. */
    public short pair(byte[] in, short inOffset, short inLength, byte p1, byte p2, byte[] out, short outOffset) {
        return pairing.pair(in, inOffset, inLength, p1, p2, out, outOffset);
    }

    /** LIST PAIRINGS (CLA 80): D0 slot count, then per used slot E1 { CE | CF | C3 | C4 | C5 }. */
    public short listPairings(byte[] in, short inOffset, short inLength, byte p1, byte p2, byte[] out, short outOffset) {
        return pairing.listPairings(p1, p2, out, outOffset);
    }

    /** UNPAIR (CLA 80, P1 slot): C9 | CA with the PIN. Answers CD receipt. */
    public short unpair(byte[] in, short inOffset, short inLength, byte p1, byte p2, byte[] out, short outOffset) {
        return pairing.unpair(in, inOffset, inLength, p1, p2, out, outOffset);
    }

    /**
     * SESSION INIT (CLA 80, P1 slot): C9 host ephemeral. Answers CC card ephemeral | CD card
     * key confirmation. Ends any open session.
     */
    public short sessionInit(byte[] in, short inOffset, short inLength, byte p1, byte p2, byte[] out, short outOffset) {
        if (t.vars[BindingTransients.V_SECURED] != 0) {
            ISOException.throwIt(ISO7816.SW_CONDITIONS_NOT_SATISFIED);
        }
        endSession();
        return handshake.sessionInit(in, inOffset, inLength, p1, p2, out, outOffset, pin);
    }

    /** SESSION AUTH (CLA 80), directly after SESSION INIT: opens secure messaging (HandshakeHandler). */
    public short sessionAuth(byte[] in, short inOffset, short inLength, byte p1, byte p2, byte[] out, short outOffset) {
        if (t.vars[BindingTransients.V_SECURED] != 0) {
            ISOException.throwIt(ISO7816.SW_CONDITIONS_NOT_SATISFIED);
        }
        return handshake.sessionAuth(in, inOffset, inLength, p1, p2, out, outOffset, this);
    }

    /** SESSION CLOSE (protected, CLA 84): the protected 9000 goes out, then the session ends. */
    public short sessionClose(byte[] in, short inOffset, short inLength, byte p1, byte p2, byte[] out, short outOffset) {
        return handshake.sessionClose(inLength, p1, p2);
    }
}
