package tpmcard.mtpm;

import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.Util;
import javacard.security.MessageDigest;
import tpmcard.core.HostPcrs;

/**
 * The closure commands of the mobile TPM, INS 0x90..0x9E (docs/closures.md): SEAL, LOAD, LIST,
 * RUN, REMOVE, STORE, AUTHORITY SET/GET. MtpmApplet's dispatch hands every INS it does not know
 * to {@link #command}, which answers SW_INS_NOT_SUPPORTED for anything that is not a closure's.
 *
 * <p>RAM: one SHA-1 MessageDigest (HOTP's HMAC-SHA-1). The machine's stack, memory and output
 * live in the APDU buffer's window during RUN; the code is read in its slot or where the staged
 * image was decrypted.
 */
final class Closures {
    private final Owner owner;
    private final Cursor cursor;
    private final byte[] scratch;
    private final ClosureStore store = new ClosureStore();
    private final ClosureImages images;
    private final ClosureEngine engine;

    Closures(Keys keys, Pcrs pcrs, Owner owner, Envelope envelope, CountedKeys counted, byte[] scratch,
             Cursor cursor) {
        this.owner = owner;
        this.cursor = cursor;
        this.scratch = scratch;
        images = new ClosureImages(keys, envelope, scratch);
        MessageDigest sha1 = MessageDigest.getInstance(MessageDigest.ALG_SHA, true);
        engine = new ClosureEngine(keys.sha256(), sha1, keys.random(), pcrs, store, counted);
    }

    /** The MtpmApplet.dispatch arguments (buf: the APDU buffer, slotOff its PCR slot, workOff its free window). */
    short command(byte ins, byte p1, byte p2, byte[] in, short inOff, short inLen, byte[] out, short outOff,
                  HostPcrs host, byte[] buf, short slotOff, short workOff) {
        if (ins == ClosureConstants.INS_CLOSURE_RUN) {
            return run(p1, p2, in, inOff, inLen, out, outOff, host, buf, slotOff, workOff);
        }
        if (p1 != 0 || p2 != 0) {
            checkIns(ins);
            ISOException.throwIt(Constants.SW_INCORRECT_P1P2);
        }
        switch (ins) {
            case ClosureConstants.INS_CLOSURE_SEAL:
                return images.seal(in, inOff, inLen, out, outOff, scratch, (short) 0);
            case ClosureConstants.INS_CLOSURE_LOAD: {
                short image = ownerAuthorised(in, inOff, inLen);
                short length = cursor.remaining();
                images.open(in, image, length, scratch, (short) 0);
                out[outOff] = (byte) images.load(in, (short) (image + ClosureConstants.S_HEADER),
                        (short) (image + ClosureConstants.SEALED_PREFIX), scratch, (short) 0);
                return 1;
            }
            case ClosureConstants.INS_CLOSURE_LIST: {
                short o = outOff;
                for (short i = 0; i < ClosureConstants.CLOSURE_SLOTS; i++) {
                    if (images.inUse(i)) {
                        o = images.describe(i, store, out, o);
                    }
                }
                return (short) (o - outOff);
            }
            case ClosureConstants.INS_CLOSURE_REMOVE: {
                short name = ownerAuthorised(in, inOff, inLen);
                cursor.take(ClosureConstants.NAME_LENGTH);
                cursor.end();
                images.remove(loaded(in, name), store);
                return 0;
            }
            case ClosureConstants.INS_CLOSURE_STORE: {
                if (inLen != ClosureConstants.NAME_LENGTH) {
                    ISOException.throwIt(Constants.SW_WRONG_LENGTH);
                }
                short slot = loaded(in, inOff);
                Util.setShort(out, outOff, Util.getShort(images.headers,
                        (short) (ClosureImages.headerOffset(slot) + ClosureConstants.H_STORE)));
                Util.setShort(out, (short) (outOff + 2), store.used(slot));
                return 4;
            }
            case ClosureConstants.INS_CLOSURE_AUTHORITY_SET: {
                if (!owner.isOwned()) {
                    ISOException.throwIt(Constants.SW_OWNER_REQUIRED);  // as the migration anchor
                }
                short point = ownerAuthorised(in, inOff, inLen);
                images.setAuthority(in, point, cursor.remaining(), scratch, (short) 0);
                return 0;
            }
            case ClosureConstants.INS_CLOSURE_AUTHORITY_GET:
                return images.getAuthority(out, outOff);
            default:
                ISOException.throwIt(Constants.SW_INS_NOT_SUPPORTED);
                return 0;
        }
    }

