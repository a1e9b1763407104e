package tpmcard.mtpm;

import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.Util;
import javacard.security.MessageDigest;
import javacard.security.RandomData;
import tpmcard.core.HostPcrs;
import tpmcard.lib.ConstantTime;

/**
 * The closure interpreter (docs/closures.md "The machine"): a bounded stack machine of 16-bit
 * values. It has no RAM of its own: the caller gives it a region of the APDU buffer's window for
 * the operand stack, the memory and the output, and the code where it lies (a closure slot, or
 * the staged command data). The registers (pc, stack pointer, steps, output length) are locals.
 *
 * <p>Every instruction is checked before it acts: its stack effect against the depth, every
 * memory address and length against the memory, store offsets against the quota, output against
 * its size, jumps against the code. A violation throws its own status word (ClosureConstants
 * SW_CLOSURE_*); the transaction opened by the run's first store write is aborted by the core
 * applet, so store writes roll back and no output is released.
 */
final class ClosureEngine {
    private static final short HMAC_BLOCK = 64;
    private static final byte IPAD = (byte) 0x36;
    private static final byte OPAD = (byte) 0x5C;
    private static final byte NO_OP = (byte) 0xFF;
    /** CLOCK writes TPMS_CLOCK_INFO.clock: the host TPM's Clock in milliseconds, UINT64. */
    private static final short CLOCK_LENGTH = 8;
    private static final short MAX_SIGNATURE = 72;

    /** Per opcode: pops << 4 | pushes, or NO_OP (persistent, filled at install). */
    private final byte[] effects = new byte[256];
    /** HMAC key-block padding beyond the key (RFC 2104): 64 bytes of 0x36 and of 0x5C. */
    private final byte[] ipad = new byte[HMAC_BLOCK];
    private final byte[] opad = new byte[HMAC_BLOCK];
    private final MessageDigest sha256;
    private final MessageDigest sha1;
    private final RandomData random;
    private final Pcrs pcrs;
    private final ClosureStore store;
    private final CountedKeys counted;
    private final ClosureProviders providers;

    ClosureEngine(MessageDigest sha256, MessageDigest sha1, RandomData random, Pcrs pcrs, ClosureStore store,
                  CountedKeys counted, ClosureProviders providers) {
        this.counted = counted;
        this.providers = providers;
        this.sha256 = sha256;
        this.sha1 = sha1;
        this.random = random;
        this.pcrs = pcrs;
        this.store = store;
        Util.arrayFillNonAtomic(effects, (short) 0, (short) 256, NO_OP);
        Util.arrayFillNonAtomic(ipad, (short) 0, HMAC_BLOCK, IPAD);
        Util.arrayFillNonAtomic(opad, (short) 0, HMAC_BLOCK, OPAD);
        effect(ClosureConstants.OP_HALT, (short) 0, (short) 0);
        effect(ClosureConstants.OP_FAIL, (short) 1, (short) 0);
        effect(ClosureConstants.OP_NOP, (short) 0, (short) 0);
        effect(ClosureConstants.OP_JMP, (short) 0, (short) 0);
        effect(ClosureConstants.OP_JZ, (short) 1, (short) 0);
        effect(ClosureConstants.OP_JNZ, (short) 1, (short) 0);
        effect(ClosureConstants.OP_PUSH, (short) 0, (short) 1);
        effect(ClosureConstants.OP_PUSHB, (short) 0, (short) 1);
        effect(ClosureConstants.OP_POP, (short) 1, (short) 0);
        effect(ClosureConstants.OP_DUP, (short) 1, (short) 2);
        effect(ClosureConstants.OP_SWAP, (short) 2, (short) 2);
        effect(ClosureConstants.OP_OVER, (short) 2, (short) 3);
        effect(ClosureConstants.OP_ROT, (short) 3, (short) 3);
        for (byte op = ClosureConstants.OP_ADD; op <= ClosureConstants.OP_ULT; op++) {
            effect(op, (short) 2, (short) 1);
        }
        effect(ClosureConstants.OP_NOT, (short) 1, (short) 1);
        effect(ClosureConstants.OP_LOAD8, (short) 1, (short) 1);
        effect(ClosureConstants.OP_STORE8, (short) 2, (short) 0);
        effect(ClosureConstants.OP_LOAD16, (short) 1, (short) 1);
        effect(ClosureConstants.OP_STORE16, (short) 2, (short) 0);
        effect(ClosureConstants.OP_MCOPY, (short) 3, (short) 0);
        effect(ClosureConstants.OP_MFILL, (short) 3, (short) 0);
        effect(ClosureConstants.OP_MEQ, (short) 3, (short) 1);
        effect(ClosureConstants.OP_DATA, (short) 1, (short) 0);
        effect(ClosureConstants.OP_DIV32, (short) 2, (short) 1);
        effect(ClosureConstants.OP_ADD32, (short) 2, (short) 1);
        effect(ClosureConstants.OP_ARGLEN, (short) 0, (short) 1);
        effect(ClosureConstants.OP_OUT, (short) 2, (short) 0);
        effect(ClosureConstants.OP_SLOAD, (short) 3, (short) 0);
        effect(ClosureConstants.OP_SSTORE, (short) 3, (short) 0);
        effect(ClosureConstants.OP_SQUOTA, (short) 0, (short) 1);
        effect(ClosureConstants.OP_PCR, (short) 2, (short) 0);
        effect(ClosureConstants.OP_SHA256, (short) 3, (short) 0);
        effect(ClosureConstants.OP_HMAC256, (short) 5, (short) 0);
        effect(ClosureConstants.OP_SHA1, (short) 3, (short) 0);
        effect(ClosureConstants.OP_HMAC1, (short) 5, (short) 0);
        effect(ClosureConstants.OP_RANDOM, (short) 2, (short) 0);
        effect(ClosureConstants.OP_CLOCK, (short) 1, (short) 0);
        effect(ClosureConstants.OP_CSIGN, (short) 4, (short) 1);
        effect(ClosureConstants.OP_CHMAC, (short) 4, (short) 1);
        effect(ClosureConstants.OP_PCALL, (short) 5, (short) 1);
    }

