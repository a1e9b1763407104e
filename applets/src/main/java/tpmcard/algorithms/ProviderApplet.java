package tpmcard.algorithms;

import javacard.framework.AID;
import javacard.framework.APDU;
import javacard.framework.Applet;
import javacard.framework.ISO7816;
import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.Shareable;
import javacard.framework.Util;
import javacard.security.RandomData;
import tpmcard.lib.InstallMemory;
import tpmcard.lib.InstallParameters;
import tpmcard.lib.P256;

/**
 * What every provider applet shares (docs/algorithms.md §3): its descriptor, the gate that hands
 * the interface only to the core applet and the mobile TPM (whose keys it keeps apart from the
 * core's), key slots named by handles, key import (unwrapped by the
 * registry, Registry.importStep) and the
 * ownership of a stream by one secure session. A subclass supplies the algorithm.
 *
 * <p>Key handle: {@code instance tag (2) | slot | generation}. The instance tag is drawn at install
 * (card randomness XOR install entropy), so a handle of a deleted or replaced provider instance
 * never names a key of another instance; the generation changes whenever a slot is emptied, so a
 * deleted key's handle stays dead.
 *
 * <p>Memory: all transient memory is CLEAR_ON_RESET. A provider is never the selected applet (the
 * core is), and CLEAR_ON_DESELECT memory is reachable only from the selected applet's context.
 */
public abstract class ProviderApplet extends Applet implements AlgorithmProvider {
    private final byte[] descriptor;
    private final byte[] instanceTag;
    private final byte[] slotTypes;
    private final byte[] slotGenerations;
    /** Per key slot: who generated or imported it (KEY_OWNER_CORE / KEY_OWNER_MTPM), the only caller it serves. */
    private final byte[] slotOwners;
    /** P-256 domain parameters; null when the provider takes no keys. */
    protected final P256 curve;
    /** The provider's RNG, made once here (subclasses use it rather than make their own). */
    protected final RandomData random;
    /**
     * The install parameters asked for software implementations even where the card has the
     * algorithm (option byte {@link ProviderConstants#INSTALL_OPTION_SOFTWARE}). A subclass reads
     * it once, in its constructor, then calls {@link #setImplementation}.
     */
    protected final boolean softwareRequested;
    // [LIMIT] the end of the current call's window (outLimit); with CAP_STREAM also [OWNER] the
    // owning session id of the stream (0: no stream), [OPERATION] its operation, [SLOT] its key slot.
    private final short[] stream;
    private static final short LIMIT = 0;
    private static final short OWNER = 1;
    private static final short OPERATION = 2;
    private static final short SLOT = 3;
    /** The core applet's AID and the mobile TPM's, the two clients given the interface. */
    private final byte[] coreAid;
    private final byte[] mtpmAid;

