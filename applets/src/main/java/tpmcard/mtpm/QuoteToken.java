package tpmcard.mtpm;

import javacard.framework.ISOException;
import javacard.framework.Util;
import tpmcard.core.HostPcrs;

/**
 * Quotes in formats a TPM cannot produce (issue 12, 1.c; docs/quote-formats.md): the card builds
 * the whole to-be-signed content itself, from fixed templates, the caller's nonce, its own identity
 * (UEID = 01 || SHA-256(EK TPMT_PUBLIC)) and the PCR selection and composite digest of its
 * verified combined view; the AK signs it. The host supplies only the selection and the nonce, so
 * the AK never signs host-chosen bytes (which would let the host forge TPM quotes).
 *
 * <ul>
 * <li>JWT (RFC 7519, JWS RFC 7515 compact, ES256): the JWS signing input
 * {@code base64url(header) '.' base64url(claims)}.</li>
 * <li>EAT (RFC 9711) as a COSE_Sign1 CWT (RFC 9052, ES256): the Sig_structure
 * {@code ["Signature1", h'A10126', h'', payload]}, payload the claims map.</li>
 * </ul>
 *
 * Everything is written to {@code out} only, no RAM of its own: the JSON claims are built where
 * their encoding goes and then base64url-encoded in place (moved up by a third of their length
 * first, so the encoding never overtakes what it reads). CBOR heads use the shortest form
 * (RFC 8949 preferred serialization), as a verifier re-encodes the Sig_structure.
 */
final class QuoteToken {
    private QuoteToken() {}

    /** UEID type RAND (RFC 9711 §4.2.1) followed by 32 bytes. */
    static final short UEID_LENGTH = 33;
    static final byte UEID_TYPE_RAND = (byte) 0x01;

    // {"alg":"ES256","typ":"JWT"}
    private static final byte[] JWT_HEADER = {
        '{', '"', 'a', 'l', 'g', '"', ':', '"', 'E', 'S', '2', '5', '6', '"', ',',
        '"', 't', 'y', 'p', '"', ':', '"', 'J', 'W', 'T', '"', '}',
    };
    // {"iss":"tpmcard-mtpm","ueid":"
    private static final byte[] JSON_UEID = {
        '{', '"', 'i', 's', 's', '"', ':', '"', 't', 'p', 'm', 'c', 'a', 'r', 'd', '-', 'm', 't', 'p', 'm', '"',
        ',', '"', 'u', 'e', 'i', 'd', '"', ':', '"',
    };
    // ","eat_nonce":"
    private static final byte[] JSON_NONCE = {
        '"', ',', '"', 'e', 'a', 't', '_', 'n', 'o', 'n', 'c', 'e', '"', ':', '"',
    };
    // ","pcrs":[
    private static final byte[] JSON_PCRS = {'"', ',', '"', 'p', 'c', 'r', 's', '"', ':', '['};
    // ],"pcr_digest":"
    private static final byte[] JSON_DIGEST = {
        ']', ',', '"', 'p', 'c', 'r', '_', 'd', 'i', 'g', 'e', 's', 't', '"', ':', '"',
    };
    /** Sig_structure head: array(4), tstr "Signature1", protected bstr {1: -7}, external_aad h''. */
    private static final byte[] SIG_STRUCTURE_HEAD = {
        (byte) 0x84, (byte) 0x6A, 'S', 'i', 'g', 'n', 'a', 't', 'u', 'r', 'e', '1',
        (byte) 0x43, (byte) 0xA1, (byte) 0x01, (byte) 0x26, (byte) 0x40,
    };
    /** Claims map(5), iss (1): "tpmcard-mtpm", then eat_nonce (10). */
    private static final byte[] CBOR_ISS = {
        (byte) 0xA5, (byte) 0x01, (byte) 0x6C, 't', 'p', 'm', 'c', 'a', 'r', 'd', '-', 'm', 't', 'p', 'm', (byte) 0x0A,
    };
    /** ueid (256): bstr 33. */
    private static final byte[] CBOR_UEID = {(byte) 0x19, (byte) 0x01, (byte) 0x00, (byte) 0x58, (byte) UEID_LENGTH};
    private static final byte[] CBOR_PCRS = {(byte) 0x64, 'p', 'c', 'r', 's'};
    /** "pcr_digest": bstr 32. */
    private static final byte[] CBOR_DIGEST = {
        (byte) 0x6A, 'p', 'c', 'r', '_', 'd', 'i', 'g', 'e', 's', 't', (byte) 0x58, (byte) 0x20,
    };
    private static final byte CBOR_BYTES = (byte) 0x40;
    private static final byte CBOR_ARRAY = (byte) 0x80;

