package tpmcard.mtpm;

import javacard.framework.AID;
import javacard.framework.APDU;
import javacard.framework.Applet;
import javacard.framework.ISO7816;
import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.Shareable;
import javacard.framework.Util;
import tpmcard.core.HostPcrs;
import tpmcard.core.SuiteService;
import tpmcard.lib.Identity;
import tpmcard.lib.InstallMemory;
import tpmcard.lib.InstallParameters;

/**
 * The mobile TPM (Molina, Lee, Lee, Song, "A Mobile Trusted Platform Module Architecture"): a
 * personal TPM on the card whose PCRs 0..8 are the host TPM's, verified in the secure session's
 * handshake, and whose PCRs 9..23, keys, NV indices and counters live on the card.
 *
 * <p>The service is reached only through the core applet's INS_INVOKE inside a secure session
 * ({@link SuiteService}); selecting it directly is refused. {@link #invoke} is the thin dispatch:
 * it counts the first command after a card reset, switches on INS, and leaves every error to the
 * core applet, which aborts any open transaction and returns the status word inside secure
 * messaging. The command reference is docs/mtpm.md.
 */
public final class MtpmApplet extends Applet implements SuiteService {
    /** The core applet's package AID (F074706D630100): the only client the service answers. */
    private static final byte[] CORE_PACKAGE_AID = {
        (byte) 0xF0, (byte) 0x74, (byte) 0x70, (byte) 0x6D, (byte) 0x63, (byte) 0x01, (byte) 0x00,
    };

    /** Hashes, MACs, IVs, KDF input (Sealing.SCRATCH_USED); Keys needs 160 bytes at install and CLEAR. */
    private static final short SCRATCH_LENGTH = Keys.SCRATCH_LENGTH;
    private final byte[] scratch;
    private final Cursor cursor = new Cursor();
    private final Keys keys;
    private final Pcrs pcrs;
    private final Attest attest;
    private final Owner owner;
    private final DictionaryGuard guard = new DictionaryGuard();
    private final NvStore nv = new NvStore();
    private final MigrationAnchor anchor;
    private final Sealing sealing;
    private final EkCertificate ekCertificate = new EkCertificate();
    private final Closures closures;
    private final CountedKeys counted;
    // Staging (persistent, written only for commands larger than the service window).
    private final byte[] stagedIn = new byte[Constants.STAGE_CAPACITY];
    private final byte[] stagedOut = new byte[Constants.STAGE_CAPACITY];
    private short stagedLength = -1;
    private short stagedOutLength;
    private short stageSession;

    /**
     * Install parameters as the core applet's: {@code [len AID][AID][len control][control][len
     * params][params]}, params = 0..32 bytes of install entropy mixed into every key.
     */
    public static void install(byte[] bArray, short bOffset, byte bLength) {
        new MtpmApplet(bArray, bOffset, bLength);
    }

    private MtpmApplet(byte[] bArray, short bOffset, byte bLength) {
        InstallMemory.requireTransient(Constants.TRANSIENT_BYTES);  // a card too small fails here
        InstallParameters.check(bArray, bOffset, bLength, Constants.MAX_INSTALL_ENTROPY);
        short aidOffset = InstallParameters.aidOffset(bArray, bOffset, bLength);
        byte aidLength = InstallParameters.aidLength(bArray, bOffset, bLength);
        short entropyOffset = InstallParameters.paramsOffset(bArray, bOffset, bLength);
        short entropyLength = InstallParameters.paramsLength(bArray, bOffset, bLength);
        // CLEAR_ON_RESET: usable during install, and by a service that is never the selected applet.
        // Small (docs/mtpm.md "RAM"): plaintexts go in place in the APDU buffer, or in its window.
        scratch = JCSystem.makeTransientByteArray(SCRATCH_LENGTH, JCSystem.CLEAR_ON_RESET);
        keys = new Keys(bArray, entropyOffset, entropyLength, scratch);
        pcrs = new Pcrs(keys.sha256());
        attest = new Attest(keys);
        owner = new Owner(keys.sha256(), scratch);
        anchor = new MigrationAnchor(keys.curve);
        sealing = new Sealing(keys, pcrs, nv, guard, anchor);
        counted = new CountedKeys(keys, sealing.envelope(), owner, guard, cursor, scratch);
        closures = new Closures(keys, pcrs, owner, sealing.envelope(), counted, scratch, cursor);
        if (aidLength == 0) {
            register();
        } else {
            register(bArray, aidOffset, aidLength);
        }
        InstallMemory.releaseInstallGarbage();  // the key derivation objects of Keys and Identity
    }

