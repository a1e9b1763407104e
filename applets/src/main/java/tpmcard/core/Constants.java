package tpmcard.core;

/**
 * Every command, tag, status word and size of the suite's core applet, the TPM-card binding
 * included (docs/core-applet.md, docs/binding.md). The host mirrors every public name in
 * host/tpmcard/constants.py, and tests/sim/test_constants.py reads this class through JPype to
 * check they agree. The package-private arrays at the end (default secrets, KDF labels) are card
 * internals; the host spells the labels in tpmcard.channel.
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
    /** Service window: command data plus answer of one INVOKE, in bytes (docs/core-applet.md). */
    public static final byte TAG_SERVICE_WINDOW = (byte) 0x85;
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
    // The largest command and response data field of any command: a protected (secure
    // messaging) command or response with a 4096-byte payload is 4096 + SM_OVERHEAD = 4120 bytes.
    // SELECT reports these in tags 83/84. Unprotected commands take at most MAX_PLAIN_DATA.
    public static final short MAX_COMMAND_DATA = (short) 4120;
    public static final short MAX_RESPONSE_DATA = (short) 4120;
    public static final short MAX_PLAIN_DATA = (short) 4096;    // unprotected command data, ECHO payload
    /**
     * The I/O buffers (ApduIo): common commands in RAM_IO_LENGTH bytes of RAM (CLEAR_ON_RESET,
     * wiped on deselect; SESSION AUTH with its PCRs included), chains, long commands and long answers in the
     * persistent buffer (the largest protected command, and room for an answer after a command).
     * The RAM buffer's end is also the binding's work area (BindingTransients).
     */
    public static final short RAM_IO_LENGTH = (short) 736;
    /**
     * The RAM I/O buffer on a card with less than RAM_IO_ROOMY bytes of transient RAM free when the
     * core installs (a J3H145, 1,993 bytes for the whole suite): the binding's work area without
     * PAIR's public values, which go to the end of the persistent buffer (BindingTransients). Commands
     * whose data, answer and work area do not fit it take the persistent buffer.
     */
    public static final short RAM_IO_SMALL_LENGTH = (short) 484;
    /**
     * Transient RAM free at install from which the core takes the full RAM_IO_LENGTH buffer: the
     * whole suite takes under 3,800 bytes with it on a J3R180 (4,150 free), so a card with less
     * than this keeps RAM for the other applets instead (docs/core-applet.md "Transient RAM").
     */
    public static final short RAM_IO_ROOMY = (short) 3072;
    /**
     * Transient RAM the core applet takes at least, on the card that charges least for it (a
     * J3H145, with the small RAM I/O buffer; JCAlgTest figures), checked at install before
     * anything is made; SuiteRamTest keeps it honest on every profile (docs/core-applet.md
     * "Transient RAM"): 923 bytes on a J3H145, 1,775 on a J3R180. A card with more free than this
     * but less than the core takes there refuses one of its crypto objects, also during install.
     */
    public static final short TRANSIENT_BYTES = (short) 912;
    public static final short RAM_ANSWER_RESERVE = (short) 160;
    public static final short PERSISTENT_IO_LENGTH = (short) (4120 + 256);
    /** LIST PAIRINGS at most: D0 01 n, then 8 x (E1 51 | 81 bytes). */
    public static final short LIST_PAIRINGS_MAX = (short) (3 + 8 * (2 + 81));
    public static final short SHORT_RESPONSE_CHUNK = (short) 256;
    public static final short EXTENDED_RESPONSE_CHUNK = (short) 32767;  // JC 3 limit for Ne
    public static final short EC_POINT_LENGTH = (short) 65;
    public static final short EC_SCALAR_LENGTH = (short) 32;
    public static final short MAX_INSTALL_ENTROPY = (short) 32;

    // Status words used by the suite beyond javacard.framework.ISO7816.
    public static final short SW_LAST_COMMAND_EXPECTED = (short) 0x6883;  // ISO 7816-4 §5.6
    public static final short SW_BYTES_REMAINING_00 = (short) 0x6100;
    public static final short SW_REFERENCED_DATA_NOT_FOUND = (short) 0x6A88;  // ISO 7816-4 §5.6

    // ---- The TPM-card binding (docs/binding.md) ----


    // Class byte: b3 (0x04) marks secure messaging (ISO 7816-4 §5.4.1, as GP SCP03 uses it).
    public static final byte CLA_SECURE_MESSAGING = (byte) 0x04;

    // Instructions. ISO ones keep their ISO meaning; the rest are proprietary (CLA 80).
    public static final byte INS_VERIFY = (byte) 0x20;                 // ISO 7816-4 §11.5.6, empty data: status
    public static final byte INS_CHANGE_REFERENCE_DATA = (byte) 0x24;  // ISO 7816-4 §11.5.7, CLA 80
    public static final byte INS_RESET_RETRY_COUNTER = (byte) 0x2C;    // ISO 7816-4 §11.5.10, CLA 80
    public static final byte INS_PAIR = (byte) 0x50;
    public static final byte INS_LIST_PAIRINGS = (byte) 0x52;
    public static final byte INS_UNPAIR = (byte) 0x54;
    public static final byte INS_SESSION_INIT = (byte) 0x56;
    public static final byte INS_SESSION_AUTH = (byte) 0x58;
    public static final byte INS_SESSION_CLOSE = (byte) 0x5A;
    public static final byte INS_GET_CHALLENGE = (byte) 0x84;          // ISO 7816-4 §11.5.3
    // A command for a suite service (docs/core-applet.md "INVOKE"), secure messaging only:
    // data = aidLen | service AID | ins | p1 | p2 | payload.
    public static final byte INS_INVOKE = (byte) 0x70;
    // PUT DATA (ISO 7816-4 §11.4.6), CLA 80, P2 80 PIN / 81 PUK: installs the attestation CA key
    // (docs/binding.md "PUT DATA"); data = TAG_CA_KEY point | C9 | CA.
    public static final byte INS_PUT_DATA = (byte) 0xDA;

    // P2 of VERIFY, CHANGE REFERENCE DATA, RESET RETRY COUNTER.
    public static final byte P2_PIN = (byte) 0x80;
    public static final byte P2_PUK = (byte) 0x81;

    // Tags (private class, ISO 7816-4 §5.2). Each command takes its TLVs in one fixed order.
    public static final byte TAG_BINDING_PUBLIC = (byte) 0xC1;     // TPMT_PUBLIC of the binding key
    public static final byte TAG_AK_PUBLIC = (byte) 0xC2;          // TPMT_PUBLIC of the AK
    public static final byte TAG_PCR_SELECTION = (byte) 0xC3;      // 3-byte pcrSelect bitmap
    public static final byte TAG_POLICY_PCR_DIGEST = (byte) 0xC4;  // pcrDigest of PolicyPCR
    public static final byte TAG_POLICY_OPTIONS = (byte) 0xC5;     // POLICY_OPTION_* bits
    public static final byte TAG_ATTEST = (byte) 0xC6;             // TPMS_ATTEST
    public static final byte TAG_SIGNATURE = (byte) 0xC7;          // X9.62 DER ECDSA signature
    public static final byte TAG_PCR_VALUES = (byte) 0xC8;         // quoted PCR values, ascending
    public static final byte TAG_HOST_EPHEMERAL = (byte) 0xC9;     // 04 || X || Y
    public static final byte TAG_PIN_CRYPTOGRAM = (byte) 0xCA;     // ciphertext || CMAC
    public static final byte TAG_HOST_CRYPTOGRAM = (byte) 0xCB;    // host key confirmation
    public static final byte TAG_CARD_EPHEMERAL = (byte) 0xCC;     // 04 || X || Y
    public static final byte TAG_CARD_CRYPTOGRAM = (byte) 0xCD;    // card key confirmation / receipt
    public static final byte TAG_SLOT = (byte) 0xCE;
    public static final byte TAG_BINDING_NAME = (byte) 0xCF;       // TPM Name of the binding key
    public static final byte TAG_SLOT_COUNT = (byte) 0xD0;
    public static final byte TAG_PAIRING_ENTRY = (byte) 0xE1;      // constructed
    public static final byte TAG_AK_CERTIFICATE = (byte) 0xD1;     // the AK certificate's signed part
    public static final byte TAG_AK_CERTIFICATE_SIGNATURE = (byte) 0xD2;  // the CA's DER ECDSA over D1
    public static final byte TAG_CA_KEY = (byte) 0xD4;             // attestation CA key, 04 || X || Y
    // Inside TAG_AK_CERTIFICATE, in this order and of these lengths (docs/binding.md "AK certificate").
    public static final byte TAG_AKC_VERSION = (byte) 0x80;        // 1 byte: AK_CERTIFICATE_VERSION
    public static final byte TAG_AKC_SERIAL = (byte) 0x81;         // 8 bytes
    public static final byte TAG_AKC_AK_POINT = (byte) 0x82;       // 65 bytes
    public static final byte TAG_AKC_AK_NAME = (byte) 0x83;        // 34 bytes
    public static final byte TAG_AKC_EK_DIGEST = (byte) 0x84;      // SHA-256 of the EK certificate
    public static final byte TAG_AKC_ISSUED_AT = (byte) 0x85;      // 8 bytes, seconds since 1970
    public static final byte TAG_AKC_NOT_AFTER = (byte) 0x86;      // 8 bytes, seconds since 1970
    public static final byte AK_CERTIFICATE_VERSION = (byte) 0x01;

    public static final byte POLICY_OPTION_AUTH_VALUE = (byte) 0x01;  // PolicyPCR then PolicyAuthValue

    // Status words beyond javacard.framework.ISO7816.
    public static final short SW_VERIFY_FAILED = (short) 0x63C0;                 // | tries left
    public static final short SW_SECURITY_STATUS_NOT_SATISFIED = (short) 0x6982; // every handshake/SM failure
    public static final short SW_AUTHENTICATION_METHOD_BLOCKED = (short) 0x6983;
    public static final short SW_NOT_ENOUGH_MEMORY = (short) 0x6A84;             // pairing table full
    public static final short SW_PAIRING_EXISTS = (short) 0x6A89;
    /** ISO 7816-4 "reference data not usable": PAIR while the PIN or PUK is the factory default. */
    public static final short SW_PIN_CHANGE_REQUIRED = (short) 0x6984;
    // PAIR (ISO 7816-4 "conditions of use not satisfied"): the AK certificate is not the configured CA's or not for this AK.
    public static final short SW_AK_CERTIFICATE_REFUSED = (short) 0x6985;
    // PAIR with no attestation CA key installed; PUT DATA with the PIN over an installed key.
    public static final short SW_CA_KEY_MISSING = (short) 0x6A88;
    public static final short SW_CA_KEY_PRESENT = (short) 0x6985;

    // Sizes.
    public static final short PAIRING_SLOTS = (short) 8;
    public static final short CHALLENGE_LENGTH = (short) 32;
    public static final short CRYPTOGRAM_LENGTH = (short) 16;
    public static final short SM_MAC_LENGTH = (short) 8;
    public static final short SM_MAX_PAYLOAD = (short) 4096;
    public static final short SM_OVERHEAD = (short) 24;        // padding block + MAC
    public static final short NAME_LENGTH = (short) 34;        // SHA-256 nameAlg || digest
    public static final short DIGEST_LENGTH = (short) 32;
    public static final short PIN_MIN_LENGTH = (short) 4;
    public static final short PUK_MIN_LENGTH = (short) 8;
    public static final short PIN_MAX_LENGTH = (short) 16;
    public static final byte PIN_TRY_LIMIT = (byte) 3;
    public static final byte PUK_TRY_LIMIT = (byte) 5;
    public static final short SESSION_PCR_COUNT = (short) 9;   // host PCRs 0..8 kept for the session
    public static final short INVOKE_MIN_AID_LENGTH = (short) 5;   // ISO 7816-5: RID alone
    public static final short INVOKE_MAX_AID_LENGTH = (short) 16;
    public static final short INVOKE_HEADER_LENGTH = (short) 4;    // aidLen, ins, p1, p2 (AID apart)
    /**
     * The largest service window (command data plus answer of one INVOKE, both in the APDU
     * buffer). The window is min(APDU buffer length - SuiteService.DATA_OFFSET, this).
     */
    public static final short SERVICE_WINDOW_MAX = (short) 1024;

    // Default PIN and PUK of a card installed without them ("123456", "12345678"). Change them.
    static final byte[] DEFAULT_PIN = {'1', '2', '3', '4', '5', '6'};
    static final byte[] DEFAULT_PUK = {'1', '2', '3', '4', '5', '6', '7', '8'};

    // KDF labels (docs/binding.md "Key derivation"), ASCII.
    static final byte[] LABEL_PIN = {
        't', 'p', 'm', 'c', 'a', 'r', 'd', ' ', 'p', 'i', 'n', ' ', 'v', '1'};
    static final byte[] LABEL_PAIRING = {
        't', 'p', 'm', 'c', 'a', 'r', 'd', ' ', 'p', 'a', 'i', 'r', 'i', 'n', 'g', ' ', 'v', '1'};
    static final byte[] LABEL_SESSION = {
        't', 'p', 'm', 'c', 'a', 'r', 'd', ' ', 's', 'e', 's', 's', 'i', 'o', 'n', ' ', 'v', '1'};
    static final byte[] LABEL_TRANSCRIPT = {
        't', 'p', 'm', 'c', 'a', 'r', 'd', ' ', 'h', 'a', 'n', 'd', 's', 'h', 'a', 'k', 'e', ' ',
        'v', '1'};

    // Key-confirmation message types.
    static final byte KC_CARD_HELLO = (byte) 0x01;
    static final byte KC_HOST = (byte) 0x02;
    static final byte KC_CARD_FINAL = (byte) 0x03;
}