    /**
     * The JWS signing input at out[off]; returns the offset after it. Uses out[off..end) only;
     * {@code ueid} 33 bytes, {@code digest} 32.
     */
    static short jwtSigningInput(byte[] ueid, short ueidOff, byte[] selection, short selectionOff,
                                 byte[] nonce, short nonceOff, short nonceLength, byte[] digest, short digestOff,
                                 byte[] out, short off) {
        short at = put(JWT_HEADER, out, off);
        at = base64urlInPlace(out, off, (short) (at - off));
        out[at++] = (byte) '.';
        short claims = at;
        at = put(JSON_UEID, out, at);
        at = base64url(ueid, ueidOff, UEID_LENGTH, out, at);
        at = put(JSON_NONCE, out, at);
        at = base64url(nonce, nonceOff, nonceLength, out, at);
        at = put(JSON_PCRS, out, at);
        boolean first = true;
        for (short i = 0; i < Constants.PCR_COUNT; i++) {
            if (Pcrs.selected(selection, selectionOff, i)) {
                if (!first) {
                    out[at++] = (byte) ',';
                }
                first = false;
                if (i >= 10) {
                    out[at++] = (byte) ('0' + i / 10);
                }
                out[at++] = (byte) ('0' + i % 10);
            }
        }
        at = put(JSON_DIGEST, out, at);
        at = base64url(digest, digestOff, Constants.DIGEST_LENGTH, out, at);
        out[at++] = (byte) '"';
        out[at++] = (byte) '}';
        return base64urlInPlace(out, claims, (short) (at - claims));
    }

    /** The COSE Sig_structure ("Signature1") at out[off]; returns the offset after it. */
    static short eatSigStructure(byte[] ueid, short ueidOff, byte[] selection, short selectionOff,
                                 byte[] nonce, short nonceOff, short nonceLength, byte[] digest, short digestOff,
                                 byte[] out, short off) {
        short at = put(SIG_STRUCTURE_HEAD, out, off);
        // payload = bstr(claims): every claims map is 24..255 bytes long (docs/quote-formats.md).
        short lengthAt = (short) (at + 1);
        out[at] = (byte) 0x58;
        at += 2;
        short claims = at;
        at = put(CBOR_ISS, out, at);
        at = head(CBOR_BYTES, nonceLength, out, at);
        at = Util.arrayCopyNonAtomic(nonce, nonceOff, out, at, nonceLength);
        at = put(CBOR_UEID, out, at);
        at = Util.arrayCopyNonAtomic(ueid, ueidOff, out, at, UEID_LENGTH);
        at = put(CBOR_PCRS, out, at);
        short count = 0;
        for (short i = 0; i < Constants.PCR_COUNT; i++) {
            if (Pcrs.selected(selection, selectionOff, i)) {
                count++;
            }
        }
        at = head(CBOR_ARRAY, count, out, at);
        for (short i = 0; i < Constants.PCR_COUNT; i++) {
            if (Pcrs.selected(selection, selectionOff, i)) {
                at = head((byte) 0x00, i, out, at);  // unsigned integer
            }
        }
        at = put(CBOR_DIGEST, out, at);
        at = Util.arrayCopyNonAtomic(digest, digestOff, out, at, Constants.DIGEST_LENGTH);
        out[lengthAt] = (byte) (at - claims);
        return at;
    }

    private static short put(byte[] template, byte[] out, short off) {
        return Util.arrayCopyNonAtomic(template, (short) 0, out, off, (short) template.length);
    }

