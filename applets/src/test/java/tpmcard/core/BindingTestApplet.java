package tpmcard.core;

import javacard.framework.APDU;
import javacard.framework.Applet;
import javacard.framework.ISO7816;
import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.Util;
import javacard.security.ECPrivateKey;
import javacard.security.ECPublicKey;
import javacard.security.KeyBuilder;
import javacard.security.KeyPair;
import javacardx.apdu.ExtendedLength;

/**
 * Test-only applet around BindingHandler, and the reference for how CoreApplet.process() is to
 * dispatch to it (docs/binding.md "Integration"). No command chaining here: tests send extended
 * APDUs. Commands: GET DATA 7F49 (identity point), ECHO (80 EE), and every binding command.
 */
public class BindingTestApplet extends Applet implements ExtendedLength {
    private static final short BUFFER = (short) (BindingConstants.SM_MAX_PAYLOAD + BindingConstants.SM_OVERHEAD + 8);

    private final BindingHandler binding;
    private final byte[] point = new byte[65];
    private final byte[] command;
    private final byte[] response;

    public static void install(byte[] bArray, short bOffset, byte bLength) {
        new BindingTestApplet().register();
    }

    protected BindingTestApplet() {
        ECPublicKey pub = (ECPublicKey) KeyBuilder.buildKey(KeyBuilder.TYPE_EC_FP_PUBLIC, P256.KEY_LENGTH, false);
        ECPrivateKey priv = (ECPrivateKey) KeyBuilder.buildKey(KeyBuilder.TYPE_EC_FP_PRIVATE, P256.KEY_LENGTH, false);
        P256.setDomainParameters(pub);
        P256.setDomainParameters(priv);
        new KeyPair(pub, priv).genKeyPair();
        pub.getW(point, (short) 0);
        binding = new BindingHandler(priv, pub, null, (short) 0, (byte) 0, null, (short) 0, (byte) 0);
        command = JCSystem.makeTransientByteArray(BUFFER, JCSystem.CLEAR_ON_DESELECT);
        response = JCSystem.makeTransientByteArray(BUFFER, JCSystem.CLEAR_ON_DESELECT);
    }

    public void deselect() {
        binding.deselect();
    }

    public void process(APDU apdu) {
        if (selectingApplet()) {
            return;
        }
        byte[] header = apdu.getBuffer();
        byte cla = header[ISO7816.OFFSET_CLA];
        byte ins = header[ISO7816.OFFSET_INS];
        byte p1 = header[ISO7816.OFFSET_P1];
        byte p2 = header[ISO7816.OFFSET_P2];
        short length = receive(apdu);

        short sw = ISO7816.SW_NO_ERROR;
        short out = 0;
        try {
            binding.beginCommand(cla, ins);
            if (BindingHandler.isSecureMessaging(cla)) {
                length = binding.unwrapCommand(cla, ins, p1, p2, command, (short) 0, length);
                short inner = ISO7816.SW_NO_ERROR;
                try {
                    out = dispatch((byte) (cla & ~BindingConstants.CLA_SECURE_MESSAGING), ins, p1, p2, length);
                } catch (ISOException e) {
                    inner = e.getReason();
                    out = 0;
                } catch (RuntimeException e) {
                    inner = ISO7816.SW_UNKNOWN;
                    out = 0;
                }
                if (JCSystem.getTransactionDepth() != 0) {
                    JCSystem.abortTransaction();
                }
                out = binding.wrapResponse(response, (short) 0, out, inner);
            } else {
                out = dispatch(cla, ins, p1, p2, length);
            }
        } catch (ISOException e) {
            sw = e.getReason();
            out = 0;
        } catch (RuntimeException e) {
            sw = ISO7816.SW_UNKNOWN;
            out = 0;
        }
        if (sw != ISO7816.SW_NO_ERROR && JCSystem.getTransactionDepth() != 0) {
            JCSystem.abortTransaction();
        }
        if (sw == ISO7816.SW_NO_ERROR && out > 0) {
            apdu.setOutgoing();
            apdu.setOutgoingLength(out);
            apdu.sendBytesLong(response, (short) 0, out);
        }
        if (sw != ISO7816.SW_NO_ERROR) {
            ISOException.throwIt(sw);
        }
    }

    private short receive(APDU apdu) {
        short received = apdu.setIncomingAndReceive();
        short offset = apdu.getOffsetCdata();
        short total = 0;
        while (received > 0) {
            if ((short) (total + received) > BUFFER) {
                ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
            }
            Util.arrayCopyNonAtomic(apdu.getBuffer(), offset, command, total, received);
            total += received;
            received = apdu.receiveBytes(offset);
        }
        return total;
    }

    private static void requireClass(byte cla, byte expected) {
        if ((byte) (cla & ~Constants.CLA_CHAINING_BIT) != expected) {
            ISOException.throwIt(ISO7816.SW_CLA_NOT_SUPPORTED);
        }
    }

    private short dispatch(byte cla, byte ins, byte p1, byte p2, short length) {
        byte[] in = command;
        byte[] out = response;
        switch (ins) {
            case BindingConstants.INS_GET_CHALLENGE:
                requireClass(cla, Constants.CLA_ISO);
                return binding.getChallenge(in, (short) 0, length, p1, p2, out, (short) 0);
            case BindingConstants.INS_VERIFY:
                requireClass(cla, Constants.CLA_ISO);
                return binding.verifyStatus(in, (short) 0, length, p1, p2, out, (short) 0);
            case Constants.INS_GET_DATA:
                requireClass(cla, Constants.CLA_ISO);
                if (p1 != 0x7F || p2 != 0x49) {
                    ISOException.throwIt(Constants.SW_REFERENCED_DATA_NOT_FOUND);
                }
                out[0] = 0x7F;
                out[1] = 0x49;
                out[2] = 0x43;
                out[3] = (byte) 0x86;
                out[4] = 0x41;
                Util.arrayCopyNonAtomic(point, (short) 0, out, (short) 5, (short) 65);
                return 70;
            default:
                break;
        }
        requireClass(cla, Constants.CLA_PROPRIETARY);
        switch (ins) {
            case Constants.INS_ECHO:
                Util.arrayCopyNonAtomic(in, (short) 0, out, (short) 0, length);
                return length;
            case BindingConstants.INS_CHANGE_REFERENCE_DATA:
                return binding.changeReferenceData(in, (short) 0, length, p1, p2, out, (short) 0);
            case BindingConstants.INS_RESET_RETRY_COUNTER:
                return binding.resetRetryCounter(in, (short) 0, length, p1, p2, out, (short) 0);
            case BindingConstants.INS_PAIR:
                return binding.pair(in, (short) 0, length, p1, p2, out, (short) 0);
            case BindingConstants.INS_LIST_PAIRINGS:
                return binding.listPairings(in, (short) 0, length, p1, p2, out, (short) 0);
            case BindingConstants.INS_UNPAIR:
                return binding.unpair(in, (short) 0, length, p1, p2, out, (short) 0);
            case BindingConstants.INS_SESSION_INIT:
                return binding.sessionInit(in, (short) 0, length, p1, p2, out, (short) 0);
            case BindingConstants.INS_SESSION_AUTH:
                return binding.sessionAuth(in, (short) 0, length, p1, p2, out, (short) 0);
            case BindingConstants.INS_SESSION_CLOSE:
                return binding.sessionClose(in, (short) 0, length, p1, p2, out, (short) 0);
            default:
                ISOException.throwIt(ISO7816.SW_INS_NOT_SUPPORTED);
                return 0;
        }
    }
}
