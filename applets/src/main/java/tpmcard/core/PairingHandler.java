package tpmcard.core;

import javacard.framework.ISO7816;
import javacard.framework.ISOException;
import javacard.framework.Util;
import javacard.security.CryptoException;
import javacard.security.ECPrivateKey;
import javacard.security.ECPublicKey;
import javacard.security.KeyAgreement;
import javacard.security.Signature;

/**
 * The pairing half of the binding (docs/binding.md "Pairing"): PUT DATA (the attestation CA key),
 * PAIR, LIST PAIRINGS and UNPAIR. Every change ends with a PIN cryptogram ({@link PinHandler}) and
 * answers a receipt. Work area: PAIR takes all of it (NEED_PAIR), UNPAIR and PUT DATA NEED_PIN.
 */
final class PairingHandler {
    private static final short POINT_LENGTH = Constants.EC_POINT_LENGTH;
    private static final short LIST_ENTRY_LENGTH = (short) (3 + 2 + Constants.NAME_LENGTH + 5
            + 2 + Constants.DIGEST_LENGTH + 3);
    // PCRs 16 (debug) and 23 (application support) can be reset from locality 0 (TCG PC Client
    // Platform Firmware Profile §3.3.4, PCR reset attributes): a policy over them binds nothing.
    private static final byte RESETTABLE_PCRS_BYTE2 = (byte) 0x81;  // bits 16 and 23 of pcrSelect

    private final BindingTransients t;
    private final PinHandler pin;
    private final Pairings pairings;
    private final TpmAttest tpm;
    private final Kdf kdf;
    private final ECPrivateKey identityPrivate;
    private final byte[] identityPoint;
    private final KeyAgreement keyAgreement;
    private final Signature ecdsa;
    private final ECPublicKey certifierKey;
    /** The attestation CA key installed at personalisation (PUT DATA); PAIR needs it. */
    private final ECPublicKey caKey;
    /** Persistent: true once caKey holds the attestation CA key (written last, one field). */
    private boolean caKeyInstalled;

    PairingHandler(BindingTransients t, PinHandler pin, Pairings pairings, TpmAttest tpm, Kdf kdf,
                   ECPrivateKey identityPrivate, byte[] identityPoint, KeyAgreement keyAgreement,
                   Signature ecdsa, ECPublicKey certifierKey, ECPublicKey caKey) {
        this.t = t;
        this.pin = pin;
        this.pairings = pairings;
        this.tpm = tpm;
        this.kdf = kdf;
        this.identityPrivate = identityPrivate;
        this.identityPoint = identityPoint;
        this.keyAgreement = keyAgreement;
        this.ecdsa = ecdsa;
        this.certifierKey = certifierKey;
        this.caKey = caKey;
    }

    /**
     * PUT DATA (CLA 80, P2 80 PIN / 81 PUK): D4 CA point | C9 | CA with the PIN or the PUK.
     * Installs the attestation CA key that PAIR checks AK certificates against. With the PIN
     * only while no key is installed (else 6985, before the PIN: no try used); the PUK installs
     * or replaces. Existing pairings are kept (they were checked when they were made). Answers
     * CD receipt.
     */
    short putData(byte[] in, short inOffset, short inLength, byte p1, byte p2, byte[] out, short outOffset) {
        PinHandler.checkReference(p1, p2);
        short end = (short) (inOffset + inLength);
        short point = t.expect(in, inOffset, end, Constants.TAG_CA_KEY, POINT_LENGTH, ISO7816.SW_WRONG_DATA);
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
        pin.openPinCryptogram(Constants.INS_PUT_DATA, p1, p2, in, inOffset, (short) (point + POINT_LENGTH), end,
                (short) 1);
        pin.checkSecret(p2, (short) 0);
        // The flag is one field, written last: a torn update leaves no key rather than half a key.
        caKeyInstalled = false;
        caKey.setW(in, point, POINT_LENGTH);
        caKeyInstalled = true;
        return pin.writeReceipt(out, outOffset, (short) 0);
    }