    /** A CBOR head of major type {@code major} (already shifted) with argument 0..255, shortest form. */
    private static short head(byte major, short value, byte[] out, short off) {
        if (value < 24) {
            out[off++] = (byte) (major | value);
        } else {
            out[off++] = (byte) (major | 24);
            out[off++] = (byte) value;
        }
        return off;
    }

    /** base64url without padding (RFC 4648 §5) of in[off..+len) at out[outOff]; returns the end. */
    static short base64url(byte[] in, short off, short len, byte[] out, short outOff) {
        short end = (short) (off + len);
        while (off < end) {
            // All input bytes of a group are read before any output of it is written.
            short remaining = (short) (end - off);
            short b0 = (short) (in[off] & 0xFF);
            short b1 = remaining > 1 ? (short) (in[(short) (off + 1)] & 0xFF) : 0;
            short b2 = remaining > 2 ? (short) (in[(short) (off + 2)] & 0xFF) : 0;
            off += 3;
            out[outOff++] = symbol((short) (b0 >> 2));
            out[outOff++] = symbol((short) (((b0 & 0x03) << 4) | (b1 >> 4)));
            if (remaining > 1) {
                out[outOff++] = symbol((short) (((b1 & 0x0F) << 2) | (b2 >> 6)));
            }
            if (remaining > 2) {
                out[outOff++] = symbol((short) (b2 & 0x3F));
            }
        }
        return outOff;
    }

    /**
     * Replaces out[off..+len) by its base64url encoding; returns the end. The input is moved up by
     * ceil(len / 3) first: group k is read from off + g + 3k and written to off + 4k, which stays
     * below what is still to be read while g >= k + 1.
     */
    static short base64urlInPlace(byte[] out, short off, short len) {
        short gap = (short) ((short) (len + 2) / 3);
        Util.arrayCopyNonAtomic(out, off, out, (short) (off + gap), len);
        return base64url(out, (short) (off + gap), len, out, off);
    }

    private static byte symbol(short v) {
        if (v < 26) {
            return (byte) ('A' + v);
        }
        if (v < 52) {
            return (byte) ('a' + v - 26);
        }
        if (v < 62) {
            return (byte) ('0' + v - 52);
        }
        return v == 62 ? (byte) '-' : (byte) '_';
    }

    /**
     * P1 = FORMAT_JWT / FORMAT_EAT, in = selection 3 || nonce 8..64; out = length 2 || the
     * to-be-signed content the card built (JWS signing input, or COSE Sig_structure) || DER ECDSA
     * signature by the AK. Only the selection and nonce come from the host (docs/quote-formats.md).
     * MtpmApplet's QUOTE TOKEN handler.
     */
    static short command(byte p1, byte[] in, short off, short len, byte[] out, short outOff, HostPcrs host,
                         byte[] slot, short slotOff, Keys keys, Pcrs pcrs, Cursor cursor, byte[] scratch) {
        if (p1 != Constants.FORMAT_JWT && p1 != Constants.FORMAT_EAT) {
            ISOException.throwIt(Constants.SW_INCORRECT_P1P2);
        }
        cursor.begin(off, len);
        short selection = cursor.take(Constants.SELECTION_LENGTH);
        Pcrs.checkSelection(in, selection);
        short nonceLength = cursor.remaining();
        if (nonceLength < Constants.MIN_TOKEN_NONCE || nonceLength > Constants.MAX_NONCE) {
            ISOException.throwIt(Constants.SW_WRONG_LENGTH);
        }
        short nonce = cursor.rest();
        // The digest first: the PCR slot may be the answer's place.
        pcrs.compositeDigest(in, selection, host, slot, slotOff, scratch, (short) 0);
        short start = (short) (outOff + 2);
        short end = p1 == Constants.FORMAT_JWT
                ? jwtSigningInput(keys.ueid, (short) 0, in, selection, in, nonce, nonceLength, scratch,
                        (short) 0, out, start)
                : eatSigStructure(keys.ueid, (short) 0, in, selection, in, nonce, nonceLength, scratch,
                        (short) 0, out, start);
        short length = (short) (end - start);
        Util.setShort(out, outOff, length);
        return (short) (2 + length + keys.sign(keys.ak, out, start, length, out, end));
    }
}
