package tpmcard.lib;

/**
 * TPM 2.0 constants (TPM 2.0 Part 2) that both the core applet (which parses the host TPM's
 * structures) and the mobile TPM (which marshals its own) use. One definition for both.
 */
public final class Tpm2 {
    private Tpm2() {}

    // §6.3 TPM_ALG_ID
    public static final short ALG_ECC = (short) 0x0023;
    public static final short ALG_SHA256 = (short) 0x000B;
    public static final short ALG_NULL = (short) 0x0010;
    public static final short ALG_ECDSA = (short) 0x0018;
    public static final short ALG_ECDH = (short) 0x0019;
    // §6.4 TPM_ECC_CURVE
    public static final short ECC_NIST_P256 = (short) 0x0003;
    // §6.9 TPM_ST
    public static final short ST_ATTEST_CERTIFY = (short) 0x8017;
    public static final short ST_ATTEST_QUOTE = (short) 0x8018;
    // §6.2 TPM_GENERATED_VALUE FF544347, as two shorts
    public static final short GENERATED_HIGH = (short) 0xFF54;
    public static final short GENERATED_LOW = (short) 0x4347;
}
