package tpmcard.alg.sha3;

import javacard.framework.ISO7816;
import javacard.framework.ISOException;
import javacard.security.CryptoException;
import javacard.security.MessageDigest;
import tpmcard.algorithms.Sha3Software;
import tpmcard.algorithms.ProviderApplet;
import tpmcard.algorithms.ProviderConstants;

/**
 * SHA3-256 (FIPS 202) through MessageDigest.ALG_SHA3_256 where the card has it, else through
 * {@code Sha3Software} (Keccak-f[1600] in byte arithmetic), chosen at install and reported in the
 * descriptor: one-shot, and streamed for long data.
 */
public final class Sha3Provider extends ProviderApplet {
    public static final byte VERSION_MAJOR = 1;
    public static final byte VERSION_MINOR = 0;

    /** Transient RAM checked at install: the least it takes on any card (250 bytes, software SHA3), SuiteRamTest. */
    public static final short TRANSIENT_BYTES = 240;

    private final MessageDigest digest;

    private Sha3Provider(byte[] bArray, short bOffset, byte bLength) {
        super(ProviderConstants.ALG_SHA3_256, VERSION_MAJOR, VERSION_MINOR,
                (short) (ProviderConstants.CAP_DIGEST | ProviderConstants.CAP_STREAM), TRANSIENT_BYTES,
                bArray, bOffset, bLength);
        MessageDigest d = null;
        if (!softwareRequested) {
            try {
                d = MessageDigest.getInstance(MessageDigest.ALG_SHA3_256, true);
            } catch (CryptoException e) {
                if (e.getReason() != CryptoException.NO_SUCH_ALGORITHM) {
                    CryptoException.throwIt(e.getReason());
                }
            }
        }
        digest = d != null ? d : new Sha3Software();
        setImplementation(d == null);
    }

    public static void install(byte[] bArray, short bOffset, byte bLength) {
        new Sha3Provider(bArray, bOffset, bLength).registerFromInstall(bArray, bOffset);
    }

    protected short operate(byte ins, byte p1, byte p2, byte[] in, short inOffset, short inLength,
            byte[] out, short outOffset) {
        if (ins != ProviderConstants.INS_DIGEST) {
            ISOException.throwIt(ISO7816.SW_INS_NOT_SUPPORTED);
        }
        if (p1 != 0 || p2 != 0) {
            ISOException.throwIt(ISO7816.SW_INCORRECT_P1P2);
        }
        digest.reset();
        return digest.doFinal(in, inOffset, inLength, out, outOffset);
    }

    protected short streamInit(byte op, byte[] in, short inOffset, short inLength) {
        if (op != ProviderConstants.INS_DIGEST) {
            ISOException.throwIt(ISO7816.SW_INCORRECT_P1P2);
        }
        if (inLength != 0) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
        digest.reset();
        return 0;
    }

    protected void streamUpdate(byte op, short slot, byte[] in, short inOffset, short inLength) {
        digest.update(in, inOffset, inLength);
    }

    protected short streamFinal(byte op, short slot, byte[] in, short inOffset, short inLength,
            byte[] out, short outOffset) {
        return digest.doFinal(in, inOffset, inLength, out, outOffset);
    }
}