    /**
     * @param transientBytes the least transient RAM the provider takes on any card, arrays and
     *     card crypto objects at JCAlgTest's figures, with whichever implementation it picks
     *     (SuiteRamTest checks it): a card with less free fails the install (6A84), before
     *     anything is made; the card charges the crypto objects at its own figures as they are made
     */
    protected ProviderApplet(byte algorithmId, byte versionMajor, byte versionMinor, short capabilities,
            short transientBytes, byte[] bArray, short bOffset, byte bLength) {
        descriptor = new byte[ProviderConstants.DESCRIPTOR_LENGTH];
        descriptor[0] = algorithmId;
        descriptor[1] = versionMajor;
        descriptor[2] = versionMinor;
        Util.setShort(descriptor, (short) 3, capabilities);
        Util.setShort(descriptor, (short) 5, ProviderConstants.MAX_PROVIDER_DATA);
        instanceTag = new byte[2];
        random = RandomData.getInstance(RandomData.ALG_SECURE_RANDOM);
        random.generateData(instanceTag, (short) 0, (short) 2);
        InstallMemory.requireTransient(transientBytes);  // fail at install
        InstallParameters.check(bArray, bOffset, bLength, ProviderConstants.MAX_INSTALL_PARAMS);
        short paramsOffset = InstallParameters.paramsOffset(bArray, bOffset, bLength);
        short paramsLength = InstallParameters.paramsLength(bArray, bOffset, bLength);
        for (short i = 0; i < paramsLength && i < 2; i++) {
            instanceTag[i] ^= bArray[(short) (paramsOffset + i)];
        }
        softwareRequested = paramsLength == ProviderConstants.MAX_INSTALL_PARAMS
                && (bArray[(short) (paramsOffset + ProviderConstants.MAX_INSTALL_PARAMS - 1)]
                        & ProviderConstants.INSTALL_OPTION_SOFTWARE) != 0;
        descriptor[7] = ProviderConstants.IMPLEMENTATION_NATIVE;
        slotTypes = new byte[ProviderConstants.KEY_SLOTS];
        slotGenerations = new byte[ProviderConstants.KEY_SLOTS];
        slotOwners = new byte[ProviderConstants.KEY_SLOTS];
        // Key import is unwrapped once, in the registry (KeyUnwrap); a provider that takes EC keys
        // needs only the curve.
        curve = (capabilities & ProviderConstants.CAP_KEY_IMPORT) != 0 ? new P256() : null;
        // A provider without streams keeps only the window's end.
        stream = JCSystem.makeTransientShortArray((capabilities & ProviderConstants.CAP_STREAM) != 0 ? (short) 4 : (short) 1,
                JCSystem.CLEAR_ON_RESET);
        coreAid = new byte[ProviderConstants.AID_LENGTH];
        ProviderConstants.writeCoreAid(coreAid, (short) 0);
        mtpmAid = new byte[ProviderConstants.AID_LENGTH];
        ProviderConstants.writeMtpmAid(mtpmAid, (short) 0);
    }

    /** Register under the AID of the install parameters. Subclasses' install() ends with this. */
    protected final void registerFromInstall(byte[] bArray, short bOffset) {
        register(bArray, (short) (bOffset + 1), bArray[bOffset]);
        InstallMemory.releaseInstallGarbage();  // what the constructor made only for install (probes)
    }

    /**
     * Records which implementation this instance runs, chosen once in the constructor: the card's
     * own (native) or this suite's code over the card's primitives (software). LIST reports it
     * (descriptor byte 7).
     */
    protected final void setImplementation(boolean software) {
        descriptor[7] = software ? ProviderConstants.IMPLEMENTATION_SOFTWARE : ProviderConstants.IMPLEMENTATION_NATIVE;
    }

    /**
     * Bytes of the current call's window from {@code outOffset} on: the answer's room, which a
     * handler may also use as scratch until it writes the answer (the window is given to each
     * call, AlgorithmProvider). Less than {@code needed}: 6700.
     */
    protected final void requireRoom(short outOffset, short needed) {
        if ((short) (stream[LIMIT] - outOffset) < needed) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
    }

    public Shareable getShareableInterfaceObject(AID clientAID, byte parameter) {
        if (parameter != ProviderConstants.PROVIDER_PARAMETER || clientAID == null
                || !(clientAID.equals(coreAid, (short) 0, (byte) coreAid.length)
                        || clientAID.equals(mtpmAid, (short) 0, (byte) mtpmAid.length))) {
            return null;
        }
        return this;
    }

    /**
     * Who is calling: the mobile TPM (a closure, docs/closures.md "Providers") or the core (the
     * host's registry CALL). The JCRE names the calling context (getPreviousContextAID inside
     * this Shareable call); a key serves only the owner that made it, and the mobile TPM has no
     * streams.
     */
    private byte caller() {
        AID previous = JCSystem.getPreviousContextAID();
        return previous != null && previous.equals(mtpmAid, (short) 0, (byte) mtpmAid.length)
                ? ProviderConstants.KEY_OWNER_MTPM : ProviderConstants.KEY_OWNER_CORE;
    }

    /** Providers take no APDUs of their own: the host reaches them only through the core's session. */
    public void process(APDU apdu) {
        if (selectingApplet()) {
            return;
        }
        ISOException.throwIt(ISO7816.SW_INS_NOT_SUPPORTED);
    }

    public short describe(byte[] out, short outOffset) {
        return (short) (Util.arrayCopyNonAtomic(descriptor, (short) 0, out, outOffset, ProviderConstants.DESCRIPTOR_LENGTH)
                - outOffset);
    }

