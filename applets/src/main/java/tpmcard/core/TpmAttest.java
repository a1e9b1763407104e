package tpmcard.core;

import javacard.framework.ISOException;
import javacard.framework.Util;
import javacard.security.MessageDigest;
import tpmcard.lib.Tpm2;

/**
 * On-card reading of the TPM 2.0 structures the binding checks: TPMT_PUBLIC of a P-256 key
 * (Part 2 §12.2.4), TPMS_ATTEST of TPM2_Certify and TPM2_Quote (Part 2 §10.12.12), TPM Names
 * (Part 1 §16) and TPM2_PolicyPCR digests (Part 3 §23.7).
 *
 * Every read is bounds-checked against the length the caller gives; any violation throws the
 * status word the caller chose, so the handshake can keep its one uniform failure. Parse results
 * (offsets into the caller's buffer) live in a CLEAR_ON_DESELECT short array until the next parse.
 * Only the layouts this project's TPM keys use are accepted: SHA-256 names, NULL symmetric and
 * KDF, P-256, 32-byte coordinates; anything else is refused rather than skipped.
 */
final class TpmAttest {
    // TPM 2.0 Part 2 constants used only here (the shared ones are in tpmcard.lib.Tpm2).
    private static final short CC_POLICY_PCR = (short) 0x017F;
    private static final short CC_POLICY_AUTH_VALUE = (short) 0x016B;

    // TPMA_OBJECT (Part 2 §8.3), split into the low and high 16 bits.
    static final short ATTR_FIXED_TPM = (short) 0x0002;
    static final short ATTR_FIXED_PARENT = (short) 0x0010;
    static final short ATTR_SENSITIVE_DATA_ORIGIN = (short) 0x0020;
    static final short ATTR_USER_WITH_AUTH = (short) 0x0040;
    static final short ATTR_HIGH_RESTRICTED = (short) 0x0001;
    static final short ATTR_HIGH_DECRYPT = (short) 0x0002;
    static final short ATTR_HIGH_SIGN = (short) 0x0004;

    private static final short COORDINATE_LENGTH = (short) 32;
    private static final short MAX_TPM2B_SMALL = (short) 64;   // names, nonces, policies
    private static final short CLOCK_AND_FIRMWARE = (short) 25; // TPMS_CLOCK_INFO 17 + UINT64
    static final short POLICY_SCRATCH_LENGTH = (short) 78;

    // Indices into the result array.
    private static final short R_ATTR_LOW = 0;
    private static final short R_ATTR_HIGH = 1;
    private static final short R_POLICY_OFFSET = 2;
    private static final short R_POLICY_LENGTH = 3;
    private static final short R_SCHEME = 4;
    private static final short R_SCHEME_HASH = 5;
    private static final short R_X_OFFSET = 6;
    private static final short R_Y_OFFSET = 7;
    private static final short R_TYPE = 8;
    private static final short R_EXTRA_OFFSET = 9;
    private static final short R_EXTRA_LENGTH = 10;
    private static final short R_BODY_OFFSET = 11;
    private static final short R_BODY_END = 12;
    /** Shorts of parse state the caller lends ({@link BindingTransients}). */
    static final short R_COUNT = 13;

    private final MessageDigest sha256;
    private final short[] r;

    /** @param r CLEAR_ON_DESELECT RAM of R_COUNT shorts for the offsets of what was parsed */
    TpmAttest(MessageDigest sha256, short[] r) {
        this.sha256 = sha256;
        this.r = r;
    }

    private static void need(short position, short end, short count, short sw) {
        if (count < 0 || (short) (end - position) < count) {
            ISOException.throwIt(sw);
        }
    }

