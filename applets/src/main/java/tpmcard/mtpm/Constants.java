package tpmcard.mtpm;

/**
 * Every instruction, key reference, size and status word of the mobile TPM service (docs/mtpm.md).
 * The names are mirrored in host/tpmcard/mtpm.py; tests/mtpm/test_constants.py checks they match.
 * The instruction bytes are the service's own: the core applet carries them inside INS_INVOKE.
 */
public final class Constants {
    private Constants() {}

    // Instructions (the ins argument of SuiteService.invoke).
    public static final byte INS_PCR_READ = (byte) 0x10;
    public static final byte INS_PCR_EXTEND = (byte) 0x12;
    public static final byte INS_PCR_RESET = (byte) 0x14;
    public static final byte INS_QUOTE = (byte) 0x20;
    public static final byte INS_GET_PUBLIC = (byte) 0x22;
    public static final byte INS_CERTIFY = (byte) 0x24;
    public static final byte INS_EK_CERT_SET = (byte) 0x26;
    public static final byte INS_EK_CERT_GET = (byte) 0x28;
    public static final byte INS_QUOTE_TOKEN = (byte) 0x2A;     // P1 format: a JWT or EAT quote
    public static final byte INS_SEAL = (byte) 0x30;
    public static final byte INS_UNSEAL = (byte) 0x32;
    public static final byte INS_NV_DEFINE = (byte) 0x40;
    public static final byte INS_NV_UNDEFINE = (byte) 0x42;
    public static final byte INS_NV_WRITE = (byte) 0x44;
    public static final byte INS_NV_READ = (byte) 0x46;
    public static final byte INS_NV_INCREMENT = (byte) 0x48;
    public static final byte INS_NV_LIST = (byte) 0x4A;
    public static final byte INS_TAKE_OWNERSHIP = (byte) 0x50;
    public static final byte INS_CLEAR = (byte) 0x52;
    public static final byte INS_GET_STATUS = (byte) 0x54;
    public static final byte INS_DA_RESET = (byte) 0x56;         // owner auth: sealed/NV auth tries back
    public static final byte INS_MIGRATE_EXPORT = (byte) 0x60;
    public static final byte INS_MIGRATE_IMPORT = (byte) 0x62;
    public static final byte INS_MIGRATION_ANCHOR_SET = (byte) 0x64;  // owner auth: the migration CA key
    public static final byte INS_MIGRATION_ANCHOR_GET = (byte) 0x66;
    // Staging (docs/mtpm.md "Service window"): a command larger than the window, in parts.
    public static final byte INS_STAGE_WRITE = (byte) 0x70;     // P1P2 offset, data: a part
    public static final byte INS_STAGE_RUN = (byte) 0x72;       // data: ins p1 p2; answer: length 2
    public static final byte INS_STAGE_READ = (byte) 0x74;      // P1P2 offset; answer: a part
    // Count-limited keys (docs/counted-keys.md): a key usable only a preset number of times.
    public static final byte INS_KEY_CREATE = (byte) 0x80;      // P1 kind; owner auth, budget, auth
    public static final byte INS_KEY_IMPORT = (byte) 0x82;      // P1 kind; owner auth, budget, auth, key
    public static final byte INS_KEY_USE = (byte) 0x84;         // P1 op; handle, auth, input
    public static final byte INS_KEY_REMAINING = (byte) 0x86;   // handle; kind, remaining uses (, point)
    public static final byte INS_KEY_LIST = (byte) 0x88;        // per key: handle, kind, remaining
    public static final byte INS_KEY_DELETE = (byte) 0x8A;      // owner auth, handle

    // P1 of GET PUBLIC and CERTIFY: which key.
    public static final byte KEY_EK = (byte) 0x01;
    public static final byte KEY_AK = (byte) 0x02;
    public static final byte KEY_MIGRATION = (byte) 0x03;

    // P1 of QUOTE TOKEN: the token format (docs/quote-formats.md).
    public static final byte FORMAT_JWT = (byte) 0x01;
    public static final byte FORMAT_EAT = (byte) 0x02;

