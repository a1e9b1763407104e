package tpmcard.core;

import javacard.framework.APDU;
import javacard.framework.Applet;
import javacard.framework.ISO7816;
import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.Util;
import javacardx.apdu.ExtendedLength;

/**
 * The suite's core applet: card information (SELECT), the card identity public key (GET DATA
 * 7F49) and ECHO, a transport check for extended length, command chaining and response
 * chaining. The command reference is docs/core-applet.md.
 *
 * <p>process() is the only place that catches exceptions: every error status word aborts an open
 * transaction and drops any chain and pending response, so the card answers normally afterwards.
 */
public class CoreApplet extends Applet implements ExtendedLength {
    private final ApduIo io;
    private final Identity identity;
    private final short features;

    /**
     * Install parameters, JavaCard Applet.install / GlobalPlatform INSTALL [for install]:
     * {@code [len AID][AID][len control][control][len params][params]}; params are 0..32 bytes of
     * install-time entropy for the identity key (more: install fails).
     */
    public static void install(byte[] bArray, short bOffset, byte bLength) {
        new CoreApplet(bArray, bOffset, bLength, true);
    }

    /**
     * @param preferRam false only for tests of the persistent-buffer fallback
     */
    protected CoreApplet(byte[] bArray, short bOffset, byte bLength, boolean preferRam) {
        short end = (short) (bOffset + (bLength & 0xFF));
        short aidOffset = 0;
        byte aidLength = 0;
        short entropyOffset = 0;
        short entropyLength = 0;
        if (bLength != 0) {
            aidLength = bArray[bOffset];
            aidOffset = (short) (bOffset + 1);
            short offset = (short) (aidOffset + (aidLength & 0xFF));
            if (offset < end) {
                offset = (short) (offset + 1 + (bArray[offset] & 0xFF));   // skip control info
            }
            if (offset < end) {
                entropyLength = (short) (bArray[offset] & 0xFF);
                entropyOffset = (short) (offset + 1);
            }
            if ((short) (entropyOffset + entropyLength) > end || offset > end
                    || entropyLength > Constants.MAX_INSTALL_ENTROPY) {
                ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
            }
        }

        io = new ApduIo(Constants.MAX_COMMAND_DATA, preferRam);
        // CLEAR_ON_RESET: the only kind of RAM an applet may touch while it is being installed.
        byte[] scratch = JCSystem.makeTransientByteArray(Identity.SCRATCH_LENGTH, JCSystem.CLEAR_ON_RESET);
        identity = new Identity(bArray, entropyOffset, entropyLength, scratch);

        short bits = (short) (Constants.FEATURE_EXTENDED_LENGTH | Constants.FEATURE_COMMAND_CHAINING
                | Constants.FEATURE_RESPONSE_CHAINING);
        if (io.isCommandBufferInRam()) {
            bits |= Constants.FEATURE_COMMAND_BUFFER_IN_RAM;
        }
        if (io.isResponseBufferInRam()) {
            bits |= Constants.FEATURE_RESPONSE_BUFFER_IN_RAM;
        }
        if (identity.isDerived()) {
            bits |= Constants.FEATURE_IDENTITY_KEY_DERIVED;
        }
        features = bits;

        if (aidLength == 0) {
            register();
        } else {
            register(bArray, aidOffset, aidLength);
        }
    }

    public void process(APDU apdu) {
        byte[] header = apdu.getBuffer();
        short sw = ISO7816.SW_NO_ERROR;
        try {
            if (selectingApplet()) {
                io.reset();
                io.receive(apdu, false);
                sw = io.send(apdu, writeInfo(io.responseBuffer()));
            } else {
                byte claClass = (byte) (header[ISO7816.OFFSET_CLA] & ~Constants.CLA_CHAINING_BIT);
                if (claClass != Constants.CLA_ISO && claClass != Constants.CLA_PROPRIETARY) {
                    ISOException.throwIt(ISO7816.SW_CLA_NOT_SUPPORTED);
                }
                if (io.isChainInProgress() && !io.isChainContinuation(header)) {
                    ISOException.throwIt(Constants.SW_LAST_COMMAND_EXPECTED);
                }
                byte ins = header[ISO7816.OFFSET_INS];
                if (ins != Constants.INS_GET_RESPONSE) {
                    io.discardResponse();
                }
                short length = ApduIo.CHAIN_CONTINUES;
                switch (ins) {
                    case Constants.INS_ECHO:
                        length = echo(apdu, claClass);
                        break;
                    case Constants.INS_GET_DATA:
                        length = getData(apdu, claClass);
                        break;
                    case Constants.INS_GET_RESPONSE:
                        checkGetResponse(apdu, claClass);
                        sw = io.sendRemaining(apdu);
                        break;
                    case Constants.INS_SELECT:
                        // A SELECT the JCRE did not resolve to an applet (other P1, unknown AID,
                        // or an extended SELECT in jCardSim) reaches the selected applet.
                        requireClass(claClass, Constants.CLA_ISO);
                        ISOException.throwIt(ISO7816.SW_FILE_NOT_FOUND);
                        break;
                    default:
                        ISOException.throwIt(ISO7816.SW_INS_NOT_SUPPORTED);
                }
                if (length >= 0) {
                    sw = io.send(apdu, length);
                }
            }
        } catch (ISOException e) {
            sw = e.getReason();
        } catch (RuntimeException e) {
            // CryptoException, APDUException, SystemException, array bounds: a fault, not a
            // protocol answer. (CardRuntimeException and its subclasses are RuntimeExceptions.)
            sw = ISO7816.SW_UNKNOWN;
        }
        if (sw != ISO7816.SW_NO_ERROR
                && (short) (sw & (short) 0xFF00) != Constants.SW_BYTES_REMAINING_00) {
            if (JCSystem.getTransactionDepth() != 0) {
                JCSystem.abortTransaction();
            }
            io.reset();
        }
        if (sw != ISO7816.SW_NO_ERROR) {
            ISOException.throwIt(sw);
        }
    }

