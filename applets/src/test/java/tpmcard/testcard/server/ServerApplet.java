package tpmcard.testcard.server;

import javacard.framework.AID;
import javacard.framework.APDU;
import javacard.framework.Applet;
import javacard.framework.JCSystem;
import javacard.framework.Shareable;
import javacard.security.MessageDigest;
import javacard.security.RandomData;

/** Test-only card code (tpmcard.testcard is card code for the simulator): the server side. */
public class ServerApplet extends Applet implements Peek {
    private final MessageDigest privateDigest = MessageDigest.getInstance(MessageDigest.ALG_SHA_256, false);
    private final MessageDigest externalDigest = MessageDigest.getInstance(MessageDigest.ALG_SHA_256, true);
    private final RandomData random = RandomData.getInstance(RandomData.ALG_SECURE_RANDOM);
    private final byte[] deselectRam = JCSystem.makeTransientByteArray((short) 8, JCSystem.CLEAR_ON_DESELECT);
    private final byte[] persistent = new byte[8];

    public static void install(byte[] bArray, short bOffset, byte bLength) {
        new ServerApplet().register();
    }

    @Override
    public void process(APDU apdu) {
        if (selectingApplet()) {
            return;
        }
        deselectRam[0] = 1;  // its own CoD array while selected: allowed
    }

    @Override
    public Shareable getShareableInterfaceObject(AID clientAid, byte parameter) {
        return this;
    }

    public byte peek(byte[] buf, short offset) {
        return buf[offset];
    }

    public short hash(boolean external, byte[] apduBuffer) {
        return (external ? externalDigest : privateDigest).doFinal(apduBuffer, (short) 0, (short) 4, apduBuffer, (short) 0);
    }

    public byte readOwnDeselect() {
        return deselectRam[0];
    }

    public byte readOwnPersistent() {
        return persistent[0];
    }

    public void random(byte[] apduBuffer) {
        random.generateData(apduBuffer, (short) 0, (short) 16);
    }
}