    // P1 of MIGRATE EXPORT, P2 of MIGRATE EXPORT and IMPORT.
    public static final byte P1_MIGRATE_COPY = (byte) 0x00;
    public static final byte P1_MIGRATE_MOVE = (byte) 0x01;
    public static final byte P2_OBJECT_SEALED = (byte) 0x01;
    public static final byte P2_OBJECT_NV = (byte) 0x02;
    /** A counted key: never migratable (MIGRATE EXPORT answers SW_NOT_MIGRATABLE). */
    public static final byte P2_OBJECT_COUNTED_KEY = (byte) 0x03;

    // Counted keys: P1 of KEY CREATE / IMPORT (the kind) and of KEY USE (the operation).
    public static final byte KEY_KIND_ECDSA_P256 = (byte) 0x01;   // sign: ECDSA P-256 SHA-256
    public static final byte KEY_KIND_HMAC_SHA256 = (byte) 0x02;  // mac: HMAC-SHA-256
    public static final byte KEY_KIND_AES_128 = (byte) 0x03;      // encrypt, decrypt: AES-CBC
    public static final byte KEY_KIND_AES_256 = (byte) 0x04;
    public static final byte KEY_OP_SIGN = (byte) 0x01;
    public static final byte KEY_OP_MAC = (byte) 0x02;
    public static final byte KEY_OP_ENCRYPT = (byte) 0x03;
    public static final byte KEY_OP_DECRYPT = (byte) 0x04;
    /** First byte of a counted key's handle: 8C || slot || generation 2. */
    public static final byte KEY_HANDLE_TAG = (byte) 0x8C;

    // P1 of SEAL: the object may leave the card by MIGRATE EXPORT (default: it may not).
    public static final byte P1_SEAL_MIGRATABLE = (byte) 0x01;

    // NV index attributes (one byte of our own, not TPMA_NV).
    public static final byte NV_ATTRIBUTE_COUNTER = (byte) 0x01;
    public static final byte NV_ATTRIBUTE_MIGRATABLE = (byte) 0x02;

    // Migration target certificate (docs/mtpm.md "Migration"): simple TLVs, in this order.
    public static final byte TAG_CERT_PURPOSE = (byte) 0x80;       // ASCII "migration target"
    public static final byte TAG_CERT_TARGET = (byte) 0x81;        // the target's migration key, 04 || x || y
    public static final byte TAG_CERT_CARD_ID = (byte) 0x82;       // 1..32 bytes, the target card's id
    public static final byte TAG_CERT_SIGNATURE = (byte) 0x9E;     // DER ECDSA-SHA-256 over the TLVs before it

    // PCRs: 24 SHA-256 PCRs; 0..8 from the host TPM (read-only here), 9..23 on the card.
    public static final short PCR_COUNT = 24;
    public static final short HOST_PCR_COUNT = 9;
    public static final short CARD_PCR_COUNT = (short) (PCR_COUNT - HOST_PCR_COUNT);
    public static final short DIGEST_LENGTH = 32;
    public static final short SELECTION_LENGTH = 3;
    public static final byte RESETTABLE_PCR_A = (byte) 16;  // PC Client: debug PCR
    public static final byte RESETTABLE_PCR_B = (byte) 23;  // PC Client: application support