    /** The service has no APDU interface of its own: only the core applet's INVOKE reaches it. */
    public boolean select() {
        return false;
    }

    public void process(APDU apdu) {
        ISOException.throwIt(ISO7816.SW_INS_NOT_SUPPORTED);
    }

    public Shareable getShareableInterfaceObject(AID clientAid, byte parameter) {
        if (parameter != SERVICE_PARAMETER || clientAid == null
                || !clientAid.partialEquals(CORE_PACKAGE_AID, (short) 0, (byte) CORE_PACKAGE_AID.length)) {
            return null;
        }
        return this;
    }

    /**
     * The entry point (SuiteService): data and answer in the APDU buffer. A command whose data
     * plus answer exceed the window goes through the staging area instead (STAGE WRITE, STAGE
     * RUN, STAGE READ; docs/mtpm.md "Service window"): then the handlers read and write this
     * applet's own persistent arrays. Either way the handlers below are the same. The core
     * writes a host PCR to a 32-byte slot of the window: the answer's place for QUOTE and UNSEAL
     * (they digest the PCRs before they answer), the window's last 32 bytes for PCR READ (whose
     * data plus answer the host keeps 32 bytes short of the window).
     */
    public short invoke(byte ins, byte p1, byte p2, byte[] buffer, short inOffset, short inLength,
                        short outOffset, short outLimit, HostPcrs hostPcrs, short sessionId) {
        if (attest.onCommand(scratch)) {
            pcrs.powerOn();  // the first command since the card reset: PCRs 9..23 start at zero
        }
        switch (ins) {
            case Constants.INS_STAGE_WRITE:
                return stageWrite(p1, p2, buffer, inOffset, inLength, sessionId);
            case Constants.INS_STAGE_RUN:
                return stageRun(buffer, inOffset, inLength, outOffset, outLimit, hostPcrs, sessionId);
            case Constants.INS_STAGE_READ:
                return stageRead(p1, p2, buffer, inLength, outOffset, outLimit, sessionId);
            default:
                wipeStage();  // a staged answer is read right after its run, or never
                // Direct: data and answer in the APDU buffer; plaintexts are handled in place there.
                return dispatch(ins, p1, p2, buffer, inOffset, inLength, buffer, outOffset, hostPcrs, buffer,
                        (short) (outLimit - Constants.DIGEST_LENGTH), outOffset);
        }
    }

    // --- Staging: commands larger than the service window ------------------------------------

    /** STAGE WRITE: P1P2 = offset; data = the next part of the staged command data. */
    private short stageWrite(byte p1, byte p2, byte[] buffer, short inOffset, short inLength, short sessionId) {
        short offset = Util.makeShort(p1, p2);
        if (offset == 0) {
            wipeStage();
            stageSession = sessionId;
        } else if (stageSession != sessionId || offset != stagedLength) {
            ISOException.throwIt(Constants.SW_STAGE_OUT_OF_ORDER);  // parts in order, one session
        }
        if (offset < 0 || inLength > (short) (Constants.STAGE_CAPACITY - offset)) {
            ISOException.throwIt(Constants.SW_WRONG_LENGTH);
        }
        Util.arrayCopyNonAtomic(buffer, inOffset, stagedIn, offset, inLength);
        stagedLength = (short) (offset + inLength);
        return 0;
    }

