package tpmcard.sim.enforce;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import com.licel.jcardsim.base.SimulatorRuntime;
import java.util.Arrays;
import javacard.framework.JCSystem;
import javacard.framework.TransactionException;
import javacard.security.AESKey;
import javacard.security.KeyBuilder;
import org.junit.After;
import org.junit.Before;
import org.junit.Test;

/**
 * The journal and power-loss model, driven through the hooks the rewriter calls (as rewritten card
 * code would call them).
 */
public class JournalTest {
    /** A runtime the test can make current. */
    static final class Runtime extends SimulatorRuntime {
        void activate() {
            activateSimulatorRuntimeInstance();
        }
    }

    /** A stand-in for a card object. */
    static final class Record {
        short count;
        byte flag;
        Object ref;
    }

    private Runtime runtime;
    private Journal journal;

    @Before
    public void setUp() {
        runtime = new Runtime();
        runtime.activate();
        journal = Journal.of(runtime);
    }

    @After
    public void tearDown() {
        journal.powerUp();
    }

    private static void putCount(Record r, int value) {
        Journal.putField(r, Record.class, "count");
        r.count = (short) value;
    }

    @Test
    public void abortRollsBackFieldsElementsAndAtomicCopies() {
        Record r = new Record();
        byte[] persistent = new byte[8];
        short[] shorts = new short[4];
        byte[] ram = JCSystem.makeTransientByteArray((short) 8, JCSystem.CLEAR_ON_RESET);
        putCount(r, 7);
        Journal.beginTransaction();
        putCount(r, 8);
        putCount(r, 9);
        Journal.putField(r, Record.class, "ref");
        r.ref = persistent;
        Journal.bastore(persistent, 1, 0x11);
        Journal.sastore(shorts, 2, (short) 0x2222);
        Journal.arrayCopy(new byte[] {1, 2, 3}, (short) 0, persistent, (short) 4, (short) 3);
        Journal.setShort(persistent, (short) 6, (short) 0x7777);
        Journal.bastore(ram, 0, 0x55);
        assertEquals(1, JCSystem.getTransactionDepth());
        assertEquals(2 + 2 + 2 + 1 + 2 + 3 + 2, journal.used());
        assertEquals(Journal.COMMIT_CAPACITY - journal.used(), Journal.getUnusedCommitCapacity());
        Journal.abortTransaction();
        assertEquals(0, JCSystem.getTransactionDepth());
        assertEquals(7, r.count);
        assertEquals(null, r.ref);
        assertArrayEquals(new byte[8], persistent);
        assertArrayEquals(new short[4], shorts);
        assertEquals("transient arrays are not rolled back", 0x55, ram[0]);
    }

    @Test
    public void commitKeepsWrites() {
        Record r = new Record();
        byte[] persistent = new byte[4];
        Journal.beginTransaction();
        putCount(r, 3);
        Journal.bastore(persistent, 0, 1);
        Journal.commitTransaction();
        assertFalse(journal.isOpen());
        assertEquals(3, r.count);
        assertEquals(1, persistent[0]);
    }

    @Test
    public void nonAtomicWritesInAnAbortedTransactionArePoisoned() {
        byte[] persistent = new byte[8];
        Arrays.fill(persistent, (byte) 1);
        Journal.beginTransaction();
        Journal.arrayFillNonAtomic(persistent, (short) 2, (short) 3, (byte) 0);
        Journal.abortTransaction();
        byte p = Journal.POISON;
        assertArrayEquals(new byte[] {1, 1, p, p, p, 1, 1, 1}, persistent);
    }

    @Test
    public void theCommitBufferHoldsMaxCommitCapacityBytes() {
        byte[] big = new byte[Journal.COMMIT_CAPACITY];
        assertEquals(5120, Journal.getMaxCommitCapacity());
        Journal.beginTransaction();
        Journal.arrayCopy(new byte[100], (short) 0, big, (short) 0, (short) 100);
        try {
            Journal.arrayCopy(new byte[Journal.COMMIT_CAPACITY], (short) 0, big, (short) 0, Journal.COMMIT_CAPACITY);
            fail("BUFFER_FULL expected");
        } catch (TransactionException e) {
            assertEquals(TransactionException.BUFFER_FULL, e.getReason());
        }
        Journal.abortTransaction();
    }

    @Test
    public void persistentKeyContentsRollBack() {
        AESKey key = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES, KeyBuilder.LENGTH_AES_128, false);
        byte[] k1 = new byte[16];
        Arrays.fill(k1, (byte) 1);
        key.setKey(k1, (short) 0);
        Journal.beginTransaction();
        Journal.beforeKeyWrite(key);
        key.setKey(new byte[16], (short) 0);
        Journal.beforeKeyWrite(key);
        key.clearKey();
        Journal.abortTransaction();
        assertTrue(key.isInitialized());
        byte[] out = new byte[16];
        key.getKey(out, (short) 0);
        assertArrayEquals(k1, out);
    }

    /** Writes: count 1, array 2, commit 3, count 4. */
    private static void command(Record r, byte[] a) {
        Journal.beginTransaction();
        putCount(r, 1);
        Journal.bastore(a, 0, 1);
        Journal.commitTransaction();
        putCount(r, 2);
    }

    @Test
    public void powerCutAtEachWriteLeavesOldOrNewState() {
        journal.cutPowerAt(0);
        command(new Record(), new byte[1]);
        assertEquals(4, journal.writes());
        journal.disarm();
        int[][] expected = {{0, 0}, {0, 0}, {0, 0}, {1, 1}};  // count, a[0] after a cut at write k
        for (int k = 1; k <= 4; k++) {
            Record r = new Record();
            byte[] a = new byte[1];
            journal.cutPowerAt(k);
            try {
                command(r, a);
                fail("no power loss at " + k);
            } catch (PowerLoss e) {
                assertTrue(journal.powerLost());
            }
            try {
                putCount(r, 99);
                fail("a write after the cut happened");
            } catch (PowerLoss e) {
                // the card is off
            }
            journal.powerUp();
            assertEquals(0, JCSystem.getTransactionDepth());
            assertEquals("count after a cut at " + k, expected[k - 1][0], r.count);
            assertEquals("a[0] after a cut at " + k, expected[k - 1][1], a[0]);
        }
    }

    @Test
    public void aNonAtomicCopyCutHalfWayWritesHalf() {
        byte[] a = new byte[8];
        journal.cutPowerAt(1);
        try {
            Journal.arrayCopyNonAtomic(new byte[] {1, 2, 3, 4, 5, 6, 7, 8}, (short) 0, a, (short) 0, (short) 8);
            fail();
        } catch (PowerLoss e) {
            journal.powerUp();
        }
        assertArrayEquals(new byte[] {1, 2, 3, 4, 0, 0, 0, 0}, a);
    }

    @Test
    public void endOfCommandAbortsAnOpenTransaction() {
        Record r = new Record();
        Journal.beginTransaction();
        putCount(r, 5);
        assertTrue(journal.endOfCommand());
        assertEquals(0, r.count);
        assertEquals(0, JCSystem.getTransactionDepth());
        Journal.beginTransaction();  // no IN_PROGRESS
        Journal.commitTransaction();
    }
}