    // Sizes.
    public static final short MAX_INSTALL_ENTROPY = 32;
    public static final short MAX_NONCE = 64;
    /** JWT and EAT quotes: eat_nonce is 8..64 bytes (RFC 9711 §4.1). */
    public static final short MIN_TOKEN_NONCE = 8;
    public static final short MAX_AUTH = 32;
    public static final short MAX_SEALED_SECRET = 128;  // TPM MAX_SYM_DATA
    public static final short MAX_EK_CERT = 1024;
    public static final short MAX_CERT_CARD_ID = 32;
    public static final short MAX_TARGET_CERT = 193;  // 2+16 + 2+65 + 2+32 + 2+72
    /** Largest staged command data or answer (EK certificate set with owner auth, PCR read of all). */
    public static final short STAGE_CAPACITY = (short) 1088;
    /** Transient RAM the service takes (arrays and crypto objects), checked at install (SuiteRamTest). */
    public static final short TRANSIENT_BYTES = (short) 712;  // 600 + the closures' SHA-1 (112)
    public static final short NV_SLOTS = 8;
    public static final short COUNTED_KEY_SLOTS = 8;
    /** Longest HMAC key KEY IMPORT takes: one SHA-256 block (K0 needs no hashing). */
    public static final short MAX_HMAC_KEY = 64;
    public static final short MAX_NV_SIZE = 256;
    public static final short COUNTER_SIZE = 8;
    public static final short REVOCATION_SLOTS = 16;
    public static final short KEY_ID_LENGTH = 16;
    public static final short SERIAL_LENGTH = 8;
    public static final short OWNER_AUTH_TRIES = 8;
    /** Wrong sealed-object or NV auth values allowed before the lockout (DictionaryGuard). */
    public static final short DA_MAX_TRIES = 16;
    public static final byte BLOB_VERSION = (byte) 0x01;
    public static final byte DUPLICATE_VERSION = (byte) 0x01;
    /** Firmware version in TPMS_ATTEST: 1.0 (major.minor in the upper 32 bits, like TPM vendors). */
    public static final short FIRMWARE_MAJOR = 1;
    public static final short FIRMWARE_MINOR = 0;

    // Status words (ISO 7816-4 §5.1.3 meanings).
    public static final short SW_NO_ERROR = (short) 0x9000;
    public static final short SW_WRONG_LENGTH = (short) 0x6700;
    public static final short SW_AUTH_FAILED = (short) 0x6982;          // NV or sealed-object auth value
    public static final short SW_OWNER_AUTH_BLOCKED = (short) 0x6983;
    /** The same SW for the dictionary-attack lockout of object and NV auth values. */
    public static final short SW_AUTH_BLOCKED = SW_OWNER_AUTH_BLOCKED;
    public static final short SW_OBJECT_INVALID = (short) 0x6984;       // blob tampered, revoked (moved)
    public static final short SW_POLICY_MISMATCH = (short) 0x6985;      // PCRs differ from the policy
    public static final short SW_HOST_PCR_READ_ONLY = (short) 0x6986;   // extend/reset of PCR 0..8
    public static final short SW_NV_TYPE_MISMATCH = (short) 0x6981;     // counter vs. ordinary index
    public static final short SW_WRONG_DATA = (short) 0x6A80;
    /** The mobile TPM has no owner: DA RESET, migration, auth values need TAKE OWNERSHIP first. */
    public static final short SW_OWNER_REQUIRED = (short) 0x6A82;
    /** The migration target's certificate is not signed by the anchor installed here (or none is). */
    public static final short SW_UNTRUSTED_TARGET = (short) 0x6A85;
    /** The object was not sealed/defined migratable, or a copy of a counter was asked. */
    public static final short SW_NOT_MIGRATABLE = (short) 0x6A87;
    public static final short SW_PCR_NOT_RESETTABLE = (short) 0x6A81;
    public static final short SW_NOT_ENOUGH_MEMORY = (short) 0x6A84;
    public static final short SW_INCORRECT_P1P2 = (short) 0x6A86;
    public static final short SW_NOT_FOUND = (short) 0x6A88;            // NV handle, EK cert, other card's blob
    public static final short SW_ALREADY_EXISTS = (short) 0x6A89;       // NV handle defined, card owned
    public static final short SW_STAGE_OUT_OF_ORDER = (short) 0x6A83;   // staging parts out of order, other session
    public static final short SW_OUT_OF_RANGE = (short) 0x6B00;         // NV offset/length outside the index
    public static final short SW_INS_NOT_SUPPORTED = (short) 0x6D00;
    /** A counted key has no use left (ISO 7816-4: reference data not usable); it is dead for good. */
    public static final short SW_KEY_EXHAUSTED = SW_OBJECT_INVALID;
    /** A counted key of another kind than the operation needs (sign with an AES key, ...). */
    public static final short SW_KEY_KIND_MISMATCH = SW_NV_TYPE_MISMATCH;
    /** Owner auth wrong: 63Cx, x = tries left (like ISO VERIFY). */
    public static final short SW_OWNER_AUTH_FAILED = (short) 0x63C0;
}
