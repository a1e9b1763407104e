package tpmcard.sim;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import com.licel.jcardsim.base.Simulator;
import com.licel.jcardsim.utils.AIDUtil;
import java.util.Arrays;
import javacard.framework.AID;
import org.junit.Test;
import tpmcard.sim.enforce.CardInstrumentation;
import tpmcard.sim.enforce.Journal;
import tpmcard.testcard.TransactionProbeApplet;

/** Transactions of rewritten card code in the simulator's runtime (SimRuntime). */
public class TransactionRuntimeTest {
    private final SimRuntime runtime = new SimRuntime(new SimTransientMemory());
    private final Simulator simulator = new Simulator(runtime);
    private final AID aid = AIDUtil.create("F074706D63FF0101");

    private byte[] send(int ins) {
        return simulator.transmitCommand(new byte[] {(byte) 0x80, (byte) ins, 0, 0});
    }

    private static int sw(byte[] r) {
        return ((r[r.length - 2] & 0xFF) << 8) | (r[r.length - 1] & 0xFF);
    }

    private byte[] state() {
        byte[] r = send(0x02);
        assertEquals(0x9000, sw(r));
        return Arrays.copyOf(r, r.length - 2);
    }

    private void install() {
        assertTrue(CardInstrumentation.isActive());
        simulator.installApplet(aid, TransactionProbeApplet.class);
        simulator.selectApplet(aid);
        assertTrue(CardInstrumentation.isRewritten(TransactionProbeApplet.class));
    }

    @Test
    public void anExceptionThatEndsTheCommandAbortsItsTransaction() {
        install();
        byte[] before = state();
        assertEquals(0x6F01, sw(send(0x01)));
        assertArrayEquals(before, state());
        assertEquals("no transaction left open", 0, runtime.getTransactionDepth());
        assertEquals(0x6F01, sw(send(0x01)));  // not TransactionException.IN_PROGRESS
    }

    @Test
    public void nonAtomicBytesOfAnAbortedTransactionArePoisoned() {
        install();
        assertEquals(0x9000, sw(send(0x03)));
        byte p = Journal.POISON;
        assertArrayEquals(new byte[] {0, 0, 0, 0, 0, 0, p, p, p, p}, state());
    }

    @Test
    public void theCommitBufferIsAJ3R180s() {
        install();
        assertArrayEquals(new byte[] {0x14, 0x00, (byte) 0x90, 0x00}, send(0x05));
        assertEquals("TransactionException.BUFFER_FULL", 0x6303, sw(send(0x04)));
    }
}
