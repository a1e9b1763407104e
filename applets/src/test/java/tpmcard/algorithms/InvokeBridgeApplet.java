package tpmcard.algorithms;

import javacard.framework.APDU;
import javacard.framework.Applet;
import javacard.framework.ISO7816;
import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.Util;
import javacardx.apdu.ExtendedLength;

/**
 * Test stand-in for the core applet's INVOKE (0x70), without secure messaging: installed at the
 * core applet's AID (providers serve only that context), it hosts a {@link Registry} exactly as
 * the core will. Command: {@code 80 70 SS SS | aidLen | AID | ins | p1 | p2 | payload}, where P1P2
 * is the session id the registry sees (so tests can switch sessions). Used by the JUnit tests and,
 * through JPype, by tests/algorithms until the bound session's invoke() exists. Never on a card.
 */
public final class InvokeBridgeApplet extends Applet implements ExtendedLength {
    public static final byte INS_INVOKE = (byte) 0x70;
    private static final short BUFFER = (short) 4200;

    private final Registry registry;
    private final byte[] in;
    private final byte[] out;

    private InvokeBridgeApplet() {
        registry = new Registry();
        in = JCSystem.makeTransientByteArray(BUFFER, JCSystem.CLEAR_ON_DESELECT);
        out = JCSystem.makeTransientByteArray(BUFFER, JCSystem.CLEAR_ON_DESELECT);
    }

    public static void install(byte[] bArray, short bOffset, byte bLength) {
        new InvokeBridgeApplet().register(bArray, (short) (bOffset + 1), bArray[bOffset]);
    }

    public void process(APDU apdu) {
        if (selectingApplet()) {
            return;
        }
        byte[] buf = apdu.getBuffer();
        if (buf[ISO7816.OFFSET_INS] != INS_INVOKE) {
            ISOException.throwIt(ISO7816.SW_INS_NOT_SUPPORTED);
        }
        short sessionId = Util.getShort(buf, ISO7816.OFFSET_P1);
        short n = apdu.setIncomingAndReceive();
        short off = apdu.getOffsetCdata();
        short total = apdu.getIncomingLength();
        if (total > BUFFER) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
        short got = 0;
        while (n > 0) {
            Util.arrayCopyNonAtomic(buf, off, in, got, n);
            got += n;
            n = apdu.receiveBytes(off);
        }
        if (got < 1) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
        short aidLength = (short) (in[0] & 0xFF);
        short p = (short) (1 + aidLength);
        if ((short) (p + 3) > got) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
        if (!Registry.isRegistryAid(in, (short) 1, (byte) aidLength)) {
            ISOException.throwIt(ISO7816.SW_FILE_NOT_FOUND);
        }
        short r = registry.invoke(in[p], in[(short) (p + 1)], in[(short) (p + 2)], in, (short) (p + 3),
                (short) (got - p - 3), out, (short) 0, sessionId);
        short le = apdu.setOutgoing();
        if (le == 0) {
            le = (short) 32767;   // jCardSim reports Le 0000 and an absent Le as 0: read as the maximum
        }
        if (r > le) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
        apdu.setOutgoingLength(r);
        apdu.sendBytesLong(out, (short) 0, r);
    }
}