    /**
     * Checks the AK certificate value in[value..value+length) (docs/binding.md "AK certificate")
     * against the AK whose TPMT_PUBLIC is in[ak..ak+akLength) and whose point is at work[POINT2],
     * then the CA's signature in[signature..) over the whole D1 TLV in[tlv..value+length).
     * Malformed: sw; well-formed but not for this AK or not the installed CA's: 6985.
     */
    private void checkAkCertificate(byte[] in, short tlv, short value, short length, short signature,
                                    short signatureLength, short ak, short akLength, short sw) {
        short end = (short) (value + length);
        short p = t.expect(in, value, end, Constants.TAG_AKC_VERSION, (short) 1, sw);
        if (in[p] != Constants.AK_CERTIFICATE_VERSION) {
            ISOException.throwIt(sw);
        }
        p = t.expect(in, (short) (p + 1), end, Constants.TAG_AKC_SERIAL, (short) 8, sw);
        p = t.expect(in, (short) (p + 8), end, Constants.TAG_AKC_AK_POINT, POINT_LENGTH, sw);
        short certifiedPoint = p;
        p = t.expect(in, (short) (p + POINT_LENGTH), end, Constants.TAG_AKC_AK_NAME, Constants.NAME_LENGTH, sw);
        short certifiedName = p;
        p = t.expect(in, (short) (p + Constants.NAME_LENGTH), end, Constants.TAG_AKC_EK_DIGEST,
                Constants.DIGEST_LENGTH, sw);
        p = t.expect(in, (short) (p + Constants.DIGEST_LENGTH), end, Constants.TAG_AKC_ISSUED_AT, (short) 8, sw);
        p = t.expect(in, (short) (p + 8), end, Constants.TAG_AKC_NOT_AFTER, (short) 8, sw);
        if ((short) (p + 8) != end) {
            ISOException.throwIt(sw);
        }
        // The card has no clock: validity is the CA's and the host's to check (docs/binding.md §8).
        byte[] work = t.work;
        tpm.computeName(in, ak, akLength, t.pairValues, t.name);
        if (Util.arrayCompare(in, certifiedPoint, t.pairValues, t.point2, POINT_LENGTH) != 0
                || Util.arrayCompare(in, certifiedName, t.pairValues, t.name, Constants.NAME_LENGTH) != 0) {
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

    /**
     * PAIR (CLA 80): C1 binding TPMT_PUBLIC | C2 AK TPMT_PUBLIC | C3 selection | C4 pcrDigest |
     * C5 options | C6 TPMS_ATTEST (Certify) | C7 signature | D1 AK certificate | D2 its CA
     * signature | C9 | CA. Answers CE slot | CD receipt. A card whose PIN or PUK is still the
     * factory default refuses first (6984, no try used); no attestation CA key installed: 6A88.
     * Then public checks (6A80; the AK certificate 6985), then the table (6A89, 6A84), then the
     * PIN (6982, 63Cx, 6983), then the AK signature (6A80), then the table is written in one
     * transaction.
     */
    short pair(byte[] in, short inOffset, short inLength, byte p1, byte p2, byte[] out, short outOffset) {
        if (p1 != 0 || p2 != 0) {
            ISOException.throwIt(ISO7816.SW_INCORRECT_P1P2);
        }
        if (!pin.personalised()) {
            ISOException.throwIt(Constants.SW_PIN_CHANGE_REQUIRED);
        }
        if (!caKeyInstalled) {
            ISOException.throwIt(Constants.SW_CA_KEY_MISSING);
        }
        final short sw = ISO7816.SW_WRONG_DATA;
        short end = (short) (inOffset + inLength);
        short binding = t.expect(in, inOffset, end, Constants.TAG_BINDING_PUBLIC, sw);
        short bindingLength = t.tlvLength();
        short ak = t.expect(in, (short) (binding + bindingLength), end, Constants.TAG_AK_PUBLIC, sw);
        short akLength = t.tlvLength();
        short selection = t.expect(in, (short) (ak + akLength), end, Constants.TAG_PCR_SELECTION, (short) 3, sw);
        short pcrDigest = t.expect(in, (short) (selection + 3), end, Constants.TAG_POLICY_PCR_DIGEST,
                Constants.DIGEST_LENGTH, sw);
        short options = t.expect(in, (short) (pcrDigest + Constants.DIGEST_LENGTH), end,
                Constants.TAG_POLICY_OPTIONS, (short) 1, sw);
        short attest = t.expect(in, (short) (options + 1), end, Constants.TAG_ATTEST, sw);
        short attestLength = t.tlvLength();
        short signature = t.expect(in, (short) (attest + attestLength), end, Constants.TAG_SIGNATURE, sw);
        short signatureLength = t.tlvLength();
        short certificateTlv = (short) (signature + signatureLength);
        short certificate = t.expect(in, certificateTlv, end, Constants.TAG_AK_CERTIFICATE, sw);
        short certificateLength = t.tlvLength();
        short certificateSignature = t.expect(in, (short) (certificate + certificateLength), end,
                Constants.TAG_AK_CERTIFICATE_SIGNATURE, sw);
        short certificateSignatureLength = t.tlvLength();
        short contextEnd = (short) (certificateSignature + certificateSignatureLength);

        byte policyOptions = in[options];
        if ((policyOptions & (byte) ~Constants.POLICY_OPTION_AUTH_VALUE) != 0
                || (in[selection] | in[(short) (selection + 1)] | in[(short) (selection + 2)]) == 0
                || (in[(short) (selection + 2)] & RESETTABLE_PCRS_BYTE2) != 0) {
            ISOException.throwIt(sw);
        }
        byte[] work = t.work;
        t.useWork();
        tpm.parsePublic(in, ak, akLength, sw);
        tpm.checkAttestationKey(sw);
        tpm.writePoint(in, t.pairValues, t.point2);
        checkAkCertificate(in, certificateTlv, certificate, certificateLength, certificateSignature,
                certificateSignatureLength, ak, akLength, sw);
        tpm.parsePublic(in, binding, bindingLength, sw);
        tpm.checkBindingKey(sw);
        tpm.policyDigest(in, selection, in, pcrDigest, policyOptions, work, t.info, work, (short) (t.info + 32));
        if (!tpm.authPolicyEquals(in, work, t.info)) {
            ISOException.throwIt(sw);
        }
        tpm.writePoint(in, t.pairValues, t.point);
        tpm.computeName(in, binding, bindingLength, t.pairValues, t.name);
        tpm.parseAttest(in, attest, attestLength, sw);
        tpm.checkCertify(in, t.pairValues, t.name, sw);
        if (!pin.challengeUsable()) {
            ISOException.throwIt(Constants.SW_SECURITY_STATUS_NOT_SATISFIED);
        }
        if (!tpm.extraDataEquals(in, pin.challenge(), (short) 0, Constants.CHALLENGE_LENGTH)) {
            ISOException.throwIt(sw);
        }
        if (pairings.findName(t.pairValues, t.name) >= 0) {
            ISOException.throwIt(Constants.SW_PAIRING_EXISTS);
        }
        short slot = pairings.findFree();
        if (slot < 0) {
            ISOException.throwIt(Constants.SW_NOT_ENOUGH_MEMORY);
        }

        pin.openPinCryptogram(Constants.INS_PAIR, p1, p2, in, inOffset, contextEnd, end, (short) 1);
        pin.checkSecret(Constants.P2_PIN, (short) 0);
        pin.wipeSecrets();

        boolean verified = false;
        try {
            certifierKey.setW(t.pairValues, t.point2, POINT_LENGTH);
            ecdsa.init(certifierKey, Signature.MODE_VERIFY);
            verified = ecdsa.verify(in, attest, attestLength, in, signature, signatureLength);
            keyAgreement.init(identityPrivate);
            keyAgreement.generateSecret(t.pairValues, t.point, POINT_LENGTH, work, t.z);
        } catch (RuntimeException e) {
            verified = false;
        }
        if (!verified) {
            ISOException.throwIt(sw);
        }
        // pairing secret = X9.63(Z_static, label || card identity || binding Name), 32 bytes
        short p = Util.arrayCopyNonAtomic(Constants.LABEL_PAIRING, (short) 0, work, t.info,
                (short) Constants.LABEL_PAIRING.length);
        p = Util.arrayCopyNonAtomic(identityPoint, (short) 0, work, p, POINT_LENGTH);
        p = Util.arrayCopyNonAtomic(t.pairValues, t.name, work, p, Constants.NAME_LENGTH);
        short secret = (short) (t.z + 32);
        kdf.derive(work, t.z, (short) 32, work, t.info, (short) (p - t.info), work, secret, (short) 32);
        byte[] values = t.pairValues;
        pairings.store(slot, values, t.name, values, t.point, values, t.point2, in, selection, policyOptions,
                in, pcrDigest, work, secret);
        Util.arrayFillNonAtomic(work, t.z, (short) 64, (byte) 0);

        out[outOffset] = Constants.TAG_SLOT;
        out[(short) (outOffset + 1)] = 1;
        out[(short) (outOffset + 2)] = (byte) slot;
        return pin.writeReceipt(out, outOffset, (short) 3);
    }

    /** LIST PAIRINGS (CLA 80): D0 slot count, then per used slot E1 { CE | CF | C3 | C4 | C5 }. */
    short listPairings(byte p1, byte p2, byte[] out, short outOffset) {
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
    short unpair(byte[] in, short inOffset, short inLength, byte p1, byte p2, byte[] out, short outOffset) {
        if (p2 != 0 || !Pairings.isValidSlot(p1)) {
            ISOException.throwIt(ISO7816.SW_INCORRECT_P1P2);
        }
        if (!pairings.isUsed(p1)) {
            ISOException.throwIt(Constants.SW_REFERENCED_DATA_NOT_FOUND);
        }
        pin.openPinCryptogram(Constants.INS_UNPAIR, p1, p2, in, inOffset, inOffset,
                (short) (inOffset + inLength), (short) 1);
        pin.checkSecret(Constants.P2_PIN, (short) 0);
        pairings.remove(p1);
        return pin.writeReceipt(out, outOffset, (short) 0);
    }
}