    /** STAGE RUN: data = ins | p1 | p2; runs the command on the staged data; answer = its length (2). */
    private short stageRun(byte[] buffer, short inOffset, short inLength, short outOffset, short outLimit,
                           HostPcrs hostPcrs, short sessionId) {
        if (inLength != 3) {
            ISOException.throwIt(Constants.SW_WRONG_LENGTH);
        }
        if (stageSession != sessionId || stagedLength < 0) {
            ISOException.throwIt(Constants.SW_STAGE_OUT_OF_ORDER);
        }
        byte ins = buffer[inOffset];
        if (ins == Constants.INS_STAGE_WRITE || ins == Constants.INS_STAGE_RUN || ins == Constants.INS_STAGE_READ) {
            ISOException.throwIt(Constants.SW_INS_NOT_SUPPORTED);
        }
        short length = stagedLength;
        stagedLength = (short) (-2 - length);  // one run; until wiped, below -1 (a stop leaves it so)
        // The window (ins p1 p2 taken) up to the PCR slot is the work area of seal, unseal and
        // migration: their plaintexts stay in RAM, out of the persistent staging arrays.
        short n = dispatch(ins, buffer[(short) (inOffset + 1)], buffer[(short) (inOffset + 2)], stagedIn, (short) 0,
                length, stagedOut, (short) 0, hostPcrs, buffer, (short) (outLimit - Constants.DIGEST_LENGTH),
                inOffset);
        Util.arrayFillNonAtomic(stagedIn, (short) 0, length, (byte) 0);  // auth values, secrets
        stagedLength = -1;
        stagedOutLength = n;
        return (short) (Util.setShort(buffer, outOffset, n) - outOffset);
    }

    /** STAGE READ: P1P2 = offset into the staged answer; answer = as much as the window holds. */
    private short stageRead(byte p1, byte p2, byte[] buffer, short inLength, short outOffset, short outLimit,
                            short sessionId) {
        short offset = Util.makeShort(p1, p2);
        if (inLength != 0) {
            ISOException.throwIt(Constants.SW_WRONG_LENGTH);
        }
        if (stageSession != sessionId || offset < 0 || offset > stagedOutLength) {
            ISOException.throwIt(Constants.SW_STAGE_OUT_OF_ORDER);
        }
        short n = (short) (stagedOutLength - offset);
        short room = (short) (outLimit - outOffset);
        if (n > room) {
            n = room;
        }
        Util.arrayCopyNonAtomic(stagedOut, offset, buffer, outOffset, n);
        if ((short) (offset + n) == stagedOutLength) {
            wipeStage();  // the whole answer was read: an unsealed secret leaves the EEPROM now
        }
        return n;
    }

    private void wipeStage() {
        if (stagedOutLength != 0) {
            Util.arrayFillNonAtomic(stagedOut, (short) 0, stagedOutLength, (byte) 0);
            stagedOutLength = 0;
        }
        if (stagedLength > 0) {
            Util.arrayFillNonAtomic(stagedIn, (short) 0, stagedLength, (byte) 0);
        } else if (stagedLength < -1) {  // a run that stopped with an error: its data (a closure's code)
            Util.arrayFillNonAtomic(stagedIn, (short) 0, (short) (-2 - stagedLength), (byte) 0);
        }
        // Every command comes here: write the EEPROM only when something changes.
        if (stagedLength != -1) {
            stagedLength = -1;
        }
        if (stageSession != 0) {
            stageSession = 0;
        }
    }

