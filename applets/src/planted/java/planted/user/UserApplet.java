package planted.user;

import javacard.framework.APDU;
import javacard.framework.AID;
import javacard.framework.Applet;
import javacard.framework.JCSystem;
import planted.app.Service;
import planted.lib.Clean;

/** Passes: uses another applet package's Shareable interface and a public library class. */
public final class UserApplet extends Applet {
    private final Clean clean = new Clean();

    public static void install(byte[] bArray, short bOffset, byte bLength) {
        new UserApplet().register();
    }

    public void process(APDU apdu) {
        AID server = JCSystem.lookupAID(clean.table, (short) 0, (byte) 3);
        Service service = (Service) JCSystem.getAppletShareableInterfaceObject(server, (byte) 0);
        apdu.getBuffer()[0] = (byte) (service.version() + Clean.twice((short) 1));
    }
}