    /** Parses a TPMT_PUBLIC of a P-256 ECC key with SHA-256 name, NULL symmetric and KDF. */
    void parsePublic(byte[] buf, short offset, short length, short sw) {
        short end = (short) (offset + length);
        short p = offset;
        need(p, end, (short) 10, sw);
        if (Util.getShort(buf, p) != Tpm2.ALG_ECC || Util.getShort(buf, (short) (p + 2)) != Tpm2.ALG_SHA256) {
            ISOException.throwIt(sw);
        }
        r[R_ATTR_HIGH] = Util.getShort(buf, (short) (p + 4));
        r[R_ATTR_LOW] = Util.getShort(buf, (short) (p + 6));
        short n = Util.getShort(buf, (short) (p + 8));
        p += 10;
        if (n > MAX_TPM2B_SMALL) {
            ISOException.throwIt(sw);
        }
        need(p, end, n, sw);
        r[R_POLICY_OFFSET] = p;
        r[R_POLICY_LENGTH] = n;
        p += n;
        need(p, end, (short) 4, sw);
        if (Util.getShort(buf, p) != Tpm2.ALG_NULL) {  // TPMT_SYM_DEF_OBJECT: no symmetric part
            ISOException.throwIt(sw);
        }
        short scheme = Util.getShort(buf, (short) (p + 2));
        r[R_SCHEME] = scheme;
        r[R_SCHEME_HASH] = 0;
        p += 4;
        if (scheme != Tpm2.ALG_NULL) {
            need(p, end, (short) 2, sw);
            r[R_SCHEME_HASH] = Util.getShort(buf, p);
            p += 2;
        }
        need(p, end, (short) (4 + 2 * (2 + COORDINATE_LENGTH)), sw);
        if (Util.getShort(buf, p) != Tpm2.ECC_NIST_P256 || Util.getShort(buf, (short) (p + 2)) != Tpm2.ALG_NULL
                || Util.getShort(buf, (short) (p + 4)) != COORDINATE_LENGTH
                || Util.getShort(buf, (short) (p + 6 + COORDINATE_LENGTH)) != COORDINATE_LENGTH) {
            ISOException.throwIt(sw);
        }
        r[R_X_OFFSET] = (short) (p + 6);
        r[R_Y_OFFSET] = (short) (p + 8 + COORDINATE_LENGTH);
        p += (short) (4 + 2 * (2 + COORDINATE_LENGTH));
        if (p != end) {
            ISOException.throwIt(sw);
        }
    }

    /**
     * The binding key: fixedTPM, fixedParent, sensitiveDataOrigin (made in this TPM, never
     * duplicable) and decrypt; not userWithAuth (so only the policy authorises its use), not
     * restricted, not sign; scheme NULL or ECDH-SHA256; authPolicy of SHA-256 length.
     */
    void checkBindingKey(short sw) {
        short low = r[R_ATTR_LOW];
        short high = r[R_ATTR_HIGH];
        short required = (short) (ATTR_FIXED_TPM | ATTR_FIXED_PARENT | ATTR_SENSITIVE_DATA_ORIGIN);
        if ((short) (low & (short) (required | ATTR_USER_WITH_AUTH)) != required
                || (short) (high & (short) (ATTR_HIGH_RESTRICTED | ATTR_HIGH_DECRYPT | ATTR_HIGH_SIGN))
                        != ATTR_HIGH_DECRYPT
                || r[R_POLICY_LENGTH] != Constants.DIGEST_LENGTH) {
            ISOException.throwIt(sw);
        }
        short scheme = r[R_SCHEME];
        if (scheme != Tpm2.ALG_NULL && !(scheme == Tpm2.ALG_ECDH && r[R_SCHEME_HASH] == Tpm2.ALG_SHA256)) {
            ISOException.throwIt(sw);
        }
    }

    /** The AK: fixedTPM, fixedParent, sensitiveDataOrigin, restricted, sign, not decrypt, ECDSA-SHA256. */
    void checkAttestationKey(short sw) {
        short required = (short) (ATTR_FIXED_TPM | ATTR_FIXED_PARENT | ATTR_SENSITIVE_DATA_ORIGIN);
        if ((short) (r[R_ATTR_LOW] & required) != required
                || (short) (r[R_ATTR_HIGH] & (short) (ATTR_HIGH_RESTRICTED | ATTR_HIGH_DECRYPT | ATTR_HIGH_SIGN))
                        != (short) (ATTR_HIGH_RESTRICTED | ATTR_HIGH_SIGN)
                || r[R_SCHEME] != Tpm2.ALG_ECDSA || r[R_SCHEME_HASH] != Tpm2.ALG_SHA256) {
            ISOException.throwIt(sw);
        }
    }

    /** True when the last parsed public area's authPolicy equals digest[offset..offset+32). */
    boolean authPolicyEquals(byte[] buf, byte[] digest, short offset) {
        return r[R_POLICY_LENGTH] == Constants.DIGEST_LENGTH
                && Util.arrayCompare(buf, r[R_POLICY_OFFSET], digest, offset, Constants.DIGEST_LENGTH) == 0;
    }