    private void effect(byte op, short pops, short pushes) {
        effects[(short) (op & 0xFF)] = (byte) ((short) (pops << 4) | pushes);
    }

    /**
     * Runs a closure. {@code header} at hOff gives the limits (already checked against the card's
     * caps); the code is code[codeOff..codeOff+codeLength). The window region at buf[vm]: stack
     * (2 x depth bytes), then memory (the args already at its start, the rest zero); the output
     * goes to buf[outOff..+output size), which does not overlap them. {@code slot} is the closure
     * slot whose store the closure reaches, or -1 (no store). {@code pcrSlot}: 32 bytes of the
     * APDU buffer for host PCRs. Returns the output length.
     */
    short run(byte[] header, short hOff, byte[] code, short codeOff, byte[] buf, short vm, short outOff,
              short argLength, short slot, HostPcrs host, short pcrSlot) {
        final short depth = (short) (header[(short) (hOff + ClosureConstants.H_STACK)] & 0xFF);
        final short memSize = Util.getShort(header, (short) (hOff + ClosureConstants.H_MEMORY));
        final short outMax = (short) (header[(short) (hOff + ClosureConstants.H_OUTPUT)] & 0xFF);
        final short quota = slot < 0 ? 0 : Util.getShort(header, (short) (hOff + ClosureConstants.H_STORE));
        final short maxSteps = Util.getShort(header, (short) (hOff + ClosureConstants.H_STEPS));
        final short codeLength = Util.getShort(header, (short) (hOff + ClosureConstants.H_CODE));
        final short mem = (short) (vm + (short) (depth * 2));
        short pc = 0;
        short sp = 0;
        short steps = 0;
        short outLength = 0;
        while (true) {
            if (pc >= codeLength) {
                ISOException.throwIt(ClosureConstants.SW_CLOSURE_CODE);  // ran off the end
            }
            if (steps >= maxSteps) {
                ISOException.throwIt(ClosureConstants.SW_CLOSURE_STEPS);
            }
            steps++;
            byte op = code[(short) (codeOff + pc)];
            byte e = effects[(short) (op & 0xFF)];
            if (e == NO_OP) {
                ISOException.throwIt(ClosureConstants.SW_CLOSURE_CODE);
            }
            short pops = (short) ((e >> 4) & 0x0F);
            short pushes = (short) (e & 0x0F);
            if (sp < pops || (short) (sp - pops + pushes) > depth) {
                ISOException.throwIt(ClosureConstants.SW_CLOSURE_STACK);
            }
            pc++;
            // Operands: x0 is the deepest of the popped values, results are written from base.
            short base = (short) (vm + (short) ((short) (sp - pops) * 2));
            short x0 = pops > 0 ? Util.getShort(buf, base) : 0;
            short x1 = pops > 1 ? Util.getShort(buf, (short) (base + 2)) : 0;
            short x2 = pops > 2 ? Util.getShort(buf, (short) (base + 4)) : 0;
            short r = 0;
            switch (op) {
                case ClosureConstants.OP_HALT:
                    return outLength;
                case ClosureConstants.OP_FAIL:
                    ISOException.throwIt((short) (ClosureConstants.SW_CLOSURE_FAILED | (short) (x0 & 0xFF)));
                    break;
                case ClosureConstants.OP_NOP:
                case ClosureConstants.OP_POP:
                    break;
                case ClosureConstants.OP_JMP:
                case ClosureConstants.OP_JZ:
                case ClosureConstants.OP_JNZ: {
                    short target = immediate16(code, codeOff, pc, codeLength);
                    pc = (short) (pc + 2);
                    boolean jump = op == ClosureConstants.OP_JMP
                            || (op == ClosureConstants.OP_JZ ? x0 == 0 : x0 != 0);
                    if (jump) {
                        if (target < 0 || target >= codeLength) {
                            ISOException.throwIt(ClosureConstants.SW_CLOSURE_CODE);
                        }
                        pc = target;
                    }
                    break;
                }
                case ClosureConstants.OP_PUSH:
                    r = immediate16(code, codeOff, pc, codeLength);
                    pc = (short) (pc + 2);
                    break;
                case ClosureConstants.OP_PUSHB:
                    if (pc >= codeLength) {
                        ISOException.throwIt(ClosureConstants.SW_CLOSURE_CODE);
                    }
                    r = (short) (code[(short) (codeOff + pc)] & 0xFF);
                    pc++;
                    break;
                case ClosureConstants.OP_DUP:
                    r = x0;
                    Util.setShort(buf, (short) (base + 2), x0);
                    break;
                case ClosureConstants.OP_SWAP:
                    r = x1;
                    Util.setShort(buf, (short) (base + 2), x0);
                    break;
                case ClosureConstants.OP_OVER:
                    r = x0;
                    Util.setShort(buf, (short) (base + 4), x0);
                    break;
                case ClosureConstants.OP_ROT:
                    r = x1;
                    Util.setShort(buf, (short) (base + 2), x2);
                    Util.setShort(buf, (short) (base + 4), x0);
                    break;
                case ClosureConstants.OP_NOT:
                    r = (short) ~x0;
                    break;
                case ClosureConstants.OP_LOAD8:
                    range(x0, (short) 1, memSize);
                    r = (short) (buf[(short) (mem + x0)] & 0xFF);
                    break;
                case ClosureConstants.OP_STORE8:
                    range(x1, (short) 1, memSize);
                    buf[(short) (mem + x1)] = (byte) x0;
                    break;
                case ClosureConstants.OP_LOAD16:
                    range(x0, (short) 2, memSize);
                    r = Util.getShort(buf, (short) (mem + x0));
                    break;
                case ClosureConstants.OP_STORE16:
                    range(x1, (short) 2, memSize);
                    Util.setShort(buf, (short) (mem + x1), x0);
                    break;
                case ClosureConstants.OP_MCOPY:
                    range(x0, x2, memSize);
                    range(x1, x2, memSize);
                    Util.arrayCopyNonAtomic(buf, (short) (mem + x1), buf, (short) (mem + x0), x2);
                    break;
                case ClosureConstants.OP_MFILL:
                    range(x0, x1, memSize);
                    Util.arrayFillNonAtomic(buf, (short) (mem + x0), x1, (byte) x2);
                    break;
                case ClosureConstants.OP_MEQ:
                    range(x0, x2, memSize);
                    range(x1, x2, memSize);
                    r = ConstantTime.equals(buf, (short) (mem + x0), buf, (short) (mem + x1), x2) ? (short) 1 : 0;
                    break;
                case ClosureConstants.OP_DATA: {
                    if (pc >= codeLength) {
                        ISOException.throwIt(ClosureConstants.SW_CLOSURE_CODE);
                    }
                    short n = (short) (code[(short) (codeOff + pc)] & 0xFF);
                    pc++;
                    if (n > (short) (codeLength - pc)) {
                        ISOException.throwIt(ClosureConstants.SW_CLOSURE_CODE);
                    }
                    range(x0, n, memSize);
                    Util.arrayCopyNonAtomic(code, (short) (codeOff + pc), buf, (short) (mem + x0), n);
                    pc = (short) (pc + n);
                    break;
                }
                case ClosureConstants.OP_DIV32:
                    range(x0, (short) 4, memSize);
                    if (x1 <= 0) {
                        ISOException.throwIt(ClosureConstants.SW_CLOSURE_ARITHMETIC);
                    }
                    r = ClosureMath.div32(buf, (short) (mem + x0), x1);
                    break;
                case ClosureConstants.OP_ADD32:
                    range(x0, (short) 4, memSize);
                    r = ClosureMath.add32(buf, (short) (mem + x0), x1);
                    break;
                case ClosureConstants.OP_ARGLEN:
                    r = argLength;
                    break;
                case ClosureConstants.OP_OUT:
                    range(x0, x1, memSize);
                    if (x1 > (short) (outMax - outLength)) {
                        ISOException.throwIt(ClosureConstants.SW_CLOSURE_OUTPUT);
                    }
                    Util.arrayCopyNonAtomic(buf, (short) (mem + x0), buf, (short) (outOff + outLength), x1);
                    outLength = (short) (outLength + x1);
                    break;
                case ClosureConstants.OP_SLOAD:
                    range(x0, x2, memSize);
                    storeRange(x1, x2, quota, slot);
                    store.read(slot, x1, buf, (short) (mem + x0), x2);
                    break;
                case ClosureConstants.OP_SSTORE:
                    range(x1, x2, memSize);
                    storeRange(x0, x2, quota, slot);
                    if (JCSystem.getTransactionDepth() == 0) {
                        JCSystem.beginTransaction();  // committed by the caller at HALT only
                    }
                    store.write(slot, x0, buf, (short) (mem + x1), x2);
                    break;
                case ClosureConstants.OP_SQUOTA:
                    r = quota;
                    break;
                case ClosureConstants.OP_PCR:
                    if (x0 < 0 || x0 >= Constants.PCR_COUNT) {
                        ISOException.throwIt(ClosureConstants.SW_CLOSURE_OPERAND);
                    }
                    range(x1, Constants.DIGEST_LENGTH, memSize);
                    pcrs.read(x0, host, buf, pcrSlot, buf, (short) (mem + x1));
                    break;
                case ClosureConstants.OP_SHA256:
                case ClosureConstants.OP_SHA1: {
                    MessageDigest md = op == ClosureConstants.OP_SHA256 ? sha256 : sha1;
                    range(x0, md.getLength(), memSize);
                    range(x1, x2, memSize);
                    md.reset();
                    md.doFinal(buf, (short) (mem + x1), x2, buf, (short) (mem + x0));
                    break;
                }
                case ClosureConstants.OP_HMAC256:
                case ClosureConstants.OP_HMAC1:
                    hmac(op == ClosureConstants.OP_HMAC256 ? sha256 : sha1, buf, mem, memSize, x0, x1, x2,
                            Util.getShort(buf, (short) (base + 6)), Util.getShort(buf, (short) (base + 8)));
                    break;
                case ClosureConstants.OP_RANDOM:
                    range(x0, x1, memSize);
                    if (x1 > 0) {
                        random.nextBytes(buf, (short) (mem + x0), x1);
                    }
                    break;
                case ClosureConstants.OP_CLOCK:
                    // The session's TPMS_CLOCK_INFO (docs/binding.md 3.10) comes through the APDU
                    // buffer's PCR slot, as host PCRs do; its first 8 bytes are the Clock.
                    range(x0, CLOCK_LENGTH, memSize);
                    host.copyClock(buf, pcrSlot);
                    Util.arrayCopyNonAtomic(buf, pcrSlot, buf, (short) (mem + x0), CLOCK_LENGTH);
                    break;
                case ClosureConstants.OP_CSIGN:
                case ClosureConstants.OP_CHMAC:
                    r = countedKey(op, buf, mem, memSize, x0, x1, x2, Util.getShort(buf, (short) (base + 6)));
                    break;
                case ClosureConstants.OP_PCALL:  // the PCR slot is free between instructions: the AID's scratch
                    r = providers.call(buf, mem, memSize, x0, x1, x2, Util.getShort(buf, (short) (base + 6)),
                            Util.getShort(buf, (short) (base + 8)), slot, pcrSlot, host);
                    break;
                default:
                    r = ClosureMath.binary(op, x0, x1);
                    break;
            }
            sp = (short) (sp - pops + pushes);
            if (pushes > 0) {
                Util.setShort(buf, base, r);
            }
        }
    }

