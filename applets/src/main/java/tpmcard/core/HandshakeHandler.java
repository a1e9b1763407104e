package tpmcard.core;

import javacard.framework.ISO7816;
import javacard.framework.ISOException;
import javacard.framework.Util;
import javacard.security.AESKey;
import javacard.security.CryptoException;
import javacard.security.ECPrivateKey;
import javacard.security.ECPublicKey;
import javacard.security.KeyAgreement;
import javacard.security.KeyPair;
import javacard.security.MessageDigest;
import javacard.security.RandomData;
import javacard.security.Signature;
import tpmcard.lib.ConstantTime;
import tpmcard.lib.Identity;
import tpmcard.lib.P256;

/**
 * The session handshake (docs/binding.md "Session handshake"): SESSION INIT, SESSION AUTH and
 * SESSION CLOSE. Every failure drops the handshake and answers 6982.
 *
 * <p>Between SESSION INIT and SESSION AUTH the handshake keeps 32 bytes of RAM: th2 in the carry
 * (BindingTransients). Its keys wait in key objects: K-CONF in the binding's AES key, S-ENC,
 * S-MAC and S-RMAC in the secure channel's own ({@link SecureChannel#load}), which SESSION AUTH
 * starts. Work area: SESSION INIT NEED_INIT bytes, SESSION AUTH NEED_AUTH.
 */
final class HandshakeHandler {
    private static final short POINT_LENGTH = Constants.EC_POINT_LENGTH;
    private static final short KC_LENGTH = Constants.CRYPTOGRAM_LENGTH;

    private final BindingTransients t;
    private final Pairings pairings;
    private final SecureChannel channel;
    private final TpmAttest tpm;
    private final Kdf kdf;
    private final byte[] identityPoint;
    private final MessageDigest sha256;
    private final Signature ecdsa;
    private final KeyAgreement keyAgreement;
    /** ALG_EC_SVDP_DH_PLAIN_XY (s.G for the session ephemeral), or null when the card lacks it. */
    private final KeyAgreement multiplier;
    private final RandomData random;
    private final P256 curve;
    /** K-CONF between SESSION INIT and SESSION AUTH (the binding's AES key). */
    private final AESKey symmetricKey;
    /** Only on a card without ALG_EC_SVDP_DH_PLAIN_XY (multiplier null): genKeyPair() instead. */
    private final KeyPair ephemeral;
    private final ECPrivateKey ephemeralPrivate;

    HandshakeHandler(BindingTransients t, Pairings pairings, SecureChannel channel, TpmAttest tpm, Kdf kdf,
                     byte[] identityPoint, MessageDigest sha256, Signature ecdsa,
                     KeyAgreement keyAgreement, KeyAgreement multiplier, RandomData random, P256 curve,
                     AESKey symmetricKey, KeyPair ephemeral, ECPrivateKey ephemeralPrivate) {
        this.t = t;
        this.pairings = pairings;
        this.channel = channel;
        this.tpm = tpm;
        this.kdf = kdf;
        this.identityPoint = identityPoint;
        this.sha256 = sha256;
        this.ecdsa = ecdsa;
        this.keyAgreement = keyAgreement;
        this.multiplier = multiplier;
        this.random = random;
        this.curve = curve;
        this.symmetricKey = symmetricKey;
        this.ephemeral = ephemeral;
        this.ephemeralPrivate = ephemeralPrivate;
    }

    /**
     * Forgets a pending handshake: th2 and the keys waiting for SESSION AUTH. Does nothing to an
     * open session (a handshake is never pending while one is open: SESSION INIT ends it).
     */
    void dropHandshake() {
        if (t.vars[BindingTransients.V_HANDSHAKE] != BindingTransients.AGE_NONE) {
            t.wipeCarry();  // the carry is the handshake's only while its age says so
            symmetricKey.clearKey();
            if (!channel.isOpen()) {
                channel.close();  // the loaded session keys
            }
        }
        t.vars[BindingTransients.V_HANDSHAKE] = BindingTransients.AGE_NONE;
    }

    private void handshakeFailed() {
        dropHandshake();
        t.wipeWork();
        ISOException.throwIt(Constants.SW_SECURITY_STATUS_NOT_SATISFIED);
    }

    /** CMAC(K-CONF, kind || transcript hash), 16 bytes, to out. */
    private void keyConfirmation(byte kind, byte[] hash, short hashOffset, byte[] out, short outOffset) {
        t.work[t.small] = kind;
        Signature cmac = channel.lendCommandMac();
        cmac.init(symmetricKey, Signature.MODE_SIGN);
        cmac.update(t.work, t.small, (short) 1);
        cmac.sign(hash, hashOffset, Constants.DIGEST_LENGTH, out, outOffset);
    }

