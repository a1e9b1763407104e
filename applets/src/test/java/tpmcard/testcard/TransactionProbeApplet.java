package tpmcard.testcard;

import javacard.framework.APDU;
import javacard.framework.Applet;
import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.TransactionException;
import javacard.framework.Util;

/** Test-only card code (rewritten like the suite's): transactions the simulator must roll back. */
public final class TransactionProbeApplet extends Applet {
    private short counter;
    private final byte[] data = new byte[8];
    private final byte[] big = new byte[6000];

    public static void install(byte[] bArray, short bOffset, byte bLength) {
        new TransactionProbeApplet().register();
    }

    public void process(APDU apdu) {
        if (selectingApplet()) {
            return;
        }
        byte[] buf = apdu.getBuffer();
        switch (buf[1]) {
            case 0x01:  // a transaction left open by an uncaught exception: the JCRE aborts it
                JCSystem.beginTransaction();
                counter++;
                data[0] = (byte) 0x11;
                Util.arrayCopy(buf, (short) 0, data, (short) 1, (short) 4);
                ISOException.throwIt((short) 0x6F01);
                return;
            case 0x02:  // read: counter 2 || data 8
                Util.setShort(buf, (short) 0, counter);
                Util.arrayCopyNonAtomic(data, (short) 0, buf, (short) 2, (short) 8);
                apdu.setOutgoingAndSend((short) 0, (short) 10);
                return;
            case 0x03:  // a non-atomic fill inside an aborted transaction
                JCSystem.beginTransaction();
                Util.arrayFillNonAtomic(data, (short) 4, (short) 4, (byte) 0x22);
                JCSystem.abortTransaction();
                return;
            case 0x04:  // more than the commit buffer holds
                JCSystem.beginTransaction();
                try {
                    Util.arrayCopy(big, (short) 0, big, (short) 0, (short) big.length);
                } catch (TransactionException e) {
                    JCSystem.abortTransaction();
                    ISOException.throwIt((short) (0x6300 | e.getReason()));
                }
                JCSystem.commitTransaction();
                return;
            case 0x05:  // commit capacity
                Util.setShort(buf, (short) 0, JCSystem.getMaxCommitCapacity());
                apdu.setOutgoingAndSend((short) 0, (short) 2);
                return;
            default:
                ISOException.throwIt((short) 0x6D00);
        }
    }
}
