package tpmcard.testcard.probe;

import javacard.framework.APDU;
import javacard.framework.Applet;
import javacard.framework.ISO7816;
import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.SystemException;
import javacard.framework.Util;
import javacard.security.CryptoException;
import javacard.security.KeyAgreement;
import javacard.security.KeyBuilder;
import javacard.security.KeyPair;
import javacard.security.MessageDigest;
import javacard.security.Signature;
import javacardx.crypto.Cipher;

/**
 * Test-only card code (tests of the simulator's card profiles, JUnit and the host's): asks the
 * card for an algorithm or for transient RAM and answers what the card said. It breaks the
 * suite's rules on purpose (it allocates in process()), so it is in no manifest of the suite;
 * tests install it from their own manifest. CLA 80:
 * Install parameters 5A || alg: asks for Signature alg at install. Commands:
 * <ul>
 * <li>INS 10, P1 kind (1 Cipher, 2 Signature, 3 MessageDigest, 4 KeyAgreement, 5 KeyBuilder
 *     key, 6 KeyPair), P2 algorithm or key type, data: key length in bits (u16, kinds 5 and 6):
 *     answers 00 (the card made it) or 01 || CryptoException reason (u16). The object is
 *     dropped and its deletion requested;</li>
 * <li>INS 20, data: length (u16): keeps a new CLEAR_ON_DESELECT byte array of that length;
 *     answers 00 or 02 || SystemException reason (u16);</li>
 * <li>INS 21: drops every kept array and requests object deletion;</li>
 * <li>INS 30: answers JCSystem.getAvailableMemory(MEMORY_TYPE_TRANSIENT_RESET) (u16).</li>
 * </ul>
 */
public final class ProfileProbeApplet extends Applet {
    private final Object[] kept = new Object[8];

    private ProfileProbeApplet() {
        register();
    }

    /**
     * Install parameters (GP: AID, control, application data): application data 5A || alg asks
     * for Signature alg during install, so that a test sees how an install the card refuses fails.
     */
    public static void install(byte[] params, short offset, byte length) {
        short at = (short) (offset + 1 + params[offset]);             // past the instance AID
        at = (short) (at + 1 + params[at]);                             // past the control information
        if (params[at] == 2 && params[(short) (at + 1)] == (byte) 0x5A) {
            Signature.getInstance(params[(short) (at + 2)], false);
        }
        new ProfileProbeApplet();
    }

    @Override
    public void process(APDU apdu) {
        if (selectingApplet()) {
            return;
        }
        byte[] buf = apdu.getBuffer();
        if (buf[ISO7816.OFFSET_CLA] != (byte) 0x80) {
            ISOException.throwIt(ISO7816.SW_CLA_NOT_SUPPORTED);
        }
        short in = apdu.setIncomingAndReceive();
        short arg = in >= 2 ? Util.getShort(buf, ISO7816.OFFSET_CDATA) : 0;
        short out;
        switch (buf[ISO7816.OFFSET_INS]) {
            case 0x10:
                out = getInstance(buf, buf[ISO7816.OFFSET_P1], buf[ISO7816.OFFSET_P2], arg);
                break;
            case 0x20:
                out = keep(buf, arg);
                break;
            case 0x21:
                for (short i = 0; i < (short) kept.length; i++) {
                    kept[i] = null;
                }
                JCSystem.requestObjectDeletion();
                out = 0;
                break;
            case 0x30:
                Util.setShort(buf, (short) 0, JCSystem.getAvailableMemory(JCSystem.MEMORY_TYPE_TRANSIENT_RESET));
                out = 2;
                break;
            default:
                ISOException.throwIt(ISO7816.SW_INS_NOT_SUPPORTED);
                return;
        }
        apdu.setOutgoingAndSend((short) 0, out);
    }

    private static short getInstance(byte[] buf, byte kind, byte algorithm, short bits) {
        Object made;
        try {
            switch (kind) {
                case 1: made = Cipher.getInstance(algorithm, false); break;
                case 2: made = Signature.getInstance(algorithm, false); break;
                case 3: made = MessageDigest.getInstance(algorithm, false); break;
                case 4: made = KeyAgreement.getInstance(algorithm, false); break;
                case 5: made = KeyBuilder.buildKey(algorithm, bits, false); break;
                case 6: made = new KeyPair(algorithm, bits); break;
                default: ISOException.throwIt(ISO7816.SW_INCORRECT_P1P2); return 0;
            }
        } catch (CryptoException e) {
            buf[0] = 1;
            Util.setShort(buf, (short) 1, e.getReason());
            return 3;
        }
        JCSystem.requestObjectDeletion();
        buf[0] = made == null ? (byte) 3 : 0;
        return 1;
    }

    private short keep(byte[] buf, short length) {
        for (short i = 0; i < (short) kept.length; i++) {
            if (kept[i] == null) {
                try {
                    kept[i] = JCSystem.makeTransientByteArray(length, JCSystem.CLEAR_ON_DESELECT);
                } catch (SystemException e) {
                    buf[0] = 2;
                    Util.setShort(buf, (short) 1, e.getReason());
                    return 3;
                }
                buf[0] = 0;
                return 1;
            }
        }
        ISOException.throwIt(ISO7816.SW_FILE_FULL);
        return 0;
    }
}
