package tpmcard.sim;

import javacard.framework.APDU;
import javacard.framework.Applet;
import javacard.framework.ISO7816;
import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.OwnerPIN;
import javacard.framework.Util;
import javacard.security.AESKey;
import javacard.security.KeyBuilder;
import javacardx.crypto.Cipher;

/**
 * A test applet for the card store (tests/sim/test_transport_jcardsim.py), never in the suite
 * manifest: it exposes persistent state (a counter, a PIN retry counter) and RAM (transient
 * arrays, a transient AES session key) so tests can check what survives a power cycle and what
 * reaches the disk.
 *
 * <pre>
 *   80 20 00 00 Lc PIN   VERIFY (PIN 31 32 33 34, 3 tries): 9000 or 63Cx
 *   80 21 00 00 Lc data  put data in both transient arrays (CLEAR_ON_DESELECT, CLEAR_ON_RESET)
 *                        and a persistent copy of its first byte; counter++; returns counter
 *   80 22 00 00          read both transient arrays (64 bytes each)
 *   80 24 00 00          counter (2 bytes) || PIN tries left (1 byte)
 *   80 25 00 00 10 key   session key: transient AES key := key, cipher initialised with it
 *   80 26 00 00 10 blk   encrypt one block with the session cipher (6985 if not initialised)
 * </pre>
 */
public final class StoreProbeApplet extends Applet {
    private static final short RAM = 64;
    private final OwnerPIN pin = new OwnerPIN((byte) 3, (byte) 8);
    private final byte[] deselectRam = JCSystem.makeTransientByteArray(RAM, JCSystem.CLEAR_ON_DESELECT);
    private final byte[] resetRam = JCSystem.makeTransientByteArray(RAM, JCSystem.CLEAR_ON_RESET);
    private final AESKey sessionKey = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES_TRANSIENT_DESELECT,
            KeyBuilder.LENGTH_AES_128, false);
    private final Cipher sessionCipher = Cipher.getInstance(Cipher.ALG_AES_BLOCK_128_ECB_NOPAD, false);
    private final byte[] persistent = new byte[1];
    private short counter;

    private StoreProbeApplet() {
        pin.update(new byte[] {0x31, 0x32, 0x33, 0x34}, (short) 0, (byte) 4);
    }

    public static void install(byte[] bArray, short bOffset, byte bLength) {
        new StoreProbeApplet().register(bArray, (short) (bOffset + 1), bArray[bOffset]);
    }

    @Override
    public void process(APDU apdu) {
        if (selectingApplet()) {
            return;
        }
        byte[] buf = apdu.getBuffer();
        switch (buf[ISO7816.OFFSET_INS]) {
            case 0x20: {
                short n = apdu.setIncomingAndReceive();
                if (!pin.check(buf, ISO7816.OFFSET_CDATA, (byte) n)) {
                    ISOException.throwIt((short) (0x63C0 | pin.getTriesRemaining()));
                }
                return;
            }
            case 0x21: {
                short n = apdu.setIncomingAndReceive();
                if (n > RAM) {
                    ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
                }
                Util.arrayCopyNonAtomic(buf, ISO7816.OFFSET_CDATA, deselectRam, (short) 0, n);
                Util.arrayCopyNonAtomic(buf, ISO7816.OFFSET_CDATA, resetRam, (short) 0, n);
                persistent[0] = buf[ISO7816.OFFSET_CDATA];
                counter++;
                Util.setShort(buf, (short) 0, counter);
                apdu.setOutgoingAndSend((short) 0, (short) 2);
                return;
            }
            case 0x22:
                Util.arrayCopyNonAtomic(deselectRam, (short) 0, buf, (short) 0, RAM);
                Util.arrayCopyNonAtomic(resetRam, (short) 0, buf, RAM, RAM);
                apdu.setOutgoingAndSend((short) 0, (short) (2 * RAM));
                return;
            case 0x24:
                Util.setShort(buf, (short) 0, counter);
                buf[2] = pin.getTriesRemaining();
                apdu.setOutgoingAndSend((short) 0, (short) 3);
                return;
            case 0x25:
                if (apdu.setIncomingAndReceive() != 16) {
                    ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
                }
                sessionKey.setKey(buf, ISO7816.OFFSET_CDATA);
                sessionCipher.init(sessionKey, Cipher.MODE_ENCRYPT);
                return;
            case 0x26: {
                if (apdu.setIncomingAndReceive() != 16) {
                    ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
                }
                short n;
                try {
                    n = sessionCipher.doFinal(buf, ISO7816.OFFSET_CDATA, (short) 16, buf, (short) 0);
                } catch (RuntimeException e) {  // CryptoException: not initialised, key cleared
                    ISOException.throwIt(ISO7816.SW_CONDITIONS_NOT_SATISFIED);
                    return;
                }
                apdu.setOutgoingAndSend((short) 0, n);
                return;
            }
            default:
                ISOException.throwIt(ISO7816.SW_INS_NOT_SUPPORTED);
        }
    }
}
