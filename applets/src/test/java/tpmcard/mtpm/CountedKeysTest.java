package tpmcard.mtpm;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;
import static tpmcard.mtpm.MtpmCard.concat;
import static tpmcard.mtpm.MtpmCard.lengthPrefixed;

import java.lang.reflect.Field;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.PublicKey;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import javacard.security.AESKey;
import javacard.security.ECPrivateKey;
import org.junit.Test;
import tpmcard.sim.Json;
import tpmcard.sim.enforce.Journal;
import tpmcard.sim.enforce.PowerLoss;

/**
 * Count-limited keys (docs/counted-keys.md): budgets, death at zero for good (card reset,
 * migration, delete), known answers through the counted path (tests/vectors/counted_keys.json,
 * also read by tests/mtpm/test_counted_keys.py), bad input, and power cuts at every persistent
 * write of a use.
 */
public class CountedKeysTest {
    static final byte[] NO_OWNER = {0};
    static final byte[] EMPTY = {};
    static final HexFormat HEX = HexFormat.of();

    static byte[] budget(long n) {
        return new byte[] {(byte) (n >> 24), (byte) (n >> 16), (byte) (n >> 8), (byte) n};
    }

    static byte[] create(MtpmCard card, int kind, long uses) {
        return card.ok(Constants.INS_KEY_CREATE, kind, 0, concat(NO_OWNER, budget(uses), new byte[] {0}));
    }

    static byte[] importKey(MtpmCard card, int kind, long uses, byte[] key) {
        return card.ok(Constants.INS_KEY_IMPORT, kind, 0, concat(NO_OWNER, budget(uses), new byte[] {0}, key));
    }

    static MtpmCard.Result use(MtpmCard card, int op, byte[] handle, byte[] auth, byte[] input) {
        return card.invoke(Constants.INS_KEY_USE, op, 0, concat(Arrays.copyOf(handle, 4), lengthPrefixed(auth), input));
    }

    static byte[] useOk(MtpmCard card, int op, byte[] handle, byte[] input) {
        MtpmCard.Result r = use(card, op, handle, EMPTY, input);
        assertEquals(String.format("USE SW %04X", r.sw), 0x9000, r.sw);
        return r.data;
    }

    static long remaining(MtpmCard card, byte[] handle) {
        byte[] r = card.ok(Constants.INS_KEY_REMAINING, 0, 0, Arrays.copyOf(handle, 4));
        return ((r[1] & 0xFFL) << 24) | ((r[2] & 0xFFL) << 16) | ((r[3] & 0xFFL) << 8) | (r[4] & 0xFFL);
    }

    static PublicKey publicKey(byte[] created) {
        byte[] point = Arrays.copyOfRange(created, 4, 69);
        byte[] area = new byte[88];
        System.arraycopy(point, 1, area, 22, 32);
        System.arraycopy(point, 33, area, 56, 32);
        return Crypto.publicKey(area);
    }