    protected final boolean has(short capability) {
        return (Util.getShort(descriptor, (short) 3) & capability) != 0;
    }

    public short call(byte ins, byte p1, byte p2, byte[] buffer, short inOffset, short inLength,
            short outOffset, short outLimit, short sessionId) {
        // Data and answer share the APDU buffer (the answer after the data); the handlers below
        // read `in` and write `out` as before, and never keep either.
        byte[] in = buffer;
        byte[] out = buffer;
        stream[LIMIT] = outLimit;
        if (ins >= ProviderConstants.INS_STREAM_INIT && ins <= ProviderConstants.INS_STREAM_FINAL
                && caller() != ProviderConstants.KEY_OWNER_CORE) {
            ISOException.throwIt(ISO7816.SW_INS_NOT_SUPPORTED);  // one-shot only for closures
        }
        switch (ins) {
            case ProviderConstants.INS_KEY_GENERATE:
                requireCapability(ProviderConstants.CAP_KEY_GENERATE);
                checkEmpty((byte) 0, p2, inLength);
                return makeKey(p1, null, (short) 0, (short) 0, out, outOffset);
            case ProviderConstants.INS_KEY_IMPORT:
                requireCapability(ProviderConstants.CAP_KEY_IMPORT);
                checkEmpty((byte) 0, p2, (short) 0);
                return makeKey(p1, in, inOffset, inLength, out, outOffset);
            case ProviderConstants.INS_KEY_DELETE: {
                checkEmpty(p1, p2, (short) 0);
                checkHandleOnly(inLength);
                short slot = slotOf(in, inOffset, (byte) 0);
                boolean own = Registry.beginTransaction();
                clearKey(slot);
                slotTypes[slot] = 0;
                slotGenerations[slot]++;
                Registry.commitTransaction(own);
                return 0;
            }
            case ProviderConstants.INS_STREAM_INIT:
                requireCapability(ProviderConstants.CAP_STREAM);
                stream[OWNER] = 0;
                stream[SLOT] = streamInit(p1, in, inOffset, inLength);
                stream[OPERATION] = p1;
                stream[OWNER] = sessionId;
                return 0;
            case ProviderConstants.INS_STREAM_UPDATE:
            case ProviderConstants.INS_STREAM_FINAL: {
                requireCapability(ProviderConstants.CAP_STREAM);
                if (stream[OWNER] == 0 || stream[OWNER] != sessionId) {
                    ISOException.throwIt(ProviderConstants.SW_STREAM_NOT_OPEN);
                }
                checkEmpty(p1, p2, (short) 0);
                if (ins == ProviderConstants.INS_STREAM_UPDATE) {
                    streamUpdate((byte) stream[OPERATION], stream[SLOT], in, inOffset, inLength);
                    return 0;
                }
                stream[OWNER] = 0;   // closed whatever the outcome
                return streamFinal((byte) stream[OPERATION], stream[SLOT], in, inOffset, inLength, out, outOffset);
            }
            default:
                return operate(ins, p1, p2, in, inOffset, inLength, out, outOffset);
        }
    }

    private short makeKey(byte keyType, byte[] in, short inOffset, short inLength, byte[] out, short outOffset) {
        if (!supportsKeyType(keyType)) {
            ISOException.throwIt(ProviderConstants.SW_KEY_TYPE_MISMATCH);
        }
        short slot = 0;
        while (slot < ProviderConstants.KEY_SLOTS && slotTypes[slot] != 0) {
            slot++;
        }
        if (slot == ProviderConstants.KEY_SLOTS) {
            ISOException.throwIt(ProviderConstants.SW_NO_SPACE);
        }
        short extra;
        short o = (short) (outOffset + ProviderConstants.HANDLE_LENGTH);
        if (in == null) {
            extra = generateKey(slot, keyType, out, o);
        } else {
            // The registry unwrapped it (Registry.importStep): the clear key is in the APDU buffer.
            extra = importKey(slot, keyType, in, inOffset, inLength, out, o);
        }
        boolean own = Registry.beginTransaction();
        slotTypes[slot] = keyType;
        slotOwners[slot] = caller();
        slotGenerations[slot]++;
        Registry.commitTransaction(own);
        writeHandle(slot, out, outOffset);
        return (short) (ProviderConstants.HANDLE_LENGTH + extra);
    }