    /**
     * {@code slot} is the APDU buffer, {@code slotOffset} the PCR slot at the window's end; a
     * staged command's work area is slot[workOffset..slotOffset) (direct: in == out == slot).
     */
    private short dispatch(byte ins, byte p1, byte p2, byte[] in, short inOffset, short inLength,
                           byte[] out, short outOffset, HostPcrs hostPcrs, byte[] slot, short slotOffset,
                           short workOffset) {
        switch (ins) {
            case Constants.INS_PCR_READ:
                return pcrRead(in, inOffset, inLength, out, outOffset, hostPcrs, slot, slotOffset);
            case Constants.INS_PCR_EXTEND:
                return pcrExtend(p1, in, inOffset, inLength, out, outOffset);
            case Constants.INS_PCR_RESET:
                return pcrReset(p1, inLength);
            case Constants.INS_QUOTE:
                // The PCR digest is made before any of the answer is written: the slot can be
                // the answer's place (in the APDU buffer; staged: the end of the window).
                return quote(in, inOffset, inLength, out, outOffset, hostPcrs, slot,
                        slot == out ? outOffset : slotOffset);
            case Constants.INS_QUOTE_TOKEN:
                return QuoteToken.command(p1, in, inOffset, inLength, out, outOffset, hostPcrs, slot,
                        slot == out ? outOffset : slotOffset, keys, pcrs, cursor, scratch);
            case Constants.INS_GET_PUBLIC:
                return keys.writePublicArea(p1, out, outOffset);
            case Constants.INS_CERTIFY:
                return certify(p1, in, inOffset, inLength, out, outOffset);
            case Constants.INS_EK_CERT_SET:
                return ekCertSet(in, inOffset, inLength);
            case Constants.INS_EK_CERT_GET:
                return ekCertificate.get(out, outOffset);
            case Constants.INS_SEAL:
                return sealing.seal(p1, owner.isOwned(), in, inOffset, inLength, out, outOffset, slot, workOffset,
                        slotOffset, scratch, cursor);
            case Constants.INS_UNSEAL:
                return sealing.unseal(in, inOffset, inLength, hostPcrs, slot, slot == out ? outOffset : slotOffset, out,
                        outOffset, slot, workOffset, slotOffset, scratch, cursor);
            case Constants.INS_NV_DEFINE:
                return nvDefine(in, inOffset, inLength);
            case Constants.INS_NV_UNDEFINE:
                return nvUndefine(in, inOffset, inLength);
            case Constants.INS_NV_WRITE:
                return nvWrite(in, inOffset, inLength);
            case Constants.INS_NV_READ:
                return nvRead(in, inOffset, inLength, out, outOffset);
            case Constants.INS_NV_INCREMENT:
                return nvIncrement(in, inOffset, inLength, out, outOffset);
            case Constants.INS_NV_LIST:
                return (short) (nv.list(out, outOffset) - outOffset);
            case Constants.INS_TAKE_OWNERSHIP:
                return takeOwnership(in, inOffset, inLength);
            case Constants.INS_CLEAR:
                return clear(in, inOffset, inLength);
            case Constants.INS_GET_STATUS:
                return status(out, outOffset);
            case Constants.INS_DA_RESET:
                return daReset(in, inOffset, inLength);
            case Constants.INS_MIGRATE_EXPORT:
                return migrateExport(p1, p2, in, inOffset, inLength, hostPcrs, slot, slot == out ? outOffset : slotOffset,
                        out, outOffset, workOffset);
            case Constants.INS_MIGRATE_IMPORT:
                return migrateImport(p2, in, inOffset, inLength, out, outOffset, slot, workOffset, slotOffset);
            case Constants.INS_MIGRATION_ANCHOR_SET:
                return migrationAnchorSet(in, inOffset, inLength);
            case Constants.INS_MIGRATION_ANCHOR_GET:
                return anchor.read(out, outOffset);
            case Constants.INS_KEY_CREATE: case Constants.INS_KEY_IMPORT: case Constants.INS_KEY_USE:
            case Constants.INS_KEY_REMAINING: case Constants.INS_KEY_LIST: case Constants.INS_KEY_DELETE:
                return counted.command(ins, p1, p2, in, inOffset, inLength, out, outOffset, slot,
                        (short) (slotOffset + Constants.DIGEST_LENGTH));  // direct only: the whole window
            default:  // the closures' INS 0x90..0x9E (docs/closures.md), else SW_INS_NOT_SUPPORTED
                return closures.command(ins, p1, p2, in, inOffset, inLength, out, outOffset, hostPcrs, slot,
                        slotOffset, workOffset);
        }
    }

