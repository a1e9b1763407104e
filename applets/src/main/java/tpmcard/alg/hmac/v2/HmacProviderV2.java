package tpmcard.alg.hmac.v2;

import tpmcard.algorithms.HmacApplet;

/**
 * Version 2.0 of the HMAC provider. It stands in for a new CAP file loaded onto a deployed card
 * (docs/algorithms.md §6): a package and AID of its own, installed beside version 1, registered at
 * run time; the registry then routes HMAC calls here. The algorithm is the same (so results agree
 * with version 1 and with the standard: both are {@link HmacApplet}); only the version, the
 * package and the key store differ.
 */
public final class HmacProviderV2 extends HmacApplet {
    public static final byte VERSION_MAJOR = 2;
    public static final byte VERSION_MINOR = 0;

    private HmacProviderV2(byte[] bArray, short bOffset, byte bLength) {
        super(VERSION_MAJOR, VERSION_MINOR, bArray, bOffset, bLength);
    }

    public static void install(byte[] bArray, short bOffset, byte bLength) {
        new HmacProviderV2(bArray, bOffset, bLength).registerFromInstall(bArray, bOffset);
    }
}
