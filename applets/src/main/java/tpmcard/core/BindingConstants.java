package tpmcard.core;

/**
 * Commands, tags, status words and labels of the TPM-card binding (docs/binding.md). To be
 * merged into {@link Constants} by the lead; host/tpmcard/channel/binding_constants.py mirrors
 * every numeric name here and tests/unit/test_channel_constants.py checks that they agree.
 */
public final class BindingConstants {
    private BindingConstants() {}

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

    public static final byte POLICY_OPTION_AUTH_VALUE = (byte) 0x01;  // PolicyPCR then PolicyAuthValue

    // Status words beyond javacard.framework.ISO7816.
    public static final short SW_VERIFY_FAILED = (short) 0x63C0;                 // | tries left
    public static final short SW_SECURITY_STATUS_NOT_SATISFIED = (short) 0x6982; // every handshake/SM failure
    public static final short SW_AUTHENTICATION_METHOD_BLOCKED = (short) 0x6983;
    public static final short SW_NOT_ENOUGH_MEMORY = (short) 0x6A84;             // pairing table full
    public static final short SW_PAIRING_EXISTS = (short) 0x6A89;

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
