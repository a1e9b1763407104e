package tpmcard.algorithms;

import javacard.framework.AID;
import javacard.framework.ISO7816;
import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.Shareable;
import javacard.framework.Util;
import javacard.security.AESKey;
import javacard.security.KeyAgreement;
import javacard.security.MessageDigest;
import javacardx.crypto.Cipher;
import tpmcard.lib.P256;

/**
 * The algorithm registry, hosted by the core applet (docs/algorithms.md §2). The core creates one
 * in its constructor and routes INVOKE commands addressed to the registry's AID ({@link #isRegistryAid})
 * to {@link #invoke}; the registry finds providers by AID with
 * JCSystem.getAppletShareableInterfaceObject. All its state is persistent and owned by the core
 * applet's context.
 *
 * <p>Routing: CALL names an algorithm id; the registry routes to the one enabled entry with that
 * id. REGISTER and ENABLE make an entry the enabled one for its id and disable the others, so a
 * newly registered version takes over at once (replacement) and the old one can be re-enabled
 * (rollback) as long as its applet exists.
 */
public final class Registry {
    private static final short ENTRY_FREE = (short) 0;

    // One row per entry: AID bytes, AID length (0: free), algorithm id, enabled flag.
    private final byte[] aids;
    private final byte[] aidLengths;
    private final byte[] algorithmIds;
    private final byte[] enabled;
    /**
     * The one key-import unwrapper of the suite (docs/algorithms.md §4), in the core's context:
     * GET WRAP KEY to any provider answers its public key, and KEY IMPORT is unwrapped here and
     * reaches the provider as the clear key, in the APDU buffer for the length of the call (the
     * core wipes the buffer after INVOKE). One unwrapper instead of one per provider: about 500
     * bytes of RAM (scratch and crypto objects) for each provider that imports keys.
     */
    private final KeyUnwrap unwrap;

    /** RAM the core lends for key import ({@link KeyUnwrap#SCRATCH_LENGTH}). */
    public static final short SCRATCH_LENGTH = KeyUnwrap.SCRATCH_LENGTH;

    /**
     * @param sha256 the core's SHA-256, ECDH and transient AES-128 key (CLEAR_ON_RESET), lent to
     *        key import; {@code engine} the core's AES-128 CBC (or ECB) cipher without padding,
     *        which a software GCM shares (initialised before each use); {@code scratch} RAM of
     *        SCRATCH_LENGTH bytes at scratchOffset free during INVOKE; {@code installScratch}
     *        CLEAR_ON_RESET RAM used during construction only
     */
    public Registry(P256 curve, MessageDigest sha256, KeyAgreement agreement, AESKey kek, Cipher engine,
                    byte[] scratch, short scratchOffset, byte[] installScratch) {
        unwrap = new KeyUnwrap(curve, sha256, agreement, kek, engine, scratch, scratchOffset, installScratch);
        short n = ProviderConstants.REGISTRY_ENTRIES;
        aids = new byte[(short) (n * ProviderConstants.MAX_AID_LENGTH)];
        aidLengths = new byte[n];
        algorithmIds = new byte[n];
        enabled = new byte[n];
        // The providers the core knows from the start (the suite manifest's provider applets).
        seed((short) 0, ProviderConstants.PROVIDER_AES_GCM, ProviderConstants.ALG_AES_GCM);
        seed((short) 1, ProviderConstants.PROVIDER_SHA3, ProviderConstants.ALG_SHA3_256);
        seed((short) 2, ProviderConstants.PROVIDER_HMAC, ProviderConstants.ALG_HMAC_SHA2);
        seed((short) 3, ProviderConstants.PROVIDER_CHACHA20_POLY1305, ProviderConstants.ALG_CHACHA20_POLY1305);
        seed((short) 4, ProviderConstants.PROVIDER_ECDSA_P256, ProviderConstants.ALG_ECDSA_P256_SHA256);
    }

    private void seed(short i, byte provider, byte id) {
        ProviderConstants.writeProviderAid(provider, aids, (short) (i * ProviderConstants.MAX_AID_LENGTH));
        aidLengths[i] = (byte) ProviderConstants.AID_LENGTH;
        algorithmIds[i] = id;
        enabled[i] = (byte) 1;
    }

