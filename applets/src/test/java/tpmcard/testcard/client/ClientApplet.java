package tpmcard.testcard.client;

import javacard.framework.AID;
import javacard.framework.APDU;
import javacard.framework.Applet;
import javacard.framework.ISO7816;
import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.security.MessageDigest;
import tpmcard.testcard.server.Peek;

/**
 * Test-only card code: a client that calls the server (AID {@link #SERVER_AID}) through its
 * Shareable interface. INS selects the call; a SecurityException answers {@link #SW_FIREWALL}.
 */
public class ClientApplet extends Applet {
    public static final byte[] SERVER_AID = {(byte) 0xF0, 0x74, 0x70, 0x6D, 0x63, (byte) 0x99, 0x01, 0x01};
    public static final short SW_FIREWALL = 0x6999;
    private final byte[] transientBuffer = JCSystem.makeTransientByteArray((short) 8, JCSystem.CLEAR_ON_RESET);
    private final byte[] persistent = new byte[8];
    private final MessageDigest digest = MessageDigest.getInstance(MessageDigest.ALG_SHA_256, false);

    public static void install(byte[] bArray, short bOffset, byte bLength) {
        new ClientApplet().register();
    }

    @Override
    public void process(APDU apdu) {
        if (selectingApplet()) {
            return;
        }
        byte[] buf = apdu.getBuffer();
        transientBuffer[0] = 7;  // its own arrays: allowed
        persistent[0] = 7;
        AID aid = JCSystem.lookupAID(SERVER_AID, (short) 0, (byte) SERVER_AID.length);
        Peek server = (Peek) JCSystem.getAppletShareableInterfaceObject(aid, (byte) 0);
        try {
            switch (buf[ISO7816.OFFSET_INS]) {
                case 0x01: server.peek(transientBuffer, (short) 0); break;   // client's transient array: forbidden
                case 0x02: server.peek(persistent, (short) 0); break;        // client's persistent array: forbidden
                case 0x03: server.peek(buf, (short) 0); break;               // APDU buffer: global, allowed
                case 0x04: server.hash(false, buf); break;                   // server's non-external digest: forbidden
                case 0x05: server.hash(true, buf); break;                    // externalAccess = true: allowed
                case 0x06: server.readOwnDeselect(); break;                  // server's CoD array, client selected: forbidden
                case 0x07: server.readOwnPersistent(); break;                // server's own persistent array: allowed
                case 0x08:
                    server.random(buf);
                    apdu.setOutgoingAndSend((short) 0, (short) 16);
                    break;
                case 0x0A:
                    apdu.setOutgoingAndSend((short) 0, server.sign(buf));
                    break;
                case 0x09: digest.doFinal(buf, (short) 0, (short) 4, buf, (short) 0); break;  // own digest: allowed
                default: ISOException.throwIt(ISO7816.SW_INS_NOT_SUPPORTED);
            }
        } catch (SecurityException e) {
            ISOException.throwIt(SW_FIREWALL);
        }
    }
}