    // --- PCRs --------------------------------------------------------------------------------

    /** in = selection 3; out = the selected values in index order. */
    private short pcrRead(byte[] in, short off, short len, byte[] out, short outOff, HostPcrs host, byte[] slot,
                          short slotOff) {
        if (len != Constants.SELECTION_LENGTH) {
            ISOException.throwIt(Constants.SW_WRONG_LENGTH);
        }
        return (short) (pcrs.readSelection(in, off, host, slot, slotOff, out, outOff) - outOff);
    }

    /** P1 = index, in = digest 32; out = the new value. */
    private short pcrExtend(byte p1, byte[] in, short off, short len, byte[] out, short outOff) {
        if (len != Constants.DIGEST_LENGTH) {
            ISOException.throwIt(Constants.SW_WRONG_LENGTH);
        }
        return (short) (pcrs.extend(p1, in, off, out, outOff) - outOff);
    }

    private short pcrReset(byte p1, short len) {
        if (len != 0) {
            ISOException.throwIt(Constants.SW_WRONG_LENGTH);
        }
        pcrs.reset(p1);
        return 0;
    }

    // --- Attestation -------------------------------------------------------------------------

    /** in = selection 3 || nonce 0..64. */
    private short quote(byte[] in, short off, short len, byte[] out, short outOff, HostPcrs host, byte[] slot,
                        short slotOff) {
        cursor.begin(off, len);
        short selection = cursor.take(Constants.SELECTION_LENGTH);
        Pcrs.checkSelection(in, selection);
        short nonceLength = cursor.remaining();
        if (nonceLength > Constants.MAX_NONCE) {
            ISOException.throwIt(Constants.SW_WRONG_LENGTH);
        }
        pcrs.compositeDigest(in, selection, host, slot, slotOff, scratch, (short) 0);
        return attest.quote(in, selection, scratch, (short) 0, in, cursor.rest(), nonceLength, out, outOff);
    }

    /** P1 = AK or migration key, in = nonce 0..64: TPMS_ATTEST CERTIFY signed by the EK. */
    private short certify(byte p1, byte[] in, short off, short len, byte[] out, short outOff) {
        if (len > Constants.MAX_NONCE) {
            ISOException.throwIt(Constants.SW_WRONG_LENGTH);
        }
        if (p1 == Constants.KEY_AK) {
            return attest.certify(keys.akName, keys.akQualifiedName, in, off, len, out, outOff);
        }
        if (p1 == Constants.KEY_MIGRATION) {
            return attest.certify(keys.migrationName, keys.migrationQualifiedName, in, off, len, out, outOff);
        }
        ISOException.throwIt(Constants.SW_INCORRECT_P1P2);
        return 0;
    }

    /** in = owner auth length 1 || owner auth || DER certificate (1..1024). */
    private short ekCertSet(byte[] in, short off, short len) {
        short certificate = ownerAuthorised(in, off, len);
        ekCertificate.set(in, certificate, cursor.remaining());
        return 0;
    }

    // --- Ownership ---------------------------------------------------------------------------

    /**
     * For DA RESET, migration and the migration anchor: an owner must exist (a set, non-empty
     * owner auth). An unowned mobile TPM's owner auth is empty, so anyone could pass it.
     */
    private void requireOwner() {
        if (!owner.isOwned()) {
            ISOException.throwIt(Constants.SW_OWNER_REQUIRED);
        }
    }

    /** Reads and checks [owner auth length][owner auth]; returns the offset after it (cursor open). */
    private short ownerAuthorised(byte[] in, short off, short len) {
        cursor.begin(off, len);
        short authLength = cursor.lengthPrefixed(in, Constants.MAX_AUTH);
        owner.check(in, cursor.take(authLength), authLength, scratch);
        return cursor.position();
    }