    /**
     * SESSION INIT (CLA 80, P1 slot): C9 host ephemeral. Answers CC card ephemeral | CD card
     * key confirmation. Ends any open session (the caller has).
     */
    short sessionInit(byte[] in, short inOffset, short inLength, byte p1, byte p2, byte[] out, short outOffset,
                      PinHandler pin) {
        dropHandshake();
        pin.dropChallenge();  // the carry becomes the handshake's
        byte[] work = t.work;
        t.useWork();
        try {
            short slot = p1;
            if (p2 != 0 || !pairings.isUsed(slot)) {
                handshakeFailed();
            }
            short end = (short) (inOffset + inLength);
            short host = t.expect(in, inOffset, end, Constants.TAG_HOST_EPHEMERAL, POINT_LENGTH,
                    Constants.SW_SECURITY_STATUS_NOT_SATISFIED);
            if ((short) (host + POINT_LENGTH) != end) {
                handshakeFailed();
            }
            // The answer: CC eC | CD card hello. eC is made straight into it.
            short p = outOffset;
            out[p++] = Constants.TAG_CARD_EPHEMERAL;
            out[p++] = (byte) POINT_LENGTH;
            short cardPoint = p;
            p += POINT_LENGTH;
            out[p++] = Constants.TAG_CARD_CRYPTOGRAM;
            out[p++] = (byte) KC_LENGTH;
            short hello = p;
            p += KC_LENGTH;

            // clearKey() after the last session (and, for a RAM key, deselect) cleared the domain
            // parameters with the scalar; set them again.
            curve.setDomainParameters(ephemeralPrivate);
            newEphemeral(out, cardPoint);
            keyAgreement.init(ephemeralPrivate);
            keyAgreement.generateSecret(in, host, POINT_LENGTH, work, t.z);                          // Z_ee
            keyAgreement.generateSecret(pairings.records(), Pairings.fieldOffset(slot, Pairings.OFFSET_POINT),
                    POINT_LENGTH, work, (short) (t.z + 32));                                         // Z_es
            ephemeralPrivate.clearKey();  // forward secrecy: the scalar is not needed any more
            pairings.readSecret(slot, work, (short) (t.z + 64));

            // th1 = SHA-256(label || slot || card identity || binding Name || eH || eC), written
            // where the KDF's SharedInfo (label || th1) wants it.
            short th1 = (short) (t.info + Constants.LABEL_SESSION.length);
            work[t.small] = (byte) slot;
            sha256.reset();
            sha256.update(Constants.LABEL_TRANSCRIPT, (short) 0, (short) Constants.LABEL_TRANSCRIPT.length);
            sha256.update(work, t.small, (short) 1);
            sha256.update(identityPoint, (short) 0, POINT_LENGTH);
            sha256.update(pairings.records(), Pairings.fieldOffset(slot, Pairings.OFFSET_NAME), Constants.NAME_LENGTH);
            sha256.update(in, host, POINT_LENGTH);
            sha256.doFinal(out, cardPoint, POINT_LENGTH, work, th1);

            // K-CONF || S-ENC || S-MAC || S-RMAC, into the key objects that keep them until SESSION AUTH.
            Util.arrayCopyNonAtomic(Constants.LABEL_SESSION, (short) 0, work, t.info,
                    (short) Constants.LABEL_SESSION.length);
            short keys = t.th2;  // 64 bytes, after the SharedInfo
            kdf.derive(work, t.z, (short) 96, work, t.info, (short) (Constants.LABEL_SESSION.length + 32),
                    work, keys, (short) 64);
            Util.arrayFillNonAtomic(work, t.z, (short) 96, (byte) 0);
            symmetricKey.setKey(work, keys);
            channel.load(work, (short) (keys + KC_LENGTH));
            Util.arrayFillNonAtomic(work, keys, (short) 64, (byte) 0);

            keyConfirmation(Constants.KC_CARD_HELLO, work, th1, out, hello);
            // th2 = SHA-256(th1 || card hello): the quote's nonce, all SESSION AUTH needs of th1.
            sha256.reset();
            sha256.update(work, th1, Constants.DIGEST_LENGTH);
            sha256.doFinal(out, hello, KC_LENGTH, t.carry, (short) 0);
            t.vars[BindingTransients.V_HANDSHAKE_SLOT] = slot;
            t.vars[BindingTransients.V_HANDSHAKE] = BindingTransients.AGE_ISSUED;
            return (short) (p - outOffset);
        } catch (RuntimeException e) {  // ISOException from the checks above, CryptoException, bad points
            ephemeralPrivate.clearKey();
            t.vars[BindingTransients.V_HANDSHAKE] = BindingTransients.AGE_ISSUED;  // so that the drop clears the keys
            handshakeFailed();
        }
        return 0;
    }