    /**
     * CSIGN / CHMAC ( key dst src len -- n ): memory[key..) = handle 4 || auth length 1 || auth,
     * the count-limited key (CountedKeys, docs/counted-keys.md); the DER signature (at most 72
     * bytes) or the HMAC-SHA-256 (32) goes to memory[dst..). The key is charged before use and
     * the charge is never rolled back, so the use must come before any store write of the run
     * (SW_CLOSURE_ORDER otherwise): a later stop then rolls back only later store writes, and
     * the output is not released, so a charge is never undone for a released signature.
     */
    private short countedKey(byte op, byte[] buf, short mem, short memSize, short key, short dst, short src,
                             short len) {
        if (JCSystem.getTransactionDepth() != 0) {
            ISOException.throwIt(ClosureConstants.SW_CLOSURE_ORDER);
        }
        range(key, ClosureConstants.KEY_REFERENCE_HEADER, memSize);
        short authLength = (short) (buf[(short) (mem + key + 4)] & 0xFF);
        if (authLength > Constants.MAX_AUTH) {
            ISOException.throwIt(ClosureConstants.SW_CLOSURE_OPERAND);
        }
        short auth = (short) (key + ClosureConstants.KEY_REFERENCE_HEADER);
        range(auth, authLength, memSize);
        short room = op == ClosureConstants.OP_CSIGN ? MAX_SIGNATURE : Constants.DIGEST_LENGTH;
        range(dst, room, memSize);
        range(src, len, memSize);
        short keySlot = counted.slotOf(buf, (short) (mem + key));
        counted.authorise(keySlot, buf, (short) (mem + auth), authLength);
        return counted.use(keySlot, op == ClosureConstants.OP_CSIGN ? Constants.KEY_OP_SIGN : Constants.KEY_OP_MAC,
                buf, (short) (mem + src), len, (short) (mem + dst), (short) (mem + dst + room));
    }

