package tpmcard.testcard.server;

import javacard.framework.AID;
import javacard.framework.APDU;
import javacard.framework.Applet;
import javacard.framework.JCSystem;
import javacard.framework.Shareable;
import javacard.security.ECPrivateKey;
import javacard.security.KeyBuilder;
import javacard.security.MessageDigest;
import javacard.security.Signature;
import tpmcard.lib.P256;
import javacard.security.RandomData;

/** Test-only card code (tpmcard.testcard is card code for the simulator): the server side. */
public class ServerApplet extends Applet implements Peek {
    private final MessageDigest privateDigest = MessageDigest.getInstance(MessageDigest.ALG_SHA_256, false);
    private final MessageDigest externalDigest = MessageDigest.getInstance(MessageDigest.ALG_SHA_256, true);
    private final RandomData random = RandomData.getInstance(RandomData.ALG_SECURE_RANDOM);
    private final byte[] deselectRam = JCSystem.makeTransientByteArray((short) 8, JCSystem.CLEAR_ON_DESELECT);
    private final byte[] persistent = new byte[8];
    private final Signature ecdsa = Signature.getInstance(Signature.ALG_ECDSA_SHA_256, true);
    private final ECPrivateKey signingKey = (ECPrivateKey) KeyBuilder.buildKey(
            KeyBuilder.TYPE_EC_FP_PRIVATE, P256.KEY_LENGTH, true);

    ServerApplet() {
        P256.setDomainParameters(signingKey);
        byte[] scalar = new byte[32];
        scalar[31] = 0x2A;  // a fixed key: every card signs with the same one, only nonces may differ
        signingKey.setS(scalar, (short) 0, (short) 32);
    }

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

    public short sign(byte[] apduBuffer) {
        ecdsa.init(signingKey, Signature.MODE_SIGN);
        return ecdsa.sign(apduBuffer, (short) 5, (short) 4, apduBuffer, (short) 0);
    }

    public void random(byte[] apduBuffer) {
        random.generateData(apduBuffer, (short) 0, (short) 16);
    }
}
