package tpmcard.algorithms;

/**
 * Every command, status word, identifier and size of the algorithm registry and its providers
 * (docs/algorithms.md). The host mirrors the public names in host/tpmcard/algorithms.py;
 * tests/algorithms/test_constants.py reads this class through JPype and checks they agree.
 */
public final class ProviderConstants {
    private ProviderConstants() {}

    /** The parameter a provider answers in getShareableInterfaceObject. */
    public static final byte PROVIDER_PARAMETER = (byte) 0x41;

    // AIDs. A library package may hold no static arrays (Oracle's converter refuses them), so
    // the AIDs are written by code: F0 74 70 6D 63 | kind | n | 01 (manifest.json agrees; tests check).
    public static final short AID_LENGTH = (short) 8;
    private static final byte KIND_CORE = (byte) 0x01;
    private static final byte KIND_MTPM = (byte) 0x02;
    private static final byte KIND_ALGORITHMS = (byte) 0x03;
    // The registry is addressed by INVOKE with provider number 0's AID; no applet has it (the core hosts it).
    public static final byte PROVIDER_REGISTRY = (byte) 0x00;
    // Provider applet numbers the registry knows from the start.
    public static final byte PROVIDER_AES_GCM = (byte) 0x01;
    public static final byte PROVIDER_SHA3 = (byte) 0x02;
    public static final byte PROVIDER_HMAC = (byte) 0x03;
    public static final byte PROVIDER_CHACHA20_POLY1305 = (byte) 0x04;
    public static final byte PROVIDER_ECDSA_P256 = (byte) 0x05;
    // Not known at start: a second version, registered at run time (replacement).
    public static final byte PROVIDER_HMAC_V2 = (byte) 0x13;

    /** Byte i of F0 74 70 6D 63 | kind | n | 01. */
    private static byte aidByte(short i, byte kind, byte n) {
        switch (i) {
            case 0: return (byte) 0xF0;
            case 1: return (byte) 0x74;
            case 2: return (byte) 0x70;
            case 3: return (byte) 0x6D;
            case 4: return (byte) 0x63;
            case 5: return kind;
            case 6: return n;
            default: return (byte) 0x01;
        }
    }

    private static short writeAid(byte kind, byte n, byte[] out, short off) {
        for (short i = 0; i < AID_LENGTH; i++) {
            out[(short) (off + i)] = aidByte(i, kind, n);
        }
        return (short) (off + AID_LENGTH);
    }

    private static boolean isAid(byte kind, byte n, byte[] buf, short off, byte length) {
        if (length != (byte) AID_LENGTH) {
            return false;
        }
        for (short i = 0; i < AID_LENGTH; i++) {
            if (buf[(short) (off + i)] != aidByte(i, kind, n)) {
                return false;
            }
        }
        return true;
    }

    /** Writes the AID of provider applet n (PROVIDER_*) at out[off]; returns the offset after it. */
    public static short writeProviderAid(byte n, byte[] out, short off) {
        return writeAid(KIND_ALGORITHMS, n, out, off);
    }

    /** Writes the core applet's AID: providers give their interface only to this context. */
    public static short writeCoreAid(byte[] out, short off) {
        return writeAid(KIND_CORE, (byte) 0x00, out, off);
    }

    /**
     * Writes the mobile TPM applet's AID: the second context providers serve (closures,
     * docs/closures.md "Providers"), with keys kept apart from the core's.
     */
    public static short writeMtpmAid(byte[] out, short off) {
        return writeAid(KIND_MTPM, (byte) 0x00, out, off);
    }

    /** Whether buf[off..off+length) is the registry's AID. */
    public static boolean isRegistryAid(byte[] buf, short off, byte length) {
        return isAid(KIND_ALGORITHMS, PROVIDER_REGISTRY, buf, off, length);
    }

    // Algorithm ids (descriptor byte 0; registry CALL P1).
    public static final byte ALG_AES_GCM = (byte) 0x01;
    public static final byte ALG_SHA3_256 = (byte) 0x02;
    public static final byte ALG_HMAC_SHA2 = (byte) 0x03;
    public static final byte ALG_CHACHA20_POLY1305 = (byte) 0x04;
    public static final byte ALG_ECDSA_P256_SHA256 = (byte) 0x05;

    // Capability bits (descriptor bytes 3..4).
    public static final short CAP_AEAD = (short) 0x0001;
    public static final short CAP_DIGEST = (short) 0x0002;
    public static final short CAP_MAC = (short) 0x0004;
    public static final short CAP_SIGN = (short) 0x0008;
    public static final short CAP_KEY_GENERATE = (short) 0x0010;
    public static final short CAP_KEY_IMPORT = (short) 0x0020;
    public static final short CAP_STREAM = (short) 0x0040;

    /** id | version major | minor | capabilities (2) | max command data (2) | implementation. */
    public static final short DESCRIPTOR_LENGTH = (short) 8;

    // Implementation (descriptor byte 7): chosen once, at install.
    public static final byte IMPLEMENTATION_NATIVE = (byte) 0x01;   // the card's own algorithm
    public static final byte IMPLEMENTATION_SOFTWARE = (byte) 0x02; // this suite's code over card primitives