    private static short immediate16(byte[] code, short codeOff, short pc, short codeLength) {
        if ((short) (codeLength - pc) < 2) {
            ISOException.throwIt(ClosureConstants.SW_CLOSURE_CODE);
        }
        return Util.getShort(code, (short) (codeOff + pc));
    }

    /** 0 <= addr, 0 <= len, addr + len <= size, or SW_CLOSURE_MEMORY. */
    static void range(short addr, short len, short size) {
        if (addr < 0 || len < 0 || addr > size || len > (short) (size - addr)) {
            ISOException.throwIt(ClosureConstants.SW_CLOSURE_MEMORY);
        }
    }

    /** A store range within the quota, of a loaded closure: a run from an image has no store at all. */
    private static void storeRange(short off, short len, short quota, short slot) {
        if (slot < 0 || off < 0 || len < 0 || off > quota || len > (short) (quota - off)) {
            ISOException.throwIt(ClosureConstants.SW_CLOSURE_STORE);
        }
    }

    /**
     * HMAC (RFC 2104) with the key in memory: K xor ipad is made in place (the key bytes) and the
     * rest of the block comes from the constant pad arrays, so no RAM is needed; the key is
     * restored afterwards. Inner hash, then outer hash, both to dst (doFinal may work in place).
     */
    private void hmac(MessageDigest md, byte[] buf, short mem, short memSize, short dst, short key, short keyLength,
                      short msg, short msgLength) {
        short digest = md.getLength();
        range(dst, digest, memSize);
        range(key, keyLength, memSize);
        range(msg, msgLength, memSize);
        if (keyLength > HMAC_BLOCK || (dst < (short) (key + keyLength) && key < (short) (dst + digest))) {
            ISOException.throwIt(ClosureConstants.SW_CLOSURE_OPERAND);
        }
        short k = (short) (mem + key);
        short pad = (short) (HMAC_BLOCK - keyLength);
        xor(buf, k, keyLength, IPAD);
        md.reset();
        md.update(buf, k, keyLength);
        md.update(ipad, (short) 0, pad);
        md.update(buf, (short) (mem + msg), msgLength);
        md.doFinal(buf, k, (short) 0, buf, (short) (mem + dst));
        xor(buf, k, keyLength, (byte) (IPAD ^ OPAD));
        md.update(buf, k, keyLength);
        md.update(opad, (short) 0, pad);
        md.doFinal(buf, (short) (mem + dst), digest, buf, (short) (mem + dst));
        xor(buf, k, keyLength, OPAD);
    }

    private static void xor(byte[] buf, short off, short len, byte value) {
        for (short i = 0; i < len; i++) {
            buf[(short) (off + i)] ^= value;
        }
    }
}