    /** Whether an INVOKE names the registry (the core calls this before its service lookup). */
    public static boolean isRegistryAid(byte[] buf, short off, byte length) {
        return ProviderConstants.isRegistryAid(buf, off, length);
    }

    /**
     * One registry command, with the data in the APDU buffer as for tpmcard.core.SuiteService#invoke:
     * {@code buffer} is the APDU buffer (the registry runs in the core's context, but a CALL hands
     * the same buffer to a provider), data plus answer within outLimit. Unlike a service, the
     * registry leaves its answer at {@code inOffset} (the data is consumed by then): a CALL moves
     * the provider's data over its two parameter bytes, so the provider gets the whole window.
     */
    public short invoke(byte ins, byte p1, byte p2, byte[] buffer, short inOffset, short inLength,
            short outOffset, short outLimit, short sessionId) {
        short n = run(ins, p1, p2, buffer, inOffset, inLength, outOffset, outLimit, sessionId);
        if (ins != ProviderConstants.INS_CALL) {
            Util.arrayCopyNonAtomic(buffer, outOffset, buffer, inOffset, n);
        }
        return n;
    }

    private short run(byte ins, byte p1, byte p2, byte[] buffer, short inOffset, short inLength,
            short outOffset, short outLimit, short sessionId) {
        byte[] in = buffer;
        byte[] out = buffer;
        switch (ins) {
            case ProviderConstants.INS_CALL:
                return call(p1, p2, in, inOffset, inLength, outOffset, outLimit, sessionId);
            case ProviderConstants.INS_LIST:
                checkNoParameters(p1, p2, inLength);
                return list(out, outOffset);
            case ProviderConstants.INS_REGISTER:
                checkParameters(p1, p2);
                return register(in, inOffset, inLength, out, outOffset);
            case ProviderConstants.INS_UNREGISTER:
                checkParameters(p1, p2);
                unregister(find(in, inOffset, inLength));
                return 0;
            case ProviderConstants.INS_ENABLE:
                checkParameters(p1, p2);
                setEnabled(find(in, inOffset, inLength), true);
                return 0;
            case ProviderConstants.INS_DISABLE:
                checkParameters(p1, p2);
                setEnabled(find(in, inOffset, inLength), false);
                return 0;
            default:
                ISOException.throwIt(ISO7816.SW_INS_NOT_SUPPORTED);
                return 0;
        }
    }

    private static void checkParameters(byte p1, byte p2) {
        if (p1 != 0 || p2 != 0) {
            ISOException.throwIt(ISO7816.SW_INCORRECT_P1P2);
        }
    }

    private static void checkNoParameters(byte p1, byte p2, short inLength) {
        checkParameters(p1, p2);
        if (inLength != 0) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
    }

    private short call(byte id, byte providerIns, byte[] buffer, short inOffset, short inLength,
            short outOffset, short outLimit, short sessionId) {
        byte[] in = buffer;
        if (inLength < 2) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
        short entry = -1;
        boolean registered = false;
        for (short i = 0; i < ProviderConstants.REGISTRY_ENTRIES; i++) {
            if (aidLengths[i] != ENTRY_FREE && algorithmIds[i] == id) {
                registered = true;
                if (enabled[i] != 0) {
                    entry = i;
                    break;
                }
            }
        }
        if (entry < 0) {
            ISOException.throwIt(registered ? ProviderConstants.SW_PROVIDER_DISABLED
                    : ProviderConstants.SW_PROVIDER_NOT_REGISTERED);
        }
        AlgorithmProvider provider = lookUp(entry);
        if (provider == null) {
            ISOException.throwIt(ProviderConstants.SW_PROVIDER_ABSENT);
        }
        if (providerIns == ProviderConstants.INS_GET_WRAP_KEY || providerIns == ProviderConstants.INS_KEY_IMPORT) {
            return importStep(provider, id, providerIns, buffer, inOffset, inLength, outOffset, outLimit, sessionId);
        }
        // The provider's data moves down over its P1 P2, so its data and answer get the whole window.
        byte providerP1 = in[inOffset];
        byte providerP2 = in[(short) (inOffset + 1)];
        short dataLength = (short) (inLength - 2);
        Util.arrayCopyNonAtomic(buffer, (short) (inOffset + 2), buffer, inOffset, dataLength);
        short n = provider.call(providerIns, providerP1, providerP2, buffer, inOffset, dataLength,
                (short) (inOffset + dataLength), outLimit, sessionId);
        // The answer goes down to inOffset, where invoke() leaves every answer of the registry.
        Util.arrayCopyNonAtomic(buffer, (short) (inOffset + dataLength), buffer, inOffset, n);
        return n;
    }

