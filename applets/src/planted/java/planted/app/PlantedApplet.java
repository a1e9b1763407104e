package planted.app;

import javacard.framework.APDU;
import javacard.framework.Applet;
import javacard.framework.JCSystem;

/** Passes: an applet that allocates at install only; a static array is allowed in an applet package. */
public final class PlantedApplet extends Applet implements Service {
    private static final byte[] LABEL = {'o', 'k'};
    private final byte[] ram;

    private PlantedApplet() {
        ram = JCSystem.makeTransientByteArray((short) 16, JCSystem.CLEAR_ON_DESELECT);
        register();
    }

    public static void install(byte[] bArray, short bOffset, byte bLength) {
        new PlantedApplet();
    }

    public short version() {
        return (short) LABEL.length;
    }

    public void process(APDU apdu) {
        ram[0] = LABEL[0];
    }
}