    /** in = new owner auth (1..32); only on an unowned card. */
    private short takeOwnership(byte[] in, short off, short len) {
        if (owner.isOwned()) {
            ISOException.throwIt(Constants.SW_ALREADY_EXISTS);
        }
        if (len < 1 || len > Constants.MAX_AUTH) {
            ISOException.throwIt(Constants.SW_WRONG_LENGTH);
        }
        JCSystem.beginTransaction();
        owner.take(in, off, len, scratch);
        JCSystem.commitTransaction();
        return 0;
    }

    /**
     * CLEAR (TPM2_Clear, Part 3 §24.6): in = owner auth length 1 || owner auth. New storage keys
     * (every sealed blob is dead), every NV index and counter gone, owner auth empty again, clock
     * and reset count zero. The EK, its certificate and the AK stay (the endorsement hierarchy).
     */
    private short clear(byte[] in, short off, short len) {
        ownerAuthorised(in, off, len);
        cursor.end();
        // One transaction: a card torn during CLEAR is either not cleared or entirely cleared.
        JCSystem.beginTransaction();
        keys.renewStorageKeys(scratch);
        nv.clear();
        sealing.clear();
        attest.clear();
        owner.clear(scratch);
        guard.reset();
        anchor.clear();
        counted.clear();
        closures.clear();
        JCSystem.commitTransaction();
        counted.wipeFree();
        return 0;
    }

    /**
     * DA RESET (after TPM2_DictionaryAttackLockReset, Part 3 §25.2): in = owner auth length 1 ||
     * owner auth. Gives the sealed-object and NV auth values their tries back. Only an owned
     * mobile TPM (6A82 otherwise): auth values exist only there (SEAL and NV DEFINE refuse them
     * unowned), and the owner auth has its own 8 tries.
     */
    private short daReset(byte[] in, short off, short len) {
        requireOwner();
        ownerAuthorised(in, off, len);
        cursor.end();
        guard.reset();
        return 0;
    }

    /** owned 1 || owner tries left 1 || clock 8 || resetCount 4 || storage key id 16. */
    private short status(byte[] out, short outOff) {
        short off = outOff;
        out[off++] = owner.isOwned() ? (byte) 1 : (byte) 0;
        out[off++] = owner.triesRemaining();
        off = attest.writeClock(out, off);
        off = Util.arrayCopyNonAtomic(keys.keyId, (short) 0, out, off, Constants.KEY_ID_LENGTH);
        return (short) (off - outOff);
    }

    // --- NV ----------------------------------------------------------------------------------

    /** in = owner auth len || owner auth || handle 4 || attributes 1 || size 2 || auth len || auth. */
    private short nvDefine(byte[] in, short off, short len) {
        ownerAuthorised(in, off, len);
        short handle = cursor.take((short) 4);
        byte attribute = in[cursor.take((short) 1)];
        short size = cursor.u16(in);
        short authLength = cursor.lengthPrefixed(in, Constants.MAX_AUTH);
        short auth = cursor.take(authLength);
        cursor.end();
        if (authLength != 0 && !owner.isOwned()) {
            ISOException.throwIt(Constants.SW_OWNER_REQUIRED);  // as SEAL: auth values need an owner
        }
        hashAuth(in, auth, authLength);
        JCSystem.beginTransaction();
        nv.define(in, handle, attribute, size, scratch, (short) 0, null, (short) 0);
        JCSystem.commitTransaction();
        return 0;
    }

    /** in = owner auth len || owner auth || handle 4. */
    private short nvUndefine(byte[] in, short off, short len) {
        ownerAuthorised(in, off, len);
        short handle = cursor.take((short) 4);
        cursor.end();
        nv.undefine(nv.find(in, handle));
        return 0;
    }

    /** Opens [handle 4] ... [auth len][auth] given the fields between; returns the slot. */
    private short nvAuthorised(byte[] in, short handle, short authLengthOffset) {
        short slot = nv.find(in, handle);
        short authLength = (short) (in[authLengthOffset] & 0xFF);
        if (authLength > Constants.MAX_AUTH) {
            ISOException.throwIt(Constants.SW_WRONG_LENGTH);
        }
        short auth = cursor.take(authLength);
        hashAuth(in, auth, authLength);
        nv.checkAuth(slot, scratch, (short) 0, guard);
        return slot;
    }