    /** Writes the last parsed public area's point as 04 || X || Y; returns the offset after it. */
    short writePoint(byte[] buf, byte[] out, short outOffset) {
        out[outOffset] = (byte) 0x04;
        Util.arrayCopyNonAtomic(buf, r[R_X_OFFSET], out, (short) (outOffset + 1), COORDINATE_LENGTH);
        return Util.arrayCopyNonAtomic(buf, r[R_Y_OFFSET], out, (short) (outOffset + 1 + COORDINATE_LENGTH),
                COORDINATE_LENGTH);
    }

    /** Name = nameAlg (SHA-256) || SHA-256(TPMT_PUBLIC) (Part 1 §16). Returns the offset after it. */
    short computeName(byte[] buf, short offset, short length, byte[] out, short outOffset) {
        Util.setShort(out, outOffset, Tpm2.ALG_SHA256);
        sha256.reset();
        sha256.doFinal(buf, offset, length, out, (short) (outOffset + 2));
        return (short) (outOffset + Constants.NAME_LENGTH);
    }

    /**
     * The authPolicy of a key whose policy is TPM2_PolicyPCR over the SHA-256 bank with the
     * three-byte selection and pcrDigest given (Part 3 §23.7), then TPM2_PolicyAuthValue if
     * options has POLICY_OPTION_AUTH_VALUE (Part 3 §23.17):
     * <pre>  d1 = H(0^32 || TPM_CC_PolicyPCR || TPML_PCR_SELECTION || pcrDigest)
     *  d2 = H(d1 || TPM_CC_PolicyAuthValue)</pre>
     * scratch needs POLICY_SCRATCH_LENGTH bytes and must not overlap the inputs or out.
     */
    void policyDigest(byte[] selection, short selectionOffset, byte[] pcrDigest, short pcrDigestOffset,
                      byte options, byte[] out, short outOffset, byte[] scratch, short scratchOffset) {
        short p = scratchOffset;
        Util.arrayFillNonAtomic(scratch, p, (short) 34, (byte) 0);   // policyDigest_old = 0^32, CC high
        p += 34;
        Util.setShort(scratch, p, CC_POLICY_PCR);
        p += 2;
        Util.setShort(scratch, p, (short) 0);                         // TPML_PCR_SELECTION.count = 1
        Util.setShort(scratch, (short) (p + 2), (short) 1);
        Util.setShort(scratch, (short) (p + 4), Tpm2.ALG_SHA256);          // hash
        scratch[(short) (p + 6)] = (byte) 3;                           // sizeofSelect
        p = Util.arrayCopyNonAtomic(selection, selectionOffset, scratch, (short) (p + 7), (short) 3);
        p = Util.arrayCopyNonAtomic(pcrDigest, pcrDigestOffset, scratch, p, Constants.DIGEST_LENGTH);
        sha256.reset();
        sha256.doFinal(scratch, scratchOffset, (short) (p - scratchOffset), out, outOffset);
        if ((options & Constants.POLICY_OPTION_AUTH_VALUE) != 0) {
            Util.arrayCopyNonAtomic(out, outOffset, scratch, scratchOffset, Constants.DIGEST_LENGTH);
            p = (short) (scratchOffset + Constants.DIGEST_LENGTH);
            Util.setShort(scratch, p, (short) 0);
            Util.setShort(scratch, (short) (p + 2), CC_POLICY_AUTH_VALUE);
            sha256.reset();
            sha256.doFinal(scratch, scratchOffset, (short) (Constants.DIGEST_LENGTH + 4), out, outOffset);
        }
        Util.arrayFillNonAtomic(scratch, scratchOffset, POLICY_SCRATCH_LENGTH, (byte) 0);
    }