    /**
     * GET WRAP KEY (answered here, for a provider that takes imports) and KEY IMPORT (unwrapped
     * here for the provider's algorithm id and the key type in P1, then handed over in clear).
     * Answers at inOffset, as every registry answer.
     */
    private short importStep(AlgorithmProvider provider, byte id, byte providerIns, byte[] buffer, short inOffset,
            short inLength, short outOffset, short outLimit, short sessionId) {
        byte providerP1 = buffer[inOffset];
        byte providerP2 = buffer[(short) (inOffset + 1)];
        short dataLength = (short) (inLength - 2);
        provider.describe(buffer, outOffset);  // the capability bits, at descriptor offset 3
        if ((Util.getShort(buffer, (short) (outOffset + 3)) & ProviderConstants.CAP_KEY_IMPORT) == 0) {
            ISOException.throwIt(ISO7816.SW_INS_NOT_SUPPORTED);
        }
        if (providerIns == ProviderConstants.INS_GET_WRAP_KEY) {
            if (providerP1 != 0 || providerP2 != 0) {
                ISOException.throwIt(ISO7816.SW_INCORRECT_P1P2);
            }
            if (dataLength != 0) {
                ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
            }
            return unwrap.publicKey(buffer, inOffset);
        }
        if (providerP2 != 0) {
            ISOException.throwIt(ISO7816.SW_INCORRECT_P1P2);
        }
        short n = unwrap.unwrap(id, providerP1, buffer, (short) (inOffset + 2), dataLength);
        Util.arrayCopyNonAtomic(unwrap.scratch, unwrap.scratchOffset, buffer, inOffset, n);
        unwrap.wipe();
        short answer = provider.call(providerIns, providerP1, providerP2, buffer, inOffset, n,
                (short) (inOffset + n), outLimit, sessionId);
        Util.arrayCopyNonAtomic(buffer, (short) (inOffset + n), buffer, inOffset, answer);
        return answer;
    }

    /** The provider at an entry's AID, or null when no applet there offers the interface. */
    private AlgorithmProvider lookUp(short entry) {
        AID aid = JCSystem.lookupAID(aids, (short) (entry * ProviderConstants.MAX_AID_LENGTH), aidLengths[entry]);
        if (aid == null) {
            return null;
        }
        Shareable s = JCSystem.getAppletShareableInterfaceObject(aid, ProviderConstants.PROVIDER_PARAMETER);
        if (!(s instanceof AlgorithmProvider)) {
            return null;
        }
        return (AlgorithmProvider) s;
    }

    /**
     * LIST: per entry {@code state | AID length | AID | descriptor length | descriptor}; an absent
     * provider has an empty descriptor.
     */
    private short list(byte[] out, short outOffset) {
        short o = outOffset;
        for (short i = 0; i < ProviderConstants.REGISTRY_ENTRIES; i++) {
            byte length = aidLengths[i];
            if (length == ENTRY_FREE) {
                continue;
            }
            AlgorithmProvider provider = lookUp(i);
            out[o++] = provider == null ? ProviderConstants.STATE_ABSENT
                    : (enabled[i] != 0 ? ProviderConstants.STATE_ENABLED : ProviderConstants.STATE_DISABLED);
            out[o++] = length;
            o = Util.arrayCopyNonAtomic(aids, (short) (i * ProviderConstants.MAX_AID_LENGTH), out, o, length);
            if (provider == null) {
                out[o++] = 0;
            } else {
                out[o] = (byte) provider.describe(out, (short) (o + 1));
                o += (short) (1 + out[o]);
            }
        }
        return (short) (o - outOffset);
    }