    /** in = handle 4 || offset 2 || auth len || auth || data. */
    private short nvWrite(byte[] in, short off, short len) {
        cursor.begin(off, len);
        short handle = cursor.take((short) 4);
        short offset = cursor.u16(in);
        short slot = nvAuthorised(in, handle, cursor.take((short) 1));
        short length = cursor.remaining();
        nv.write(slot, offset, in, cursor.rest(), length);
        return 0;
    }

    /** in = handle 4 || offset 2 || length 2 || auth len || auth. */
    private short nvRead(byte[] in, short off, short len, byte[] out, short outOff) {
        cursor.begin(off, len);
        short handle = cursor.take((short) 4);
        short offset = cursor.u16(in);
        short length = cursor.u16(in);
        short slot = nvAuthorised(in, handle, cursor.take((short) 1));
        cursor.end();
        return (short) (nv.read(slot, offset, length, out, outOff) - outOff);
    }

    /** in = handle 4 || auth len || auth; out = the new count (8 bytes, big-endian). */
    private short nvIncrement(byte[] in, short off, short len, byte[] out, short outOff) {
        cursor.begin(off, len);
        short handle = cursor.take((short) 4);
        short slot = nvAuthorised(in, handle, cursor.take((short) 1));
        cursor.end();
        return (short) (nv.increment(slot, out, outOff) - outOff);
    }

    private void hashAuth(byte[] in, short auth, short authLength) {
        keys.sha256().reset();
        keys.sha256().doFinal(in, auth, authLength, scratch, (short) 0);
    }

    // --- Migration ---------------------------------------------------------------------------

    /**
     * P1 copy/move, P2 kind; in = owner auth len || owner auth || auth len || the object's auth ||
     * certificate len || target certificate || blob | handle. Needs an owner (6A82) and its auth,
     * then everything {@link Sealing#export} checks.
     */
    private short migrateExport(byte p1, byte p2, byte[] in, short off, short len, HostPcrs host, byte[] slot,
                                short slotOff, byte[] out, short outOff, short workOff) {
        if ((p1 != Constants.P1_MIGRATE_COPY && p1 != Constants.P1_MIGRATE_MOVE)
                || p2 < Constants.P2_OBJECT_SEALED || p2 > Constants.P2_OBJECT_COUNTED_KEY) {
            ISOException.throwIt(Constants.SW_INCORRECT_P1P2);
        }
        requireOwner();
        short rest = ownerAuthorised(in, off, len);
        counted.refuseMigration(p2);  // a counted key never leaves the card (6A87)
        return sealing.export(p2, p1 == Constants.P1_MIGRATE_MOVE, in, rest, (short) (off + len - rest), host,
                slot, slotOff, out, outOff, slot, workOff, slotOff, scratch, cursor);  // staged: slot at the work's end
    }

    /** P2 kind; in = owner auth len || owner auth || duplicate. Needs an owner (6A82). */
    private short migrateImport(byte p2, byte[] in, short off, short len, byte[] out, short outOff, byte[] work,
                                short workOff, short workEnd) {
        if (p2 != Constants.P2_OBJECT_SEALED && p2 != Constants.P2_OBJECT_NV) {
            ISOException.throwIt(Constants.SW_INCORRECT_P1P2);
        }
        requireOwner();
        short rest = ownerAuthorised(in, off, len);
        return sealing.importObject(p2, in, rest, (short) (off + len - rest), out, outOff, work, workOff, workEnd,
                scratch);
    }

    /** in = owner auth len || owner auth || the migration CA's point 65 (04 || x || y). */
    private short migrationAnchorSet(byte[] in, short off, short len) {
        requireOwner();
        ownerAuthorised(in, off, len);
        short point = cursor.take((short) 65);
        cursor.end();
        anchor.install(in, point);
        return 0;
    }

    /** For tests and the simulator: the EK (its public point is in GET PUBLIC too). */
    Identity endorsementKey() {
        return keys.ek;
    }
}