    /**
     * The card's session ephemeral eC: a fresh 32-byte scalar drawn into RAM (work Z..+32, wiped
     * at once), set into the ephemeral private key at full length, and eC = s.G by
     * ALG_EC_SVDP_DH_PLAIN_XY, as Identity does; the point goes to out[offset]. No persistent
     * public key is written per session. A card without PLAIN_XY uses genKeyPair() instead.
     */
    private void newEphemeral(byte[] out, short offset) {
        if (multiplier == null) {
            ephemeral.genKeyPair();
            ((ECPublicKey) ephemeral.getPublic()).getW(out, offset);
            return;
        }
        byte[] work = t.work;
        boolean valid = false;
        for (short attempt = 0; attempt < 4 && !valid; attempt++) {  // a miss has probability ~2^-32
            random.nextBytes(work, t.z, Identity.SCALAR_LENGTH);
            valid = Identity.isValidScalar(curve, work, t.z);
        }
        if (!valid) {
            CryptoException.throwIt(CryptoException.ILLEGAL_VALUE);
        }
        // A failure leaves the scalar to handshakeFailed(), which wipes the whole work area.
        Identity.multiplyGenerator(curve, multiplier, ephemeralPrivate, work, t.z, out, offset);
        Util.arrayFillNonAtomic(work, t.z, Identity.SCALAR_LENGTH, (byte) 0);
    }

    /**
     * SESSION AUTH (CLA 80), directly after SESSION INIT: C6 TPMS_ATTEST (Quote) | C7 signature |
     * C8 PCR values | CB host key confirmation. Answers CD card key confirmation and opens secure
     * messaging.
     */
    short sessionAuth(byte[] in, short inOffset, short inLength, byte p1, byte p2, byte[] out, short outOffset,
                      BindingHandler binding) {
        final short sw = Constants.SW_SECURITY_STATUS_NOT_SATISFIED;
        byte[] work = t.work;
        try {
            if (p1 != 0 || p2 != 0 || t.vars[BindingTransients.V_HANDSHAKE] != BindingTransients.AGE_USABLE) {
                handshakeFailed();
            }
            t.useWork();
            short slot = t.vars[BindingTransients.V_HANDSHAKE_SLOT];
            short end = (short) (inOffset + inLength);
            short attest = t.expect(in, inOffset, end, Constants.TAG_ATTEST, sw);
            short attestLength = t.tlvLength();
            short signature = t.expect(in, (short) (attest + attestLength), end, Constants.TAG_SIGNATURE, sw);
            short signatureLength = t.tlvLength();
            short values = t.expect(in, (short) (signature + signatureLength), end, Constants.TAG_PCR_VALUES, sw);
            short valuesLength = t.tlvLength();
            short prefixEnd = (short) (values + valuesLength);
            short hostKc = t.expect(in, prefixEnd, end, Constants.TAG_HOST_CRYPTOGRAM, KC_LENGTH, sw);
            if ((short) (hostKc + KC_LENGTH) != end) {
                handshakeFailed();
            }
            // th2 (the quote's nonce) came from SESSION INIT; th3 = SHA-256(th2 || prefix)
            final short th2 = t.th2;
            final short th3 = t.th3;
            final short digest = t.digest;
            Util.arrayCopyNonAtomic(t.carry, (short) 0, work, th2, Constants.DIGEST_LENGTH);
            sha256.reset();
            sha256.update(work, th2, Constants.DIGEST_LENGTH);
            sha256.doFinal(in, inOffset, (short) (prefixEnd - inOffset), work, th3);
            keyConfirmation(Constants.KC_HOST, work, th3, work, t.mac);
            if (!ConstantTime.equals(work, t.mac, in, hostKc, KC_LENGTH)) {
                handshakeFailed();
            }

            // The quote: fresh (extraData = th2), the expected PCRs, values that hash to it.
            tpm.parseAttest(in, attest, attestLength, sw);
            if (!tpm.extraDataEquals(in, work, th2, Constants.DIGEST_LENGTH)) {
                handshakeFailed();
            }
            final short expected = (short) (t.small + 4);
            final short policy = (short) (t.small + 8);
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

            keyConfirmation(Constants.KC_CARD_FINAL, work, th3, work, t.mac);
            // PCRs 0..8 are all selected, so they are the first nine values; the quote's clock
            // (verified with it) goes to the session record too.
            binding.openSession(in, values, in, tpm.clockInfoOffset(), work, t.mac);
            symmetricKey.clearKey();
            t.vars[BindingTransients.V_HANDSHAKE] = BindingTransients.AGE_NONE;  // its keys are the session's now
            t.wipeCarry();
            short p = outOffset;
            out[p++] = Constants.TAG_CARD_CRYPTOGRAM;
            out[p++] = (byte) KC_LENGTH;
            p = Util.arrayCopyNonAtomic(work, t.mac, out, p, KC_LENGTH);
            return (short) (p - outOffset);
        } catch (RuntimeException e) {
            binding.closeSession();
            handshakeFailed();
        }
        return 0;
    }

    /** SESSION CLOSE (protected, CLA 84): the protected 9000 goes out, then the session ends. */
    short sessionClose(short inLength, byte p1, byte p2) {
        if (t.vars[BindingTransients.V_SECURED] == 0 || !channel.isOpen()) {
            ISOException.throwIt(ISO7816.SW_CONDITIONS_NOT_SATISFIED);
        }
        if (p1 != 0 || p2 != 0 || inLength != 0) {
            ISOException.throwIt(ISO7816.SW_INCORRECT_P1P2);
        }
        channel.closeAfterResponse();
        return 0;
    }
}
