package tpmcard.mtpm;

import javacard.framework.AID;
import javacard.framework.ISO7816;
import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.Shareable;
import javacard.framework.Util;
import tpmcard.algorithms.AlgorithmProvider;
import tpmcard.algorithms.ProviderConstants;
import tpmcard.core.HostPcrs;

/**
 * PCALL: a closure calls an algorithm provider applet (docs/closures.md "Providers",
 * docs/algorithms.md) with keys of its own. The provider is named by its number n (its AID is
 * F0 74 70 6D 63 03 n 01, under the suite's RID, ProviderConstants.writeProviderAid); the mobile
 * TPM looks it up itself (JCSystem.getAppletShareableInterfaceObject), and the provider serves
 * the mobile TPM's context with keys of its own (ProviderApplet keeps the core's and the mobile
 * TPM's keys apart).
 *
 * <p>Inside the mobile TPM, the keys belong to closure slots: a persistent table of
 * {@link ClosureConstants#PROVIDER_KEYS} entries {@code slot + 1 | provider | handle 4} (0: free),
 * filled when a loaded closure generates or imports a key and emptied when it deletes it or is
 * removed. A keyed call whose handle is not in the table under the calling closure's slot and
 * the named provider: SW_CLOSURE_KEY. A closure run from a host-held image (no slot) has keyless
 * calls only (DIGEST). Key creation and deletion commit at once (their own transaction) and so,
 * as a count-limited key's use, must come before the run's first store write (SW_CLOSURE_ORDER).
 */
final class ClosureProviders {
    private static final short ENTRY = 6;
    /** A session id for the provider's API (never 0); the provider refuses streams to the mobile TPM. */
    private static final short CLOSURE_SESSION = 1;
    /** The largest answer of each one-shot INS, checked against the room after dst before the call. */
    private static final short ROOM_KEY = 4 + 65;    // handle || public point (ECDSA)
    private static final short ROOM_SIGN = 72;       // DER ECDSA-P256 signature
    private static final short ROOM_MAC = 64;        // HMAC-SHA-512
    private static final short ROOM_DIGEST = 32;     // SHA3-256
    private static final short ROOM_AEAD_TAG = 16;

    private final byte[] table = new byte[(short) (ClosureConstants.PROVIDER_KEYS * ENTRY)];

    /**
     * PCALL ( prov op src len dst -- n ): op = P1 << 8 | provider INS; the provider's data is
     * memory[src..src+len), its answer goes to memory[dst..) (dst >= src + len: the answer after
     * the data, as the AlgorithmProvider contract has it; the provider may use memory[dst..end)
     * as scratch). {@code aidOff}: 8 bytes of the APDU buffer the closure does not own (the PCR
     * slot) for the provider's AID. Returns the answer's length.
     */
    short call(byte[] buf, short mem, short memSize, short prov, short op, short src, short len, short dst,
               short slot, short aidOff, HostPcrs host) {
        byte ins = (byte) op;
        byte p1 = (byte) (op >> 8);
        ClosureEngine.range(src, len, memSize);
        ClosureEngine.range(dst, (short) 0, memSize);
        if (prov <= 0 || prov > 0xFF || dst < (short) (src + len)) {
            ISOException.throwIt(ClosureConstants.SW_CLOSURE_OPERAND);
        }
        short room;
        boolean keyed = true;
        switch (ins) {
            case ProviderConstants.INS_DIGEST:
                keyed = false;
                room = ROOM_DIGEST;
                break;
            case ProviderConstants.INS_KEY_GENERATE:
            case ProviderConstants.INS_KEY_IMPORT:
                keyed = false;
                room = ROOM_KEY;
                break;
            case ProviderConstants.INS_SIGN:
                room = ROOM_SIGN;
                break;
            case ProviderConstants.INS_MAC:
                room = ROOM_MAC;
                break;
            case ProviderConstants.INS_ENCRYPT:
                room = (short) (len + ROOM_AEAD_TAG);
                break;
            case ProviderConstants.INS_DECRYPT:
                room = len;
                break;
            case ProviderConstants.INS_VERIFY:
            case ProviderConstants.INS_KEY_DELETE:
                room = 0;
                break;
            default:
                ISOException.throwIt(ClosureConstants.SW_CLOSURE_OPERAND);  // streams and the rest
                return 0;
        }
        ClosureEngine.range(dst, room, memSize);
        boolean lifecycle = ins == ProviderConstants.INS_KEY_GENERATE || ins == ProviderConstants.INS_KEY_IMPORT
                || ins == ProviderConstants.INS_KEY_DELETE;
        short entry = -1;
        if (keyed || lifecycle) {
            if (slot < 0) {
                ISOException.throwIt(ClosureConstants.SW_CLOSURE_KEY);  // no slot: keyless calls only
            }
            if (lifecycle && JCSystem.getTransactionDepth() != 0) {
                ISOException.throwIt(ClosureConstants.SW_CLOSURE_ORDER);
            }
        }
        if (keyed) {
            if (len < ProviderConstants.HANDLE_LENGTH) {
                ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
            }
            entry = find((byte) (slot + 1), (byte) prov, buf, (short) (mem + src));
            if (entry < 0) {
                ISOException.throwIt(ClosureConstants.SW_CLOSURE_KEY);
            }
        } else if (lifecycle) {
            entry = find((byte) 0, (byte) 0, null, (short) 0);
            if (entry < 0) {
                ISOException.throwIt(ProviderConstants.SW_NO_SPACE);
            }
        }
        // Only a provider the card owner left enabled in the core's registry (else 6A82, as for
        // one not installed); REMOVE's clean-up below reaches a disabled one too.
        ProviderConstants.writeProviderAid((byte) prov, buf, aidOff);
        host.requireEnabledProvider(buf, aidOff, (byte) ProviderConstants.AID_LENGTH);
        AlgorithmProvider provider = lookUp(buf, aidOff, (byte) prov);
        if (lifecycle) {
            JCSystem.beginTransaction();  // the provider's key and this table's entry together
        }
        short n = provider.call(ins, p1, (byte) 0, buf, (short) (mem + src), len, (short) (mem + dst),
                (short) (mem + memSize), CLOSURE_SESSION);
        if (n < 0 || n > (short) (memSize - dst)) {
            ISOException.throwIt(ClosureConstants.SW_CLOSURE_OPERAND);  // past the memory: nothing released
        }
        if (lifecycle) {
            short e = (short) (entry * ENTRY);
            if (ins == ProviderConstants.INS_KEY_DELETE) {
                Wipe.zero(table, e, ENTRY);  // journaled
            } else {
                if (n < ProviderConstants.HANDLE_LENGTH) {
                    ISOException.throwIt(ISO7816.SW_UNKNOWN);
                }
                table[e] = (byte) (slot + 1);
                table[(short) (e + 1)] = (byte) prov;
                Util.arrayCopy(buf, (short) (mem + dst), table, (short) (e + 2), ProviderConstants.HANDLE_LENGTH);
            }
            JCSystem.commitTransaction();
        }
        return n;
    }

