package tpmcard.mtpm;

import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.TransactionException;
import javacard.framework.Util;
import javacard.security.AESKey;
import javacard.security.ECPrivateKey;
import javacard.security.ECPublicKey;
import javacard.security.KeyBuilder;
import javacard.security.KeyPair;
import javacard.security.MessageDigest;
import javacard.security.Signature;
import javacardx.crypto.Cipher;
import tpmcard.lib.ConstantTime;
import tpmcard.lib.Hmac;
import tpmcard.lib.P256;

/**
 * Count-limited keys (England and Tariq, "Towards a Programmable TPM"): a key usable only a
 * preset number of times. docs/counted-keys.md has the messages, the storage, the charge order,
 * the tear analysis and the claims.
 *
 * <p>{@link Constants#COUNTED_KEY_SLOTS} slots, all allocated at install. A slot holds one key of
 * one kind (ECDSA P-256, HMAC-SHA-256, AES-128, AES-256), its budget of uses (remaining =
 * hi * 32768 + lo, two shorts, up to 2^30 - 1), SHA-256 of its auth value (empty: no auth), and
 * a generation that names it in its handle {@code 8C || slot || generation 2}: a slot used again
 * gets a new handle, so an old handle never reaches a new key.
 *
 * <p>A use is charged in EEPROM before the operation: one atomic write of a short array element
 * (JCRE 3.0.5 §7.4: a single element update is atomic), or, once per 32,768 uses, a transaction
 * (borrow from hi). A power loss during or after the charge therefore never gives a use for free;
 * before the charge nothing was computed. At zero the key material is wiped and the slot is dead
 * until DELETE frees it; a freed slot gets new material (CREATE/IMPORT) and a new handle. No
 * command raises a budget, and MIGRATE EXPORT refuses counted keys (SW_NOT_MIGRATABLE).
 *
 * <p>No RAM of its own: the service's scratch (auth hashes, 16-byte HMAC pad pieces) and the
 * mobile TPM's SHA-256, ECDSA and AES-CBC objects.
 */
final class CountedKeys {
    private static final short SLOTS = Constants.COUNTED_KEY_SLOTS;
    private static final byte FREE = 0;
    private static final byte LIVE = 1;
    private static final byte DEAD = 2;
    static final short HANDLE_LENGTH = 4;
    private static final short BUDGET_LENGTH = 4;
    private static final short POINT = 65;
    private static final short BLOCK = 16;
    private static final short HMAC_BLOCK = 64;
    private static final short MAX_SIGNATURE = 72;
    private static final short MAC_LENGTH = 32;
    private static final short LOW_MAX = (short) 0x7FFF;
    // Scratch layout (the service's CLEAR_ON_RESET scratch): the owner check hashes into [0..32).
    private static final short S_AUTH = 0;
    private static final short S_PIECE = 32;
    private static final short PIECE = 16;

    private final byte[] kinds = new byte[SLOTS];
    private final byte[] states = new byte[SLOTS];
    /** hi, lo per slot: remaining = hi * 32768 + lo, each 0..32767. */
    private final short[] budgets = new short[(short) (2 * SLOTS)];
    private final short[] generations = new short[SLOTS];
    private final byte[] authHashes = new byte[(short) (SLOTS * Constants.DIGEST_LENGTH)];
    private final byte[] points = new byte[(short) (SLOTS * POINT)];
    private final byte[] hmacKeys = new byte[(short) (SLOTS * HMAC_BLOCK)];
    private final ECPrivateKey[] ecKeys = new ECPrivateKey[SLOTS];
    private final AESKey[] aes128 = new AESKey[SLOTS];
    private final AESKey[] aes256 = new AESKey[SLOTS];
    /** Makes ECDSA keys; its private half is cleared after each (the scalar lives in the slot only). */
    private final KeyPair generator;

    private final Keys keys;
    private final MessageDigest sha256;
    private final Cipher cbc;
    private final Owner owner;
    private final DictionaryGuard guard;
    private final Cursor cursor;
    private final byte[] scratch;