    private void writeHandle(short slot, byte[] out, short o) {
        out[o] = instanceTag[0];
        out[(short) (o + 1)] = instanceTag[1];
        out[(short) (o + 2)] = (byte) slot;
        out[(short) (o + 3)] = slotGenerations[slot];
    }

    /**
     * The slot a 4-byte handle names. Unknown, stale, deleted, another instance's handle, or a key
     * another caller made (the core's for the mobile TPM, a closure's for the core):
     * {@link ProviderConstants#SW_KEY_NOT_FOUND}; a key of another type than {@code keyType}
     * (0: any) or {@code otherType}: {@link ProviderConstants#SW_KEY_TYPE_MISMATCH}.
     */
    protected final short slotOf(byte[] in, short off, byte keyType, byte otherType) {
        short slot = (short) (in[(short) (off + 2)] & 0xFF);
        if (in[off] != instanceTag[0] || in[(short) (off + 1)] != instanceTag[1]
                || slot >= ProviderConstants.KEY_SLOTS || slotTypes[slot] == 0
                || in[(short) (off + 3)] != slotGenerations[slot] || slotOwners[slot] != caller()) {
            ISOException.throwIt(ProviderConstants.SW_KEY_NOT_FOUND);
        }
        if (keyType != 0 && slotTypes[slot] != keyType && slotTypes[slot] != otherType) {
            ISOException.throwIt(ProviderConstants.SW_KEY_TYPE_MISMATCH);
        }
        return slot;
    }

    protected final short slotOf(byte[] in, short off, byte keyType) {
        return slotOf(in, off, keyType, keyType);
    }

    protected final byte slotType(short slot) {
        return slotTypes[slot];
    }

    protected final void requireCapability(short capability) {
        if (!has(capability)) {
            ISOException.throwIt(ISO7816.SW_INS_NOT_SUPPORTED);
        }
    }

    protected static void checkEmpty(byte p1, byte p2, short inLength) {
        if (p1 != 0 || p2 != 0) {
            ISOException.throwIt(ISO7816.SW_INCORRECT_P1P2);
        }
        if (inLength != 0) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
    }

    protected static void checkHandleOnly(short inLength) {
        if (inLength != ProviderConstants.HANDLE_LENGTH) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
    }

    /** At least a handle present. */
    protected static void checkHandle(short inLength) {
        if (inLength < ProviderConstants.HANDLE_LENGTH) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
    }

    // ---- what a provider supplies; defaults refuse ----

    protected boolean supportsKeyType(byte keyType) {
        return false;
    }

    /** Generate a key into slot; may write public data (after the handle) and return its length. */
    protected short generateKey(short slot, byte keyType, byte[] out, short outOffset) {
        ISOException.throwIt(ISO7816.SW_INS_NOT_SUPPORTED);
        return 0;
    }

    /** Set an unwrapped key into slot; bad length: ISO7816.SW_WRONG_LENGTH. */
    protected short importKey(short slot, byte keyType, byte[] key, short keyOffset, short keyLength,
            byte[] out, short outOffset) {
        ISOException.throwIt(ISO7816.SW_INS_NOT_SUPPORTED);
        return 0;
    }

    protected void clearKey(short slot) {
    }

    /** Open a stream for operation op; returns the key slot (or 0). */
    protected short streamInit(byte op, byte[] in, short inOffset, short inLength) {
        ISOException.throwIt(ISO7816.SW_INCORRECT_P1P2);
        return 0;
    }

    protected void streamUpdate(byte op, short slot, byte[] in, short inOffset, short inLength) {
    }

    protected short streamFinal(byte op, short slot, byte[] in, short inOffset, short inLength,
            byte[] out, short outOffset) {
        return 0;
    }

    /** The provider's one-shot commands. */
    protected abstract short operate(byte ins, byte p1, byte p2, byte[] in, short inOffset, short inLength,
            byte[] out, short outOffset);
}
