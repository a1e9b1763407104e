package tpmcard.core;

/**
 * Every command, tag and status word of the core applet. The host mirrors these names in
 * host/tpmcard/constants.py, and a test reads this class through JPype to check they agree.
 */
public final class Constants {
    private Constants() {}

    // Applet version, reported in the SELECT response.
    public static final byte VERSION_MAJOR = (byte) 1;
    public static final byte VERSION_MINOR = (byte) 0;

    // Class bytes. ISO 7816-4 §5.4.1: bit 5 (0x10) marks a chained command.
    public static final byte CLA_ISO = (byte) 0x00;
    public static final byte CLA_PROPRIETARY = (byte) 0x80;
    public static final byte CLA_CHAINING_BIT = (byte) 0x10;

    // Instructions.
    public static final byte INS_SELECT = (byte) 0xA4;
    public static final byte INS_GET_RESPONSE = (byte) 0xC0;   // ISO 7816-4 §11.4.3
    public static final byte INS_GET_DATA = (byte) 0xCA;       // ISO 7816-4 §11.4.3
    public static final byte INS_ECHO = (byte) 0xEE;           // proprietary, CLA 80

    // Parameters. Commands without parameters take P1 = P2 = 00 (anything else: 6A86).
    public static final byte P1_NONE = (byte) 0x00;
    public static final byte P2_NONE = (byte) 0x00;
    public static final byte P1_SELECT_BY_NAME = (byte) 0x04;  // ISO 7816-4 §11.2.2, handled by the JCRE

    // GET DATA P1P2: the card identity public key, an ISO 7816-8 public key data object.
    public static final short DO_IDENTITY_KEY = (short) 0x7F49;

    // Tags.
    public static final byte TAG_INFO_TEMPLATE = (byte) 0xA1;
    public static final byte TAG_CARD_ID = (byte) 0x80;
    public static final byte TAG_APPLET_VERSION = (byte) 0x81;
    public static final byte TAG_FEATURES = (byte) 0x82;
    public static final byte TAG_MAX_COMMAND = (byte) 0x83;
    public static final byte TAG_MAX_RESPONSE = (byte) 0x84;
    public static final short TAG_PUBLIC_KEY = (short) 0x7F49;
    public static final byte TAG_EC_POINT = (byte) 0x86;

    // Feature bits (TAG_FEATURES, two bytes big-endian).
    public static final short FEATURE_EXTENDED_LENGTH = (short) 0x0001;
    public static final short FEATURE_COMMAND_CHAINING = (short) 0x0002;
    public static final short FEATURE_RESPONSE_CHAINING = (short) 0x0004;
    // Informational bits: where the card could put its I/O buffers, and how the identity key was made.
    // Clear COMMAND/RESPONSE_BUFFER_IN_RAM bits mean the card fell back to EEPROM/flash buffers
    // (same behaviour, slower, and each long command wears the persistent memory).
    public static final short FEATURE_COMMAND_BUFFER_IN_RAM = (short) 0x0008;
    public static final short FEATURE_RESPONSE_BUFFER_IN_RAM = (short) 0x0010;
    // Set: the identity key is s = SHA-256(card random || install entropy || counter), W = s.G.
    // Clear: the card lacks KeyAgreement.ALG_EC_SVDP_DH_PLAIN_XY and used KeyPair.genKeyPair().
    public static final short FEATURE_IDENTITY_KEY_DERIVED = (short) 0x0020;

    // Sizes.
    public static final short CARD_ID_LENGTH = (short) 16;
    public static final short MAX_COMMAND_DATA = (short) 4096;
    public static final short MAX_RESPONSE_DATA = (short) 4096;
    public static final short SHORT_RESPONSE_CHUNK = (short) 256;
    public static final short EXTENDED_RESPONSE_CHUNK = (short) 32767;  // JC 3 limit for Ne
    public static final short EC_POINT_LENGTH = (short) 65;
    public static final short EC_SCALAR_LENGTH = (short) 32;
    public static final short MAX_INSTALL_ENTROPY = (short) 32;

    // Status words used by the suite beyond javacard.framework.ISO7816.
    public static final short SW_LAST_COMMAND_EXPECTED = (short) 0x6883;  // ISO 7816-4 §5.6
    public static final short SW_BYTES_REMAINING_00 = (short) 0x6100;
    public static final short SW_REFERENCED_DATA_NOT_FOUND = (short) 0x6A88;  // ISO 7816-4 §5.6
}