    /**
     * REMOVE of a closure, before its slot is wiped: KEY_DELETE for each of the slot's keys, each
     * with its entry freed in one transaction (a key's deletion journals its whole key object: one
     * transaction for all would outgrow the commit buffer). A provider no longer installed has
     * taken its keys with it. Torn: the closure is still loaded with the keys not yet deleted, and
     * REMOVE again finishes. buf[work..+12): scratch of the APDU buffer (handle, AID).
     */
    void removeKeys(short slot, byte[] buf, short work) {
        for (short i = 0; i < ClosureConstants.PROVIDER_KEYS; i++) {
            short e = (short) (i * ENTRY);
            if (table[e] != (byte) (slot + 1)) {
                continue;
            }
            AlgorithmProvider provider = provider(buf, (short) (work + ProviderConstants.HANDLE_LENGTH), table[(short) (e + 1)]);
            JCSystem.beginTransaction();
            if (provider != null) {
                Util.arrayCopyNonAtomic(table, (short) (e + 2), buf, work, ProviderConstants.HANDLE_LENGTH);
                try {
                    provider.call(ProviderConstants.INS_KEY_DELETE, (byte) 0, (byte) 0, buf, work,
                            ProviderConstants.HANDLE_LENGTH, (short) (work + ProviderConstants.HANDLE_LENGTH),
                            (short) (work + ProviderConstants.HANDLE_LENGTH), CLOSURE_SESSION);
                } catch (ISOException gone) {
                    // SW_KEY_NOT_FOUND: a reinstalled provider instance (another tag) has no such key
                    if (gone.getReason() != ProviderConstants.SW_KEY_NOT_FOUND) {
                        throw gone;
                    }
                }
            }
            Wipe.zero(table, e, ENTRY);  // journaled
            JCSystem.commitTransaction();
        }
    }

    /** The entry {@code mark | prov | handle} (handle null: a free entry, mark and prov 0), or -1. */
    private short find(byte mark, byte prov, byte[] handle, short hOff) {
        for (short i = 0; i < ClosureConstants.PROVIDER_KEYS; i++) {
            short e = (short) (i * ENTRY);
            if (table[e] == mark && table[(short) (e + 1)] == prov
                    && (handle == null || Util.arrayCompare(table, (short) (e + 2), handle, hOff,
                            ProviderConstants.HANDLE_LENGTH) == 0)) {
                return i;
            }
        }
        return -1;
    }

    /** Provider n's interface for the mobile TPM, or SW_PROVIDER_ABSENT. */
    private static AlgorithmProvider lookUp(byte[] buf, short aidOff, byte n) {
        AlgorithmProvider p = provider(buf, aidOff, n);
        if (p == null) {
            ISOException.throwIt(ProviderConstants.SW_PROVIDER_ABSENT);
        }
        return p;
    }

    private static AlgorithmProvider provider(byte[] buf, short aidOff, byte n) {
        ProviderConstants.writeProviderAid(n, buf, aidOff);
        AID aid = JCSystem.lookupAID(buf, aidOff, (byte) ProviderConstants.AID_LENGTH);
        Util.arrayFillNonAtomic(buf, aidOff, ProviderConstants.AID_LENGTH, (byte) 0);
        if (aid == null) {
            return null;
        }
        Shareable s = JCSystem.getAppletShareableInterfaceObject(aid, ProviderConstants.PROVIDER_PARAMETER);
        return s instanceof AlgorithmProvider ? (AlgorithmProvider) s : null;
    }
}