    /** ECHO: the command data back, unchanged. Returns the response length or CHAIN_CONTINUES. */
    private short echo(APDU apdu, byte claClass) {
        requireClass(claClass, Constants.CLA_PROPRIETARY);
        requireNoParameters(apdu.getBuffer());
        short length = io.receive(apdu, true);
        if (length > 0) {
            Util.arrayCopyNonAtomic(io.commandBuffer(), (short) 0, io.responseBuffer(), (short) 0, length);
        }
        return length;
    }

    /** GET DATA 7F49: the identity public key as {@code 7F49 43 { 86 41 04||X||Y }}. */
    private short getData(APDU apdu, byte claClass) {
        requireClass(claClass, Constants.CLA_ISO);
        byte[] header = apdu.getBuffer();
        if (Util.getShort(header, ISO7816.OFFSET_P1) != Constants.DO_IDENTITY_KEY) {
            ISOException.throwIt(Constants.SW_REFERENCED_DATA_NOT_FOUND);
        }
        requireNoData(io.receive(apdu, false));

        byte[] out = io.responseBuffer();
        short offset = Util.setShort(out, (short) 0, Constants.TAG_PUBLIC_KEY);
        out[offset++] = (byte) (2 + Constants.EC_POINT_LENGTH);
        out[offset++] = Constants.TAG_EC_POINT;
        out[offset++] = (byte) Constants.EC_POINT_LENGTH;
        return identity.writePublicPoint(out, offset);
    }

    private void checkGetResponse(APDU apdu, byte claClass) {
        requireClass(claClass, Constants.CLA_ISO);
        requireNoParameters(apdu.getBuffer());
        requireNoData(io.receive(apdu, false));
    }

    /** The SELECT response: {@code A1 L { 80 card id | 81 version | 82 features | 83 | 84 }}. */
    private short writeInfo(byte[] out) {
        short offset = 0;
        out[offset++] = Constants.TAG_INFO_TEMPLATE;
        offset++;   // length, below
        out[offset++] = Constants.TAG_CARD_ID;
        out[offset++] = (byte) Constants.CARD_ID_LENGTH;
        offset = identity.writeCardId(out, offset);
        out[offset++] = Constants.TAG_APPLET_VERSION;
        out[offset++] = (byte) 2;
        out[offset++] = Constants.VERSION_MAJOR;
        out[offset++] = Constants.VERSION_MINOR;
        offset = writeShortObject(out, offset, Constants.TAG_FEATURES, features);
        offset = writeShortObject(out, offset, Constants.TAG_MAX_COMMAND, Constants.MAX_COMMAND_DATA);
        offset = writeShortObject(out, offset, Constants.TAG_MAX_RESPONSE, Constants.MAX_RESPONSE_DATA);
        out[1] = (byte) (offset - 2);
        return offset;
    }

    private static short writeShortObject(byte[] out, short offset, byte tag, short value) {
        out[offset++] = tag;
        out[offset++] = (byte) 2;
        return Util.setShort(out, offset, value);
    }

    /** Each INS belongs to one class: ISO (00) or proprietary (80). Anything else: 6E00. */
    private static void requireClass(byte claClass, byte expected) {
        if (claClass != expected) {
            ISOException.throwIt(ISO7816.SW_CLA_NOT_SUPPORTED);
            return;
        }
    }

    private static void requireNoParameters(byte[] header) {
        if (header[ISO7816.OFFSET_P1] != Constants.P1_NONE || header[ISO7816.OFFSET_P2] != Constants.P2_NONE) {
            ISOException.throwIt(ISO7816.SW_INCORRECT_P1P2);
            return;
        }
    }

    private static void requireNoData(short length) {
        if (length != 0) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
            return;
        }
    }
}
