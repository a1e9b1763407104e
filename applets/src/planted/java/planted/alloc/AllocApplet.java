package planted.alloc;

import javacard.framework.APDU;
import javacard.framework.Applet;
import javacard.framework.JCSystem;
import javacard.security.AESKey;
import javacard.security.KeyBuilder;
import javacard.security.MessageDigest;

/**
 * Allocation at install passes: the constructor, install, and a private helper called only from
 * the constructor. Every allocation while processing a command is refused (one per method).
 * Oracle's converter accepts all of this: it is a rule of the card (no garbage collector to
 * count on, memory exhausted mid-command), checked here and not by the converter.
 */
public final class AllocApplet extends Applet {
    private byte[] buffer;
    private Object any;

    private AllocApplet() {
        buffer = makeBuffer();
        reused();
    }

    public static void install(byte[] bArray, short bOffset, byte bLength) {
        new AllocApplet().register();
    }

    /** Passes: only the constructor calls it. */
    private static byte[] makeBuffer() {
        return new byte[8];
    }

    /** Refused: also called from process(). */
    private void reused() {
        any = new byte[4];
    }

    public void process(APDU apdu) {
        reused();
    }

    public void newArray() {
        buffer = new byte[16];
    }

    public void newObject() {
        any = new Object();
    }

    public void transientArray() {
        buffer = JCSystem.makeTransientByteArray((short) 8, JCSystem.CLEAR_ON_RESET);
    }

    public void cryptoObject() {
        any = MessageDigest.getInstance(MessageDigest.ALG_SHA_256, false);
    }

    public void key() {
        any = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES, KeyBuilder.LENGTH_AES_128, false);
    }
}