    /**
     * For the mobile TPM's closures (through the core's HostPcrs): returns when the provider at
     * this AID is registered and enabled, else SW_PROVIDER_ABSENT (6A82): to a closure, a provider
     * the owner disabled or unregistered is as absent as one never installed (the mobile TPM's own
     * 6A81 and 6A83 mean other things).
     */
    public void requireEnabled(byte[] in, short off, byte length) {
        short i = indexOf(in, off, length);
        if (i < 0 || enabled[i] == 0) {
            ISOException.throwIt(ProviderConstants.SW_PROVIDER_ABSENT);
        }
    }

    private short indexOf(byte[] in, short off, short length) {
        for (short i = 0; i < ProviderConstants.REGISTRY_ENTRIES; i++) {
            if (aidLengths[i] == (byte) length && Util.arrayCompare(aids, (short) (i * ProviderConstants.MAX_AID_LENGTH),
                    in, off, length) == 0) {
                return i;
            }
        }
        return -1;
    }

    private static void checkAid(short length) {
        if (length < 5 || length > ProviderConstants.MAX_AID_LENGTH) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
    }

    private short find(byte[] in, short off, short length) {
        checkAid(length);
        short i = indexOf(in, off, length);
        if (i < 0) {
            ISOException.throwIt(ProviderConstants.SW_PROVIDER_NOT_REGISTERED);
        }
        return i;
    }

    /** REGISTER: ask the provider at the AID for its descriptor, then make it the enabled entry for its id. */
    private short register(byte[] in, short off, short length, byte[] out, short outOffset) {
        checkAid(length);
        AID aid = JCSystem.lookupAID(in, off, (byte) length);
        Shareable s = aid == null ? null
                : JCSystem.getAppletShareableInterfaceObject(aid, ProviderConstants.PROVIDER_PARAMETER);
        if (!(s instanceof AlgorithmProvider)) {
            ISOException.throwIt(ProviderConstants.SW_PROVIDER_ABSENT);
        }
        short d = ((AlgorithmProvider) s).describe(out, outOffset);
        short i = indexOf(in, off, length);
        if (i < 0) {
            for (i = 0; i < ProviderConstants.REGISTRY_ENTRIES; i++) {
                if (aidLengths[i] == ENTRY_FREE) {
                    break;
                }
            }
            if (i == ProviderConstants.REGISTRY_ENTRIES) {
                ISOException.throwIt(ProviderConstants.SW_NO_SPACE);
            }
        }
        boolean own = beginTransaction();
        Util.arrayCopy(in, off, aids, (short) (i * ProviderConstants.MAX_AID_LENGTH), length);
        algorithmIds[i] = out[outOffset];
        aidLengths[i] = (byte) length;
        enableOnly(i);
        commitTransaction(own);
        return d;
    }

    private void unregister(short i) {
        boolean own = beginTransaction();
        aidLengths[i] = ENTRY_FREE;
        enabled[i] = 0;
        algorithmIds[i] = 0;
        commitTransaction(own);
    }

    private void setEnabled(short i, boolean on) {
        boolean own = beginTransaction();
        if (on) {
            enableOnly(i);
        } else {
            enabled[i] = 0;
        }
        commitTransaction(own);
    }

    /** Enable entry i and disable every other entry with the same algorithm id. Inside a transaction. */
    private void enableOnly(short i) {
        for (short j = 0; j < ProviderConstants.REGISTRY_ENTRIES; j++) {
            if (j != i && aidLengths[j] != ENTRY_FREE && algorithmIds[j] == algorithmIds[i]) {
                enabled[j] = 0;
            }
        }
        enabled[i] = (byte) 1;
    }

    // The core may already run a transaction around INVOKE; then ours joins it.
    static boolean beginTransaction() {
        if (JCSystem.getTransactionDepth() != 0) {
            return false;
        }
        JCSystem.beginTransaction();
        return true;
    }

    static void commitTransaction(boolean own) {
        if (own) {
            JCSystem.commitTransaction();
        }
    }
}
