package tpmcard.testcard.external;

import javacard.framework.APDU;
import javacard.framework.Applet;
import javacard.security.KeyAgreement;
import javacard.security.KeyBuilder;
import javacard.security.MessageDigest;
import javacard.security.Signature;
import javacardx.crypto.Cipher;

/**
 * Test-only card code: the crypto factories with externalAccess = true (jCardSim alone throws).
 * Not the 3.0.5 three-byte Cipher.getInstance: jCardSim 3.0.6.0 returns null for it.
 */
public class ExternalFactoriesApplet extends Applet {
    private final Object[] objects = {
        Cipher.getInstance(Cipher.ALG_AES_BLOCK_128_CBC_NOPAD, true),
        Signature.getInstance(Signature.ALG_AES_CMAC_128, true),
        Signature.getInstance(Signature.ALG_ECDSA_SHA_256, true),
        MessageDigest.getInstance(MessageDigest.ALG_SHA_256, true),
        MessageDigest.getInitializedMessageDigestInstance(MessageDigest.ALG_SHA_256, true),
        KeyAgreement.getInstance(KeyAgreement.ALG_EC_SVDP_DH_PLAIN, true),
        KeyBuilder.buildKey(KeyBuilder.TYPE_AES, KeyBuilder.LENGTH_AES_128, true),
        KeyBuilder.buildKey(KeyBuilder.TYPE_AES_TRANSIENT_DESELECT, KeyBuilder.LENGTH_AES_128, true),
        KeyBuilder.buildKey(KeyBuilder.TYPE_EC_FP_PRIVATE, KeyBuilder.LENGTH_EC_FP_256, true),
    };

    public static void install(byte[] bArray, short bOffset, byte bLength) {
        new ExternalFactoriesApplet().register();
    }

    @Override
    public void process(APDU apdu) {
        // nothing: install is the test
    }

    public int count() {
        return objects.length;
    }
}