    CountedKeys(Keys keys, Envelope envelope, Owner owner, DictionaryGuard guard, Cursor cursor, byte[] scratch) {
        this.keys = keys;
        this.sha256 = keys.sha256();
        this.cbc = envelope.cbc();
        this.owner = owner;
        this.guard = guard;
        this.cursor = cursor;
        this.scratch = scratch;
        for (short i = 0; i < SLOTS; i++) {
            ecKeys[i] = (ECPrivateKey) KeyBuilder.buildKey(KeyBuilder.TYPE_EC_FP_PRIVATE, P256.KEY_LENGTH, false);
            aes128[i] = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES, KeyBuilder.LENGTH_AES_128, false);
            aes256[i] = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES, KeyBuilder.LENGTH_AES_256, false);
        }
        generator = new KeyPair(
                (ECPublicKey) KeyBuilder.buildKey(KeyBuilder.TYPE_EC_FP_PUBLIC, P256.KEY_LENGTH, false),
                (ECPrivateKey) KeyBuilder.buildKey(KeyBuilder.TYPE_EC_FP_PRIVATE, P256.KEY_LENGTH, false));
    }

    /**
     * The command handlers; data and answer in the APDU buffer only ({@code in == slot}): a
     * staged command would put plaintexts and keys in the EEPROM staging arrays (6700).
     * {@code limit} is where the answer must end.
     */
    short command(byte ins, byte p1, byte p2, byte[] in, short off, short len, byte[] out, short outOff,
                  byte[] slot, short limit) {
        if (in != slot || out != slot) {
            ISOException.throwIt(Constants.SW_WRONG_LENGTH);
        }
        if (p2 != 0) {
            ISOException.throwIt(Constants.SW_INCORRECT_P1P2);
        }
        switch (ins) {
            case Constants.INS_KEY_CREATE:
            case Constants.INS_KEY_IMPORT:
                return make(ins == Constants.INS_KEY_IMPORT, p1, in, off, len, outOff, limit);
            case Constants.INS_KEY_USE:
                return useCommand(p1, in, off, len, outOff, limit);
            case Constants.INS_KEY_REMAINING:
                return remaining(p1, in, off, len, outOff);
            case Constants.INS_KEY_LIST:
                return list(p1, len, out, outOff);
            case Constants.INS_KEY_DELETE:
                return delete(p1, in, off, len);
            default:
                ISOException.throwIt(Constants.SW_INS_NOT_SUPPORTED);
                return 0;
        }
    }

    // --- The use: the package-internal API (closures call it too) ----------------------------

    /**
     * Charges one use of the key in {@code slot} (from {@link #slotOf}), then runs {@code op}
     * over buf[inOff..inOff+inLen) and writes the answer at buf[outOff..limit); returns its
     * length. Sign: ECDSA P-256 SHA-256 of the message, DER. MAC: HMAC-SHA-256 (32). Encrypt /
     * decrypt: AES-CBC, input = IV 16 || whole blocks, answer = the blocks. Refused, without a
     * charge: another kind (6981), a length (6700), no use left (6984). The caller has checked
     * who may use the key ({@link #authorise} or its own policy) and must have no transaction
     * open: a charge inside the caller's transaction would be undone by its abort.
     */
    short use(short slot, byte op, byte[] buf, short inOff, short inLen, short outOff, short limit) {
        if (JCSystem.getTransactionDepth() != 0) {
            TransactionException.throwIt(TransactionException.IN_PROGRESS);
        }
        byte kind = kinds[slot];
        boolean aes = kind == Constants.KEY_KIND_AES_128 || kind == Constants.KEY_KIND_AES_256;
        short room = (short) (limit - outOff);
        short dataLength = (short) (inLen - BLOCK);
        if (op == Constants.KEY_OP_SIGN) {
            requireKind(kind == Constants.KEY_KIND_ECDSA_P256);
            requireLength(room >= MAX_SIGNATURE);
        } else if (op == Constants.KEY_OP_MAC) {
            requireKind(kind == Constants.KEY_KIND_HMAC_SHA256);
            requireLength(room >= MAC_LENGTH);
        } else if (op == Constants.KEY_OP_ENCRYPT || op == Constants.KEY_OP_DECRYPT) {
            requireKind(aes);
            requireLength(dataLength >= BLOCK && (short) (dataLength % BLOCK) == 0 && room >= dataLength);
        } else {
            ISOException.throwIt(Constants.SW_INCORRECT_P1P2);
        }
        charge(slot);
        short n;
        if (op == Constants.KEY_OP_SIGN) {
            keys.ecdsa.init(ecKeys[slot], Signature.MODE_SIGN);
            n = keys.ecdsa.sign(buf, inOff, inLen, buf, outOff);
        } else if (op == Constants.KEY_OP_MAC) {
            n = hmac(slot, buf, inOff, inLen, outOff);
        } else {
            cbc.init(kind == Constants.KEY_KIND_AES_128 ? aes128[slot] : aes256[slot],
                    op == Constants.KEY_OP_ENCRYPT ? Cipher.MODE_ENCRYPT : Cipher.MODE_DECRYPT, buf, inOff, BLOCK);
            n = cbc.doFinal(buf, (short) (inOff + BLOCK), dataLength, buf, outOff);
        }
        if (budgets[(short) (2 * slot)] == 0 && budgets[(short) (2 * slot + 1)] == 0) {
            die(slot);  // the last use is done: the material goes now
        }
        return n;
    }

    /** The slot of the live or dead key named by the handle at in[off..off+4); 6A88 otherwise. */
    short slotOf(byte[] in, short off) {
        short slot = (short) (in[(short) (off + 1)] & 0xFF);
        if (in[off] != Constants.KEY_HANDLE_TAG || slot >= SLOTS || states[slot] == FREE
                || Util.getShort(in, (short) (off + 2)) != generations[slot]) {
            ISOException.throwIt(Constants.SW_NOT_FOUND);
        }
        return slot;
    }

    /** The key's auth value SHA-256'd into scratch and compared (constant time) under the DA guard. */
    void authorise(short slot, byte[] in, short auth, short authLength) {
        sha256.reset();
        sha256.doFinal(in, auth, authLength, scratch, S_AUTH);
        short stored = (short) (slot * Constants.DIGEST_LENGTH);
        boolean guarded = !DictionaryGuard.hasNoAuth(authHashes, stored);
        if (guarded) {
            guard.charge();  // before the comparison
        }
        boolean right = ConstantTime.equals(authHashes, stored, scratch, S_AUTH, Constants.DIGEST_LENGTH);
        Util.arrayFillNonAtomic(scratch, S_AUTH, Constants.DIGEST_LENGTH, (byte) 0);
        if (!right) {
            ISOException.throwIt(Constants.SW_AUTH_FAILED);
        }
        if (guarded) {
            guard.succeeded();
        }
    }

    /**
     * One use off the budget, before the operation. lo > 0: one atomic element write. lo = 0:
     * hi - 1 and lo = 32767 together in a transaction. Nothing left: the key dies (6984).
     */
    private void charge(short slot) {
        short hi = (short) (2 * slot);
        short lo = (short) (hi + 1);
        if (budgets[lo] > 0) {
            budgets[lo] = (short) (budgets[lo] - 1);
            return;
        }
        if (budgets[hi] <= 0) {
            die(slot);
            ISOException.throwIt(Constants.SW_KEY_EXHAUSTED);
        }
        JCSystem.beginTransaction();
        budgets[hi] = (short) (budgets[hi] - 1);
        budgets[lo] = LOW_MAX;
        JCSystem.commitTransaction();
    }

    /** No use left: wipe the material, then mark the slot dead (again after a torn wipe). */
    private void die(short slot) {
        if (states[slot] != LIVE) {
            return;
        }
        wipeMaterial(slot);
        states[slot] = DEAD;
    }

    private void wipeMaterial(short slot) {
        byte kind = kinds[slot];
        if (kind == Constants.KEY_KIND_ECDSA_P256) {
            ecKeys[slot].clearKey();
        } else if (kind == Constants.KEY_KIND_HMAC_SHA256) {
            Util.arrayFillNonAtomic(hmacKeys, (short) (slot * HMAC_BLOCK), HMAC_BLOCK, (byte) 0);
        } else if (kind == Constants.KEY_KIND_AES_128) {
            aes128[slot].clearKey();
        } else if (kind == Constants.KEY_KIND_AES_256) {
            aes256[slot].clearKey();
        }
    }

    /** HMAC-SHA-256 with K0 of the slot (FIPS 198-1 §4); the inner hash is kept at out until the outer one. */
    private short hmac(short slot, byte[] buf, short inOff, short inLen, short outOff) {
        short k0 = (short) (slot * HMAC_BLOCK);
        sha256.reset();
        Hmac.updatePad(sha256, hmacKeys, k0, HMAC_BLOCK, Hmac.IPAD, scratch, S_PIECE, PIECE);
        short n = sha256.doFinal(buf, inOff, inLen, buf, outOff);
        sha256.reset();
        Hmac.updatePad(sha256, hmacKeys, k0, HMAC_BLOCK, Hmac.OPAD, scratch, S_PIECE, PIECE);
        return sha256.doFinal(buf, outOff, n, buf, outOff);
    }

    private static void requireKind(boolean right) {
        if (!right) {
            ISOException.throwIt(Constants.SW_KEY_KIND_MISMATCH);
        }
    }

    private static void requireLength(boolean right) {
        if (!right) {
            ISOException.throwIt(Constants.SW_WRONG_LENGTH);
        }
    }

    // --- Commands ----------------------------------------------------------------------------

    /** KEY USE: P1 op; in = handle 4 || auth len || auth || input. */
    private short useCommand(byte op, byte[] in, short off, short len, short outOff, short limit) {
        cursor.begin(off, len);
        short slot = slotOf(in, cursor.take(HANDLE_LENGTH));
        short authLength = cursor.lengthPrefixed(in, Constants.MAX_AUTH);
        short auth = cursor.take(authLength);
        short inputLength = cursor.remaining();
        short input = cursor.rest();
        if (states[slot] != LIVE || (budgets[(short) (2 * slot)] == 0 && budgets[(short) (2 * slot + 1)] == 0)) {
            die(slot);  // a torn last use left the material: wipe it now
            ISOException.throwIt(Constants.SW_KEY_EXHAUSTED);
        }
        authorise(slot, in, auth, authLength);
        return use(slot, op, in, input, inputLength, outOff, limit);
    }

    /**
     * KEY CREATE / IMPORT: P1 kind; in = owner auth len || owner auth || budget 4 || auth len ||
     * auth (|| key: HMAC 1..64, AES 16 / 32 bytes). Answer: handle 4 (|| ECDSA: point 65).
     */
    private short make(boolean imported, byte kind, byte[] in, short off, short len, short outOff, short limit) {
        if (kind < Constants.KEY_KIND_ECDSA_P256 || kind > Constants.KEY_KIND_AES_256
                || (imported && kind == Constants.KEY_KIND_ECDSA_P256)) {
            ISOException.throwIt(Constants.SW_INCORRECT_P1P2);
        }
        ownerAuthorised(in, off, len);
        short budget = cursor.take(BUDGET_LENGTH);
        short authLength = cursor.lengthPrefixed(in, Constants.MAX_AUTH);
        short auth = cursor.take(authLength);
        short keyLength = cursor.remaining();
        short key = cursor.rest();
        short expected = kind == Constants.KEY_KIND_AES_128 ? (short) 16 : (short) 32;
        if (!imported) {
            requireLength(keyLength == 0);
        } else if (kind == Constants.KEY_KIND_HMAC_SHA256) {
            requireLength(keyLength >= 1 && keyLength <= Constants.MAX_HMAC_KEY);
        } else {
            requireLength(keyLength == expected);
        }
        // Answer: handle 4 || point 65; the new key's secret is made in the room after it.
        short work = (short) (outOff + HANDLE_LENGTH + POINT);
        requireLength((short) (limit - work) >= 32);
        if ((in[budget] & 0xC0) != 0 || (short) ((short) (in[budget] | in[(short) (budget + 1)])
                | (short) (in[(short) (budget + 2)] | in[(short) (budget + 3)])) == 0) {
            ISOException.throwIt(Constants.SW_WRONG_DATA);  // 1 .. 2^30 - 1 uses
        }
        if (authLength != 0 && !owner.isOwned()) {
            ISOException.throwIt(Constants.SW_OWNER_REQUIRED);  // as SEAL: an owner can lift the lockout
        }
        short slot = 0;
        while (slot < SLOTS && states[slot] != FREE) {
            slot++;
        }
        if (slot == SLOTS) {
            ISOException.throwIt(Constants.SW_NOT_ENOUGH_MEMORY);
        }
        wipeFree();  // material a torn DELETE or CLEAR left in a free slot
        short secret = imported ? key : work;
        short secretLength = imported ? keyLength : expected;
        if (kind == Constants.KEY_KIND_ECDSA_P256) {
            generate(slot, in, (short) (outOff + HANDLE_LENGTH), work);
        } else {
            if (!imported) {
                keys.random().nextBytes(in, work, secretLength);
            }
            setSecret(slot, kind, in, secret, secretLength);
        }
        Util.arrayFillNonAtomic(in, secret, secretLength, (byte) 0);
        sha256.reset();
        sha256.doFinal(in, auth, authLength, scratch, S_AUTH);
        // The slot was free (no command reaches its material); it becomes live in one transaction.
        short generation = (short) (generations[slot] + 1);
        if (generation <= 0) {
            generation = 1;
        }
        JCSystem.beginTransaction();
        kinds[slot] = kind;
        budgets[(short) (2 * slot)] = (short) ((short) ((in[budget] & 0x3F) << 9)
                | (short) ((in[(short) (budget + 1)] & 0xFF) << 1) | (short) ((in[(short) (budget + 2)] & 0xFF) >> 7));
        budgets[(short) (2 * slot + 1)] = (short) ((short) ((in[(short) (budget + 2)] & 0x7F) << 8)
                | (short) (in[(short) (budget + 3)] & 0xFF));
        generations[slot] = generation;
        Util.arrayCopy(scratch, S_AUTH, authHashes, (short) (slot * Constants.DIGEST_LENGTH), Constants.DIGEST_LENGTH);
        if (kind == Constants.KEY_KIND_ECDSA_P256) {
            Util.arrayCopy(in, (short) (outOff + HANDLE_LENGTH), points, (short) (slot * POINT), POINT);
        }
        states[slot] = LIVE;
        JCSystem.commitTransaction();
        Util.arrayFillNonAtomic(scratch, S_AUTH, Constants.DIGEST_LENGTH, (byte) 0);
        writeHandle(slot, in, outOff);
        return kind == Constants.KEY_KIND_ECDSA_P256 ? (short) (HANDLE_LENGTH + POINT) : HANDLE_LENGTH;
    }

    /** A P-256 key pair: the point to buf[pointOff], the scalar (32) through buf[work] into the slot. */
    private void generate(short slot, byte[] buf, short pointOff, short work) {
        ECPublicKey publicKey = (ECPublicKey) generator.getPublic();
        ECPrivateKey privateKey = (ECPrivateKey) generator.getPrivate();
        keys.curve.setDomainParameters(publicKey);
        keys.curve.setDomainParameters(privateKey);
        generator.genKeyPair();
        publicKey.getW(buf, pointOff);
        short n = privateKey.getS(buf, work);
        privateKey.clearKey();  // the scalar stays in the slot only
        if (n < 32) {  // a scalar with leading zero bytes: full length for setS
            Util.arrayCopyNonAtomic(buf, work, buf, (short) (work + 32 - n), n);
            Util.arrayFillNonAtomic(buf, work, (short) (32 - n), (byte) 0);
        }
        keys.curve.setDomainParameters(ecKeys[slot]);
        ecKeys[slot].setS(buf, work, (short) 32);
    }

    private void setSecret(short slot, byte kind, byte[] in, short off, short length) {
        if (kind == Constants.KEY_KIND_HMAC_SHA256) {
            short k0 = (short) (slot * HMAC_BLOCK);
            Util.arrayFillNonAtomic(hmacKeys, k0, HMAC_BLOCK, (byte) 0);  // K0: zero-padded to the block
            Util.arrayCopyNonAtomic(in, off, hmacKeys, k0, length);
        } else if (kind == Constants.KEY_KIND_AES_128) {
            aes128[slot].setKey(in, off);
        } else {
            aes256[slot].setKey(in, off);
        }
    }

    /** KEY REMAINING: in = handle 4; answer: kind 1 || remaining 4 (|| ECDSA: point 65). */
    private short remaining(byte p1, byte[] in, short off, short len, short outOff) {
        if (p1 != 0) {
            ISOException.throwIt(Constants.SW_INCORRECT_P1P2);
        }
        requireLength(len == HANDLE_LENGTH);
        short slot = slotOf(in, off);
        in[outOff] = kinds[slot];
        short end = writeRemaining(slot, in, (short) (outOff + 1));
        if (kinds[slot] == Constants.KEY_KIND_ECDSA_P256) {
            end = Util.arrayCopyNonAtomic(points, (short) (slot * POINT), in, end, POINT);
        }
        return (short) (end - outOff);
    }

    /** KEY LIST: per key (live or dead), handle 4 || kind 1 || remaining 4. */
    private short list(byte p1, short len, byte[] out, short outOff) {
        if (p1 != 0) {
            ISOException.throwIt(Constants.SW_INCORRECT_P1P2);
        }
        requireLength(len == 0);
        short at = outOff;
        for (short slot = 0; slot < SLOTS; slot++) {
            if (states[slot] != FREE) {
                writeHandle(slot, out, at);
                out[(short) (at + HANDLE_LENGTH)] = kinds[slot];
                at = writeRemaining(slot, out, (short) (at + HANDLE_LENGTH + 1));
            }
        }
        return (short) (at - outOff);
    }

    /** KEY DELETE: in = owner auth len || owner auth || handle 4. Frees the slot, live or dead. */
    private short delete(byte p1, byte[] in, short off, short len) {
        if (p1 != 0) {
            ISOException.throwIt(Constants.SW_INCORRECT_P1P2);
        }
        ownerAuthorised(in, off, len);
        short slot = slotOf(in, cursor.take(HANDLE_LENGTH));
        cursor.end();
        JCSystem.beginTransaction();
        free(slot);
        JCSystem.commitTransaction();
        wipeFree();
        return 0;
    }

    /**
     * MIGRATE EXPORT / IMPORT of P2_OBJECT_COUNTED_KEY (after the owner auth): a counted key never
     * leaves the card, in a copy or a move, so its budget can never be restored or doubled.
     */
    void refuseMigration(byte p2) {
        if (p2 == Constants.P2_OBJECT_COUNTED_KEY) {
            ISOException.throwIt(Constants.SW_NOT_MIGRATABLE);
        }
    }

    /** CLEAR, inside its transaction: every slot free (their handles die). wipeFree() after the commit. */
    void clear() {
        for (short slot = 0; slot < SLOTS; slot++) {
            if (states[slot] != FREE) {
                free(slot);
            }
        }
    }

    /** Journaled: the slot is free and has no budget; its material goes in wipeFree(). */
    private void free(short slot) {
        states[slot] = FREE;
        budgets[(short) (2 * slot)] = 0;
        budgets[(short) (2 * slot + 1)] = 0;
    }

    /** After DELETE or CLEAR committed: the material, auth hash and point of every free slot. */
    void wipeFree() {
        for (short slot = 0; slot < SLOTS; slot++) {
            if (states[slot] == FREE && kinds[slot] != 0) {
                wipeMaterial(slot);
                Util.arrayFillNonAtomic(authHashes, (short) (slot * Constants.DIGEST_LENGTH), Constants.DIGEST_LENGTH,
                        (byte) 0);
                Util.arrayFillNonAtomic(points, (short) (slot * POINT), POINT, (byte) 0);
                kinds[slot] = 0;  // last: a torn wipe is done again by the next DELETE or CLEAR
            }
        }
    }

    private void writeHandle(short slot, byte[] out, short off) {
        out[off] = Constants.KEY_HANDLE_TAG;
        out[(short) (off + 1)] = (byte) slot;
        Util.setShort(out, (short) (off + 2), generations[slot]);
    }

    /** remaining = hi * 32768 + lo as 4 bytes big-endian at out[off]; returns off + 4. */
    private short writeRemaining(short slot, byte[] out, short off) {
        short hi = budgets[(short) (2 * slot)];
        short lo = budgets[(short) (2 * slot + 1)];
        out[off] = (byte) (hi >> 9);
        out[(short) (off + 1)] = (byte) (hi >> 1);
        out[(short) (off + 2)] = (byte) ((short) ((hi & 1) << 7) | (short) (lo >> 8));
        out[(short) (off + 3)] = (byte) lo;
        return (short) (off + 4);
    }

    /** Reads and checks [owner auth length][owner auth]; the cursor stays open after it. */
    private void ownerAuthorised(byte[] in, short off, short len) {
        cursor.begin(off, len);
        short authLength = cursor.lengthPrefixed(in, Constants.MAX_AUTH);
        owner.check(in, cursor.take(authLength), authLength, scratch);
    }
}