    private static void checkIns(byte ins) {
        if (ins < ClosureConstants.INS_CLOSURE_SEAL || ins > ClosureConstants.INS_CLOSURE_AUTHORITY_GET
                || (ins & 1) != 0) {
            ISOException.throwIt(Constants.SW_INS_NOT_SUPPORTED);
        }
    }

    /** CLEAR: the authority goes with the owner who registered it (the closures stay). */
    void clear() {
        images.clearAuthority();
    }

    private short loaded(byte[] in, short name) {
        short slot = images.find(in, name);
        if (slot < 0) {
            ISOException.throwIt(Constants.SW_NOT_FOUND);
        }
        return slot;
    }

    /** [owner auth length][owner auth], checked; returns the offset after it (cursor open). */
    private short ownerAuthorised(byte[] in, short off, short len) {
        cursor.begin(off, len);
        short authLength = cursor.lengthPrefixed(in, Constants.MAX_AUTH);
        owner.check(in, cursor.take(authLength), authLength, scratch);
        return cursor.position();
    }

    /**
     * RUN. P1 00: in = name 8 || args (a loaded closure, with its store). P1 01: in = args length
     * 1 || args || sealed image (decrypted in place; no store). The output is built at workOff
     * in the window and copied to out[outOff] when that is elsewhere (a staged answer).
     */
    private short run(byte p1, byte p2, byte[] in, short inOff, short inLen, byte[] out, short outOff,
                      HostPcrs host, byte[] buf, short slotOff, short workOff) {
        if (p2 != 0 || (p1 != ClosureConstants.P1_RUN_BY_NAME && p1 != ClosureConstants.P1_RUN_IMAGE)) {
            ISOException.throwIt(Constants.SW_INCORRECT_P1P2);
        }
        byte[] header;
        short hOff;
        byte[] code;
        short codeOff;
        short args;
        short argLength;
        short slot;
        cursor.begin(inOff, inLen);
        if (p1 == ClosureConstants.P1_RUN_BY_NAME) {
            slot = loaded(in, cursor.take(ClosureConstants.NAME_LENGTH));
            argLength = cursor.remaining();
            args = cursor.rest();
            header = images.headers;
            hOff = ClosureImages.headerOffset(slot);
            code = images.code;
            codeOff = ClosureImages.codeOffset(slot);
        } else {
            argLength = cursor.u8(in);
            args = cursor.take(argLength);
            short imageLength = cursor.remaining();
            short image = cursor.rest();
            images.open(in, image, imageLength, scratch, (short) 0);
            slot = -1;
            header = in;
            hOff = (short) (image + ClosureConstants.S_HEADER);
            code = in;
            codeOff = (short) (image + ClosureConstants.SEALED_PREFIX);
        }
        short depth = (short) (header[(short) (hOff + ClosureConstants.H_STACK)] & 0xFF);
        short memSize = Util.getShort(header, (short) (hOff + ClosureConstants.H_MEMORY));
        short outMax = (short) (header[(short) (hOff + ClosureConstants.H_OUTPUT)] & 0xFF);
        if (argLength > memSize) {
            ISOException.throwIt(Constants.SW_WRONG_LENGTH);
        }
        short vm = (short) (workOff + outMax);
        short mem = (short) (vm + (short) (depth * 2));
        if (workOff < 0 || mem > (short) (slotOff - memSize)) {
            ISOException.throwIt(ClosureConstants.SW_CLOSURE_NO_ROOM);
        }
        Util.arrayFillNonAtomic(buf, mem, memSize, (byte) 0);
        Util.arrayCopyNonAtomic(in, args, buf, mem, argLength);
        // The first store write opens a transaction; it commits at HALT only, any stop aborts it.
        short n = engine.run(header, hOff, code, codeOff, buf, vm, workOff, argLength, slot, host, slotOff);
        if (JCSystem.getTransactionDepth() != 0) {
            JCSystem.commitTransaction();
        }
        if (out != buf || outOff != workOff) {
            Util.arrayCopyNonAtomic(buf, workOff, out, outOff, n);
        }
        return n;
    }
}