    @Test
    public void ecdsaKeySignsItsBudgetThenIsDeadForGood() {
        MtpmCard card = MtpmCard.installed();
        byte[] created = create(card, Constants.KEY_KIND_ECDSA_P256, 3);
        assertEquals(69, created.length);
        assertEquals(Constants.KEY_HANDLE_TAG, created[0]);
        PublicKey key = publicKey(created);
        for (int i = 0; i < 3; i++) {
            byte[] message = ("message " + i).getBytes();
            assertTrue(Crypto.verify(key, message, useOk(card, Constants.KEY_OP_SIGN, created, message)));
            assertEquals(2 - i, remaining(card, created));
        }
        assertEquals(Constants.SW_KEY_EXHAUSTED, use(card, Constants.KEY_OP_SIGN, created, EMPTY, new byte[1]).sw);
        card.reset();
        assertEquals(Constants.SW_KEY_EXHAUSTED, use(card, Constants.KEY_OP_SIGN, created, EMPTY, new byte[1]).sw);
        assertEquals(0, remaining(card, created));
        assertFalse("the dead key's scalar is wiped", ecKey(card, created[1]).isInitialized());
        // The list shows it, dead; the point stays readable.
        assertArrayEquals(concat(Arrays.copyOf(created, 4), new byte[] {1, 0, 0, 0, 0}),
                card.ok(Constants.INS_KEY_LIST, 0, 0, EMPTY));
        byte[] info = card.ok(Constants.INS_KEY_REMAINING, 0, 0, Arrays.copyOf(created, 4));
        assertArrayEquals(Arrays.copyOfRange(created, 4, 69), Arrays.copyOfRange(info, 5, 70));
        // DELETE frees the slot; the old handle is gone; a new key there is new material, new handle.
        card.ok(Constants.INS_KEY_DELETE, 0, 0, concat(NO_OWNER, Arrays.copyOf(created, 4)));
        card.assertSw(Constants.SW_NOT_FOUND, Constants.INS_KEY_REMAINING, 0, 0, Arrays.copyOf(created, 4));
        byte[] again = create(card, Constants.KEY_KIND_ECDSA_P256, 1);
        assertEquals(created[1], again[1]);
        assertFalse(Arrays.equals(Arrays.copyOf(created, 4), Arrays.copyOf(again, 4)));
        assertFalse(Arrays.equals(Arrays.copyOfRange(created, 4, 69), Arrays.copyOfRange(again, 4, 69)));
        assertEquals(Constants.SW_NOT_FOUND, use(card, Constants.KEY_OP_SIGN, created, EMPTY, new byte[1]).sw);
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> vectors() throws Exception {
        Path file = Path.of(System.getProperty("tpmcard.vectors"), "counted_keys.json");
        return (Map<String, Object>) Json.parse(Files.readString(file, StandardCharsets.UTF_8));
    }

    @Test
    @SuppressWarnings("unchecked")
    public void knownAnswersThroughTheCountedPath() throws Exception {
        Map<String, Object> root = vectors();
        List<Map<String, Object>> hmac = (List<Map<String, Object>>) root.get("hmac_sha256");
        List<Map<String, Object>> aes = (List<Map<String, Object>>) root.get("aes_cbc");
        assertEquals(4, hmac.size());
        assertEquals(4, aes.size());
        for (Map<String, Object> v : hmac) {
            MtpmCard card = MtpmCard.installed();
            byte[] handle = importKey(card, Constants.KEY_KIND_HMAC_SHA256, 2, HEX.parseHex((String) v.get("key")));
            assertArrayEquals((String) v.get("name"), HEX.parseHex((String) v.get("mac")),
                    useOk(card, Constants.KEY_OP_MAC, handle, HEX.parseHex((String) v.get("data"))));
            assertEquals(1, remaining(card, handle));
        }
        for (Map<String, Object> v : aes) {
            MtpmCard card = MtpmCard.installed();
            byte[] key = HEX.parseHex((String) v.get("key"));
            int kind = key.length == 16 ? Constants.KEY_KIND_AES_128 : Constants.KEY_KIND_AES_256;
            byte[] handle = importKey(card, kind, 2, key);
            byte[] iv = HEX.parseHex((String) v.get("iv"));
            byte[] plaintext = HEX.parseHex((String) v.get("plaintext"));
            byte[] ciphertext = HEX.parseHex((String) v.get("ciphertext"));
            assertArrayEquals((String) v.get("name"), ciphertext,
                    useOk(card, Constants.KEY_OP_ENCRYPT, handle, concat(iv, plaintext)));
            assertArrayEquals(plaintext, useOk(card, Constants.KEY_OP_DECRYPT, handle, concat(iv, ciphertext)));
            assertEquals(Constants.SW_KEY_EXHAUSTED, use(card, Constants.KEY_OP_DECRYPT, handle, EMPTY,
                    concat(iv, ciphertext)).sw);
            assertFalse("the dead AES key is wiped", aesKey(card, handle[1], kind).isInitialized());
        }
    }

    @Test
    public void budgetsAboveOneShortBorrowAcrossTheTwoShorts() {
        MtpmCard card = MtpmCard.installed();
        byte[] handle = create(card, Constants.KEY_KIND_HMAC_SHA256, 32769);
        assertEquals(32769, remaining(card, handle));
        useOk(card, Constants.KEY_OP_MAC, handle, new byte[1]);
        assertEquals(32768, remaining(card, handle));
        useOk(card, Constants.KEY_OP_MAC, handle, new byte[1]);  // lo was 0: hi - 1, lo = 32767
        assertEquals(32767, remaining(card, handle));
        byte[] most = create(card, Constants.KEY_KIND_AES_128, 0x3FFFFFFFL);
        assertEquals(0x3FFFFFFFL, remaining(card, most));
        card.assertSw(Constants.SW_WRONG_DATA, Constants.INS_KEY_CREATE, Constants.KEY_KIND_AES_128, 0,
                concat(NO_OWNER, budget(0x40000000L), new byte[] {0}));
        card.assertSw(Constants.SW_WRONG_DATA, Constants.INS_KEY_CREATE, Constants.KEY_KIND_AES_128, 0,
                concat(NO_OWNER, budget(0), new byte[] {0}));
    }

    @Test
    public void badInputGetsItsStatusWordAndCostsNoUse() {
        MtpmCard card = MtpmCard.installed();
        byte[] ecdsa = create(card, Constants.KEY_KIND_ECDSA_P256, 5);
        byte[] aes = importKey(card, Constants.KEY_KIND_AES_128, 5, new byte[16]);
        // Wrong lengths: AES data not whole blocks, no block, key of the wrong size, short handle, trailing bytes.
        assertEquals(Constants.SW_WRONG_LENGTH, use(card, Constants.KEY_OP_ENCRYPT, aes, EMPTY, new byte[16 + 15]).sw);
        assertEquals(Constants.SW_WRONG_LENGTH, use(card, Constants.KEY_OP_ENCRYPT, aes, EMPTY, new byte[16]).sw);
        card.assertSw(Constants.SW_WRONG_LENGTH, Constants.INS_KEY_IMPORT, Constants.KEY_KIND_AES_128, 0,
                concat(NO_OWNER, budget(1), new byte[] {0}, new byte[15]));
        card.assertSw(Constants.SW_WRONG_LENGTH, Constants.INS_KEY_IMPORT, Constants.KEY_KIND_HMAC_SHA256, 0,
                concat(NO_OWNER, budget(1), new byte[] {0}, new byte[65]));
        card.assertSw(Constants.SW_WRONG_LENGTH, Constants.INS_KEY_CREATE, Constants.KEY_KIND_AES_128, 0,
                concat(NO_OWNER, budget(1), new byte[] {0}, new byte[1]));
        card.assertSw(Constants.SW_WRONG_LENGTH, Constants.INS_KEY_USE, Constants.KEY_OP_SIGN, 0, new byte[3]);
        card.assertSw(Constants.SW_WRONG_LENGTH, Constants.INS_KEY_REMAINING, 0, 0, concat(Arrays.copyOf(aes, 4), new byte[1]));
        // Unknown handles: never made, wrong tag, slot out of range, an old generation.
        byte[] unknown = {Constants.KEY_HANDLE_TAG, 7, 0, 1};
        assertEquals(Constants.SW_NOT_FOUND, use(card, Constants.KEY_OP_SIGN, unknown, EMPTY, new byte[1]).sw);
        assertEquals(Constants.SW_NOT_FOUND, use(card, Constants.KEY_OP_SIGN, new byte[] {0x01, ecdsa[1], ecdsa[2], ecdsa[3]},
                EMPTY, new byte[1]).sw);
        assertEquals(Constants.SW_NOT_FOUND, use(card, Constants.KEY_OP_SIGN, new byte[] {Constants.KEY_HANDLE_TAG, 9, 0, 1},
                EMPTY, new byte[1]).sw);
        assertEquals(Constants.SW_NOT_FOUND, use(card, Constants.KEY_OP_SIGN, new byte[] {ecdsa[0], ecdsa[1], ecdsa[2],
                (byte) (ecdsa[3] + 1)}, EMPTY, new byte[1]).sw);
        // Wrong kind for the operation; unknown operation and kinds.
        assertEquals(Constants.SW_KEY_KIND_MISMATCH, use(card, Constants.KEY_OP_SIGN, aes, EMPTY, new byte[32]).sw);
        assertEquals(Constants.SW_KEY_KIND_MISMATCH, use(card, Constants.KEY_OP_MAC, ecdsa, EMPTY, new byte[32]).sw);
        assertEquals(Constants.SW_KEY_KIND_MISMATCH, use(card, Constants.KEY_OP_ENCRYPT, ecdsa, EMPTY, new byte[32]).sw);
        assertEquals(Constants.SW_INCORRECT_P1P2, use(card, 9, ecdsa, EMPTY, new byte[32]).sw);
        card.assertSw(Constants.SW_INCORRECT_P1P2, Constants.INS_KEY_CREATE, 5, 0, concat(NO_OWNER, budget(1), new byte[] {0}));
        card.assertSw(Constants.SW_INCORRECT_P1P2, Constants.INS_KEY_IMPORT, Constants.KEY_KIND_ECDSA_P256, 0,
                concat(NO_OWNER, budget(1), new byte[] {0}, new byte[32]));
        // Auth values: need an owner; a wrong one is 6982 and costs no use.
        card.assertSw(Constants.SW_OWNER_REQUIRED, Constants.INS_KEY_CREATE, Constants.KEY_KIND_AES_128, 0,
                concat(NO_OWNER, budget(1), lengthPrefixed("pw".getBytes())));
        card.ok(Constants.INS_TAKE_OWNERSHIP, 0, 0, "owner".getBytes());
        byte[] owner = lengthPrefixed("owner".getBytes());
        card.assertSw(Constants.SW_OWNER_AUTH_FAILED | 7, Constants.INS_KEY_CREATE, Constants.KEY_KIND_AES_128, 0,
                concat(NO_OWNER, budget(1), new byte[] {0}));
        byte[] guarded = card.ok(Constants.INS_KEY_CREATE, Constants.KEY_KIND_HMAC_SHA256, 0,
                concat(owner, budget(3), lengthPrefixed("pw".getBytes())));
        assertEquals(Constants.SW_AUTH_FAILED, use(card, Constants.KEY_OP_MAC, guarded, "px".getBytes(), new byte[1]).sw);
        assertEquals(3, remaining(card, guarded));
        assertEquals(0x9000, use(card, Constants.KEY_OP_MAC, guarded, "pw".getBytes(), new byte[1]).sw);
        assertEquals(2, remaining(card, guarded));
        // Nothing above cost a use of the other keys.
        assertEquals(5, remaining(card, ecdsa));
        assertEquals(5, remaining(card, aes));
        // No free slot: 8 keys.
        for (int i = 0; i < 5; i++) {
            card.ok(Constants.INS_KEY_CREATE, Constants.KEY_KIND_AES_256, 0, concat(owner, budget(1), new byte[] {0}));
        }
        card.assertSw(Constants.SW_NOT_ENOUGH_MEMORY, Constants.INS_KEY_CREATE, Constants.KEY_KIND_AES_256, 0,
                concat(owner, budget(1), new byte[] {0}));
        assertEquals(8 * 9, card.ok(Constants.INS_KEY_LIST, 0, 0, EMPTY).length);
    }

    @Test
    public void aCountedKeyIsNeverMigratedAndClearRemovesIt() {
        MtpmCard card = MtpmCard.installed();
        byte[] handle = create(card, Constants.KEY_KIND_ECDSA_P256, 2);
        byte[] export = concat(NO_OWNER, new byte[] {0}, new byte[] {0}, Arrays.copyOf(handle, 4));
        card.assertSw(Constants.SW_OWNER_REQUIRED, Constants.INS_MIGRATE_EXPORT, Constants.P1_MIGRATE_COPY,
                Constants.P2_OBJECT_COUNTED_KEY, export);
        card.ok(Constants.INS_TAKE_OWNERSHIP, 0, 0, "owner".getBytes());
        byte[] owner = lengthPrefixed("owner".getBytes());
        for (int p1 : new int[] {Constants.P1_MIGRATE_COPY, Constants.P1_MIGRATE_MOVE}) {
            card.assertSw(Constants.SW_NOT_MIGRATABLE, Constants.INS_MIGRATE_EXPORT, p1, Constants.P2_OBJECT_COUNTED_KEY,
                    concat(owner, new byte[] {0}, new byte[] {0}, Arrays.copyOf(handle, 4)));
        }
        card.assertSw(Constants.SW_INCORRECT_P1P2, Constants.INS_MIGRATE_IMPORT, 0, Constants.P2_OBJECT_COUNTED_KEY,
                concat(owner, new byte[80]));
        assertEquals(2, remaining(card, handle));
        useOk(card, Constants.KEY_OP_SIGN, handle, new byte[1]);
        card.ok(Constants.INS_CLEAR, 0, 0, owner);
        card.assertSw(Constants.SW_NOT_FOUND, Constants.INS_KEY_REMAINING, 0, 0, Arrays.copyOf(handle, 4));
        assertEquals(0, card.ok(Constants.INS_KEY_LIST, 0, 0, EMPTY).length);
        assertFalse("CLEAR wipes the scalar", ecKey(card, handle[1]).isInitialized());
    }

    @Test
    public void stagedCountedCommandsAreRefused() {
        MtpmCard card = MtpmCard.installed();
        byte[] handle = create(card, Constants.KEY_KIND_HMAC_SHA256, 2);
        card.ok(Constants.INS_STAGE_WRITE, 0, 0, concat(Arrays.copyOf(handle, 4), new byte[] {0, 1}));
        card.assertSw(Constants.SW_WRONG_LENGTH, Constants.INS_STAGE_RUN, 0, 0,
                new byte[] {Constants.INS_KEY_USE, Constants.KEY_OP_MAC, 0});
        assertEquals(2, remaining(card, handle));
    }

    /**
     * A power cut at every persistent write of a use: afterwards the budget is the old one (the
     * cut came before the charge, so nothing was computed) or one less (charged, whatever became
     * of the answer), never more; the charge is the use's first persistent write. A cut in the
     * last use leaves a key that is dead either way, and whose material the next try wipes.
     */
    @Test
    public void powerLossDuringAUseNeverGivesAFreeUse() {
        for (long start : new long[] {5, 32768, 1}) {
            MtpmCard counting = MtpmCard.installed();
            byte[] handle = create(counting, Constants.KEY_KIND_ECDSA_P256, start);
            Journal journal = Journal.of(counting.runtime);
            journal.cutPowerAt(0);
            useOk(counting, Constants.KEY_OP_SIGN, handle, new byte[] {1});
            long writes = journal.writes();
            List<String> trace = journal.trace();
            journal.disarm();
            assertTrue("a use writes the EEPROM", writes >= 1);
            assertTrue("the charge comes first: " + trace, trace.get(0).contains("short[]"));
            for (long k = 1; k <= writes; k++) {
                MtpmCard card = MtpmCard.installed();
                handle = create(card, Constants.KEY_KIND_ECDSA_P256, start);
                journal = Journal.of(card.runtime);
                card.reset();
                journal.cutPowerAt(k);
                try {
                    use(card, Constants.KEY_OP_SIGN, handle, EMPTY, new byte[] {1});
                    fail("budget " + start + ": no power cut at write " + k + " of " + writes);
                } catch (PowerLoss expectedLoss) {
                    journal.powerUp();
                }
                card.reset();
                long now = remaining(card, handle);
                assertTrue("budget " + start + ", cut at " + k + " of " + writes + " (" + trace + "): " + now
                        + " uses left", now == start || now == start - 1);
                if (now == 0) {
                    assertEquals(Constants.SW_KEY_EXHAUSTED, use(card, Constants.KEY_OP_SIGN, handle, EMPTY, new byte[1]).sw);
                    assertFalse(ecKey(card, handle[1]).isInitialized());
                } else {
                    useOk(card, Constants.KEY_OP_SIGN, handle, new byte[] {1});
                    assertEquals(now - 1, remaining(card, handle));
                }
            }
        }
    }

    /** Power cut at every write of CREATE: afterwards either no key, or the whole key with its whole budget. */
    @Test
    public void powerLossDuringCreateLeavesNoKeyOrAWholeOne() {
        MtpmCard card = MtpmCard.installed();
        Journal journal = Journal.of(card.runtime);
        journal.cutPowerAt(0);
        byte[] first = create(card, Constants.KEY_KIND_AES_256, 7);
        long writes = journal.writes();
        journal.disarm();
        card.ok(Constants.INS_KEY_DELETE, 0, 0, concat(NO_OWNER, Arrays.copyOf(first, 4)));
        int whole = 0;
        for (long k = 1; k <= writes; k++) {
            card.reset();
            journal.cutPowerAt(k);
            try {
                create(card, Constants.KEY_KIND_AES_256, 7);
                fail("no power cut at write " + k);
            } catch (PowerLoss expectedLoss) {
                journal.powerUp();
            }
            card.reset();
            byte[] list = card.ok(Constants.INS_KEY_LIST, 0, 0, EMPTY);
            if (list.length != 0) {
                assertEquals(9, list.length);
                assertEquals(7, remaining(card, list));
                assertEquals(0x9000, use(card, Constants.KEY_OP_ENCRYPT, list, EMPTY, new byte[32]).sw);
                card.ok(Constants.INS_KEY_DELETE, 0, 0, concat(NO_OWNER, Arrays.copyOf(list, 4)));
                whole++;
            }
        }
        assertTrue("the commit is the last write", whole <= 1);
        assertNotEquals(0, writes);
    }

    // --- the card's key objects, for the wipe checks --------------------------------------------

    private static Object counted(MtpmCard card) {
        try {
            Field f = MtpmApplet.class.getDeclaredField("counted");
            f.setAccessible(true);
            return f.get(card.runtime.applet(card.mtpmAid));
        } catch (ReflectiveOperationException e) {
            throw new AssertionError(e);
        }
    }

    private static Object[] keyArray(MtpmCard card, String name) {
        try {
            Field f = CountedKeys.class.getDeclaredField(name);
            f.setAccessible(true);
            return (Object[]) f.get(counted(card));
        } catch (ReflectiveOperationException e) {
            throw new AssertionError(e);
        }
    }

    private static ECPrivateKey ecKey(MtpmCard card, byte slot) {
        return (ECPrivateKey) keyArray(card, "ecKeys")[slot];
    }

    private static AESKey aesKey(MtpmCard card, byte slot, int kind) {
        return (AESKey) keyArray(card, kind == Constants.KEY_KIND_AES_128 ? "aes128" : "aes256")[slot];
    }
}