    /**
     * Parses the common part of a TPMS_ATTEST: magic must be TPM_GENERATED_VALUE (only the TPM
     * writes it into what a restricted key signs, Part 1 §36.3); qualifiedSigner and
     * firmwareVersion are skipped (see docs/binding.md for why); clockInfo is left where it is,
     * at {@link #clockInfoOffset}, for the session record.
     */
    void parseAttest(byte[] buf, short offset, short length, short sw) {
        short end = (short) (offset + length);
        short p = offset;
        need(p, end, (short) 8, sw);
        if (Util.getShort(buf, p) != Tpm2.GENERATED_HIGH || Util.getShort(buf, (short) (p + 2)) != Tpm2.GENERATED_LOW) {
            ISOException.throwIt(sw);
        }
        r[R_TYPE] = Util.getShort(buf, (short) (p + 4));
        short n = Util.getShort(buf, (short) (p + 6));          // qualifiedSigner
        p += 8;
        if (n > (short) (MAX_TPM2B_SMALL + 2)) {
            ISOException.throwIt(sw);
        }
        need(p, end, (short) (n + 2), sw);
        p += n;
        n = Util.getShort(buf, p);                              // extraData
        p += 2;
        if (n > MAX_TPM2B_SMALL) {
            ISOException.throwIt(sw);
        }
        need(p, end, (short) (n + CLOCK_AND_FIRMWARE), sw);
        r[R_EXTRA_OFFSET] = p;
        r[R_EXTRA_LENGTH] = n;
        p += (short) (n + CLOCK_AND_FIRMWARE);
        r[R_BODY_OFFSET] = p;
        r[R_BODY_END] = end;
    }

    /**
     * The offset in the parsed attestation's buffer of its TPMS_CLOCK_INFO (17 bytes: clock,
     * resetCount, restartCount, safe), which parseAttest checked is there; it follows extraData.
     */
    short clockInfoOffset() {
        return (short) (r[R_EXTRA_OFFSET] + r[R_EXTRA_LENGTH]);
    }

    /** True when the parsed attestation's extraData equals nonce[offset..offset+length). */
    boolean extraDataEquals(byte[] buf, byte[] nonce, short offset, short length) {
        return r[R_EXTRA_LENGTH] == length
                && Util.arrayCompare(buf, r[R_EXTRA_OFFSET], nonce, offset, length) == 0;
    }

    /** TPMS_CERTIFY_INFO (type ATTEST_CERTIFY): the certified Name must equal name[nameOffset..+34). */
    void checkCertify(byte[] buf, byte[] name, short nameOffset, short sw) {
        short p = r[R_BODY_OFFSET];
        short end = r[R_BODY_END];
        if (r[R_TYPE] != Tpm2.ST_ATTEST_CERTIFY) {
            ISOException.throwIt(sw);
        }
        need(p, end, (short) (2 + Constants.NAME_LENGTH + 2), sw);
        if (Util.getShort(buf, p) != Constants.NAME_LENGTH
                || Util.arrayCompare(buf, (short) (p + 2), name, nameOffset, Constants.NAME_LENGTH) != 0) {
            ISOException.throwIt(sw);
        }
        p += (short) (2 + Constants.NAME_LENGTH);
        short n = Util.getShort(buf, p);                      // qualifiedName
        p += 2;
        if (n > (short) (MAX_TPM2B_SMALL + 2) || (short) (end - p) != n) {
            ISOException.throwIt(sw);
        }
    }

    /**
     * TPMS_QUOTE_INFO (type ATTEST_QUOTE): exactly one bank, SHA-256, sizeofSelect 3, the
     * selection bitmap given, and a 32-byte pcrDigest ending the structure.
     * @return the offset of pcrDigest in buf
     */
    short checkQuote(byte[] buf, byte[] selection, short selectionOffset, short sw) {
        short p = r[R_BODY_OFFSET];
        short end = r[R_BODY_END];
        if (r[R_TYPE] != Tpm2.ST_ATTEST_QUOTE) {
            ISOException.throwIt(sw);
        }
        need(p, end, (short) (10 + 2 + Constants.DIGEST_LENGTH), sw);
        if (Util.getShort(buf, p) != 0 || Util.getShort(buf, (short) (p + 2)) != 1
                || Util.getShort(buf, (short) (p + 4)) != Tpm2.ALG_SHA256 || buf[(short) (p + 6)] != 3
                || Util.arrayCompare(buf, (short) (p + 7), selection, selectionOffset, (short) 3) != 0
                || Util.getShort(buf, (short) (p + 10)) != Constants.DIGEST_LENGTH
                || (short) (end - p) != (short) (12 + Constants.DIGEST_LENGTH)) {
            ISOException.throwIt(sw);
        }
        return (short) (p + 12);
    }
}
