package tpmcard.mtpm;

/**
 * The closure engine's instructions, limits, image layout, opcodes and status words
 * (docs/closures.md). Mirrored in host/tpmcard/services/closures/constants.py;
 * tests/closures/test_constants.py checks that the names and values match.
 */
public final class ClosureConstants {
    private ClosureConstants() {}

    // mTPM instructions 0x90..0x9E.
    public static final byte INS_CLOSURE_SEAL = (byte) 0x90;
    public static final byte INS_CLOSURE_LOAD = (byte) 0x92;
    public static final byte INS_CLOSURE_LIST = (byte) 0x94;
    public static final byte INS_CLOSURE_RUN = (byte) 0x96;
    public static final byte INS_CLOSURE_REMOVE = (byte) 0x98;
    public static final byte INS_CLOSURE_STORE = (byte) 0x9A;
    public static final byte INS_CLOSURE_AUTHORITY_SET = (byte) 0x9C;
    public static final byte INS_CLOSURE_AUTHORITY_GET = (byte) 0x9E;
    /** P1 of RUN. */
    public static final byte P1_RUN_BY_NAME = (byte) 0x00;
    public static final byte P1_RUN_IMAGE = (byte) 0x01;

    // Card caps on the header's limits.
    public static final short MAX_STACK = 32;
    public static final short MAX_MEMORY = 256;
    public static final short MAX_OUTPUT = 200;
    public static final short MAX_STORE = 256;
    public static final short MAX_STEPS = 20000;
    public static final short MAX_CODE = 512;
    public static final short CLOSURE_SLOTS = 4;

    // Header (32 bytes) field offsets.
    public static final short HEADER_LENGTH = 32;
    public static final short NAME_LENGTH = 8;
    public static final short H_NAME = 0;
    public static final short H_VERSION = 8;
    public static final short H_FLAGS = 10;
    public static final short H_STACK = 11;
    public static final short H_MEMORY = 12;
    public static final short H_OUTPUT = 14;
    public static final short H_RESERVED1 = 15;
    public static final short H_STORE = 16;
    public static final short H_STEPS = 18;
    public static final short H_CODE = 20;
    public static final short H_RESERVED2 = 22;
    public static final short H_AUTHOR = 24;
    public static final short AUTHOR_LENGTH = 8;
    public static final byte FLAG_SIGNED = (byte) 0x01;

    // Sealed image: version 1 || card closure id 16 || header 32 || nonce 8 || ciphertext || CMAC 16.
    public static final byte IMAGE_VERSION = (byte) 0x01;
    public static final short CARD_ID_LENGTH = 16;
    public static final short NONCE_LENGTH = 8;
    public static final short S_CARD_ID = 1;
    public static final short S_HEADER = 17;
    public static final short S_NONCE = 49;
    public static final short SEALED_PREFIX = 57;
    public static final short IMAGE_ID_LENGTH = 8;
    public static final short LIST_ENTRY_LENGTH = 26;
    public static final short AUTHORITY_POINT_LENGTH = 65;

    // Opcodes.
    public static final byte OP_HALT = (byte) 0x00;
    public static final byte OP_FAIL = (byte) 0x01;
    public static final byte OP_NOP = (byte) 0x02;
    public static final byte OP_JMP = (byte) 0x03;
    public static final byte OP_JZ = (byte) 0x04;
    public static final byte OP_JNZ = (byte) 0x05;
    public static final byte OP_PUSH = (byte) 0x10;
    public static final byte OP_PUSHB = (byte) 0x11;
    public static final byte OP_POP = (byte) 0x12;
    public static final byte OP_DUP = (byte) 0x13;
    public static final byte OP_SWAP = (byte) 0x14;
    public static final byte OP_OVER = (byte) 0x15;
    public static final byte OP_ROT = (byte) 0x16;
    public static final byte OP_ADD = (byte) 0x20;
    public static final byte OP_SUB = (byte) 0x21;
    public static final byte OP_MUL = (byte) 0x22;
    public static final byte OP_DIV = (byte) 0x23;
    public static final byte OP_MOD = (byte) 0x24;
    public static final byte OP_AND = (byte) 0x25;
    public static final byte OP_OR = (byte) 0x26;
    public static final byte OP_XOR = (byte) 0x27;
    public static final byte OP_NOT = (byte) 0x28;
    public static final byte OP_SHL = (byte) 0x29;
    public static final byte OP_SHR = (byte) 0x2A;
    public static final byte OP_EQ = (byte) 0x2B;
    public static final byte OP_LT = (byte) 0x2C;
    public static final byte OP_ULT = (byte) 0x2D;
    public static final byte OP_LOAD8 = (byte) 0x30;
    public static final byte OP_STORE8 = (byte) 0x31;
    public static final byte OP_LOAD16 = (byte) 0x32;
    public static final byte OP_STORE16 = (byte) 0x33;
    public static final byte OP_MCOPY = (byte) 0x34;
    public static final byte OP_MFILL = (byte) 0x35;
    public static final byte OP_MEQ = (byte) 0x36;
    public static final byte OP_DATA = (byte) 0x37;
    public static final byte OP_DIV32 = (byte) 0x38;
    public static final byte OP_ADD32 = (byte) 0x39;
    public static final byte OP_ARGLEN = (byte) 0x3A;
    public static final byte OP_OUT = (byte) 0x40;
    public static final byte OP_SLOAD = (byte) 0x41;
    public static final byte OP_SSTORE = (byte) 0x42;
    public static final byte OP_SQUOTA = (byte) 0x43;
    public static final byte OP_PCR = (byte) 0x50;
    public static final byte OP_SHA256 = (byte) 0x51;
    public static final byte OP_HMAC256 = (byte) 0x52;
    public static final byte OP_SHA1 = (byte) 0x53;
    public static final byte OP_HMAC1 = (byte) 0x54;
    public static final byte OP_RANDOM = (byte) 0x55;
    public static final byte OP_CLOCK = (byte) 0x56;
    public static final byte OP_CSIGN = (byte) 0x60;
    public static final byte OP_CHMAC = (byte) 0x61;
    /** A count-limited key reference in memory: handle 4, auth length 1, auth 0..32. */
    public static final short KEY_REFERENCE_HEADER = 5;

    // Status words of a run (docs/closures.md "Status words of a run").
    public static final short SW_CLOSURE_FAILED = (short) 0x6400;       // | the FAIL code
    public static final short SW_CLOSURE_STEPS = (short) 0x6601;
    public static final short SW_CLOSURE_STACK = (short) 0x6602;
    public static final short SW_CLOSURE_MEMORY = (short) 0x6603;
    public static final short SW_CLOSURE_CODE = (short) 0x6604;
    public static final short SW_CLOSURE_OUTPUT = (short) 0x6605;
    public static final short SW_CLOSURE_STORE = (short) 0x6606;
    public static final short SW_CLOSURE_ARITHMETIC = (short) 0x6607;
    public static final short SW_CLOSURE_OPERAND = (short) 0x6608;
    public static final short SW_CLOSURE_NO_ROOM = (short) 0x6609;
    public static final short SW_CLOSURE_UNAVAILABLE = (short) 0x660A;
    /** CSIGN/CHMAC after a store write in the same run: a key's charge is never rolled back. */
    public static final short SW_CLOSURE_ORDER = (short) 0x660B;
    /** A signed image whose authority is not the registered one, or whose signature fails. */
    public static final short SW_UNTRUSTED_AUTHORITY = (short) 0x6A85;
}