    // Registry instructions (INVOKE to REGISTRY_AID).
    public static final byte INS_LIST = (byte) 0x10;
    public static final byte INS_REGISTER = (byte) 0x12;
    public static final byte INS_UNREGISTER = (byte) 0x14;
    public static final byte INS_ENABLE = (byte) 0x16;
    public static final byte INS_DISABLE = (byte) 0x18;
    public static final byte INS_CALL = (byte) 0x20;     // P1 algorithm id, P2 provider INS, data [P1][P2][payload]

    // Provider instructions (inside CALL).
    public static final byte INS_GET_WRAP_KEY = (byte) 0x26;
    public static final byte INS_KEY_GENERATE = (byte) 0x20;  // P1 key type
    public static final byte INS_KEY_IMPORT = (byte) 0x22;    // P1 key type, data: wrapped key
    public static final byte INS_KEY_DELETE = (byte) 0x24;    // data: handle
    public static final byte INS_ENCRYPT = (byte) 0x30;       // handle | nonce len | nonce | aad len(2) | aad | plaintext
    public static final byte INS_DECRYPT = (byte) 0x32;       // handle | nonce len | nonce | aad len(2) | aad | ct || tag
    public static final byte INS_DIGEST = (byte) 0x34;        // message
    public static final byte INS_MAC = (byte) 0x36;           // handle | message
    public static final byte INS_SIGN = (byte) 0x38;          // handle | message
    public static final byte INS_VERIFY = (byte) 0x3A;        // handle | sig len | sig (or MAC) | message
    public static final byte INS_STREAM_INIT = (byte) 0x40;   // P1 operation (one of the INS above); data: handle (if keyed)
    public static final byte INS_STREAM_UPDATE = (byte) 0x42; // data chunk
    public static final byte INS_STREAM_FINAL = (byte) 0x44;  // last chunk (VERIFY: sig len | sig | chunk)

    // Registry entry states (LIST).
    public static final byte STATE_ENABLED = (byte) 0x01;
    public static final byte STATE_DISABLED = (byte) 0x02;
    public static final byte STATE_ABSENT = (byte) 0x03;      // no applet instance answers at the AID

    // Key types (KEY_GENERATE / KEY_IMPORT P1).
    public static final byte KEY_AES_128 = (byte) 0x01;
    public static final byte KEY_AES_256 = (byte) 0x02;
    public static final byte KEY_HMAC_SHA256 = (byte) 0x03;
    public static final byte KEY_HMAC_SHA512 = (byte) 0x04;
    public static final byte KEY_CHACHA20 = (byte) 0x05;
    public static final byte KEY_EC_P256 = (byte) 0x06;
    public static final byte KEY_EC_P256_PUBLIC = (byte) 0x07; // ECDSA: a public point 04 X Y, VERIFY only

    // Sizes.
    public static final short HANDLE_LENGTH = (short) 4;      // instance tag (2) | slot | generation
    public static final short KEY_SLOTS = (short) 4;
    // The owner of a provider key: the context that generated or imported it (only it may use it).
    public static final byte KEY_OWNER_CORE = (byte) 0x00;
    public static final byte KEY_OWNER_MTPM = (byte) 0x01;
    public static final short MAX_PROVIDER_DATA = (short) 4000; // provider command data, fits one INVOKE
    public static final short REGISTRY_ENTRIES = (short) 8;
    public static final short MAX_AID_LENGTH = (short) 16;
    public static final short EC_POINT_LENGTH = (short) 65;
    public static final short WRAP_NONCE_LENGTH = (short) 12;
    public static final short WRAP_TAG_LENGTH = (short) 16;
    public static final short AEAD_TAG_LENGTH = (short) 16;

    // Status words (beyond javacard.framework.ISO7816, which supplies 6700, 6A80, 6A86, 6D00).
    public static final short SW_VERIFICATION_FAILED = (short) 0x6300;    // bad tag / signature / MAC / wrapped key
    public static final short SW_PROVIDER_DISABLED = (short) 0x6A81;
    public static final short SW_PROVIDER_ABSENT = (short) 0x6A82;        // withdrawn: no applet at the AID
    public static final short SW_PROVIDER_NOT_REGISTERED = (short) 0x6A83;
    public static final short SW_KEY_NOT_FOUND = (short) 0x6A88;          // unknown, deleted or stale handle
    public static final short SW_KEY_TYPE_MISMATCH = (short) 0x6981;
    public static final short SW_NO_SPACE = (short) 0x6A84;               // registry or key slots full
    public static final short SW_STREAM_NOT_OPEN = (short) 0x6985;        // UPDATE/FINAL without INIT, or another session's

    /**
     * Install parameters a provider accepts: up to 32 bytes of entropy (2 are used), or exactly
     * 33: 32 bytes of entropy and an option byte.
     */
    public static final short MAX_INSTALL_PARAMS = (short) 33;
    /** Option bit: software implementations even where the card has the algorithm. */
    public static final byte INSTALL_OPTION_SOFTWARE = (byte) 0x01;
}
