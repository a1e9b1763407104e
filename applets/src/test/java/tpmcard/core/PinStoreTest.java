package tpmcard.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import com.licel.jcardsim.base.Simulator;
import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.OwnerPIN;
import org.junit.Test;

/**
 * What the binding relies on in javacard.framework.OwnerPIN (as jCardSim 3.0.6.0 implements it),
 * and PinStore on top of it.
 */
public class PinStoreTest {
    private static final byte[] PIN = {'1', '2', '3', '4', '5', '6'};
    private static final byte[] PUK = {'1', '2', '3', '4', '5', '6', '7', '8'};

    private static PinStore store() {
        return new PinStore(PIN, (short) 0, (byte) PIN.length, PUK, (short) 0, (byte) PUK.length);
    }

    private static short sw(Runnable r) {
        try {
            r.run();
            return (short) 0x9000;
        } catch (ISOException e) {
            return e.getReason();
        }
    }

    @Test
    public void ownerPinDecrementsTheCounterBeforeComparing() {
        OwnerPIN pin = new OwnerPIN((byte) 3, (byte) 8);
        pin.update(PIN, (short) 0, (byte) PIN.length);
        // A comparison that faults (the candidate runs past its buffer) must still cost a try:
        // only possible when the counter goes down before the bytes are compared.
        byte[] shortBuffer = new byte[3];
        try {
            pin.check(shortBuffer, (short) 0, (byte) PIN.length);
            fail("expected the comparison to fault");
        } catch (ArrayIndexOutOfBoundsException expected) {
            // as specified: the try is spent although no comparison result came back
        }
        assertEquals(2, pin.getTriesRemaining());
        assertTrue(pin.check(PIN, (short) 0, (byte) PIN.length));
        assertEquals(3, pin.getTriesRemaining());
    }

    @Test
    public void ownerPinCounterIgnoresTransactionsAndBlocksAtZero() {
        OwnerPIN pin = new OwnerPIN((byte) 2, (byte) 8);
        pin.update(PIN, (short) 0, (byte) PIN.length);
        JCSystem.beginTransaction();
        assertFalse(pin.check(PUK, (short) 0, (byte) PUK.length));
        JCSystem.abortTransaction();  // a torn or aborted command must not give the try back
        assertEquals(1, pin.getTriesRemaining());
        assertFalse(pin.check(PUK, (short) 0, (byte) PUK.length));
        assertEquals(0, pin.getTriesRemaining());
        assertFalse("blocked: even the right PIN fails", pin.check(PIN, (short) 0, (byte) PIN.length));
    }

    @Test
    public void pinStoreStatusWordsLockoutAndUnblock() {
        PinStore store = store();
        byte[] wrong = {'0', '0', '0', '0', '0', '0'};
        assertEquals((short) 0x63C2, sw(() -> store.check(Constants.P2_PIN, wrong, (short) 0, (byte) 6)));
        assertEquals((short) 0x63C1, sw(() -> store.check(Constants.P2_PIN, wrong, (short) 0, (byte) 6)));
        assertEquals((short) 0x6983, sw(() -> store.check(Constants.P2_PIN, wrong, (short) 0, (byte) 6)));
        assertEquals((short) 0x6983, sw(() -> store.check(Constants.P2_PIN, PIN, (short) 0, (byte) 6)));
        assertEquals(0, store.triesRemaining(Constants.P2_PIN));
        assertEquals((short) 0x63C4, sw(() -> store.check(Constants.P2_PUK, wrong, (short) 0, (byte) 6)));
        assertEquals((short) 0x9000, sw(() -> store.check(Constants.P2_PUK, PUK, (short) 0, (byte) 8)));
        byte[] fresh = {'4', '3', '2', '1'};
        store.resetPin(fresh, (short) 0, (byte) 4);
        assertEquals(3, store.triesRemaining(Constants.P2_PIN));
        assertEquals((short) 0x9000, sw(() -> store.check(Constants.P2_PIN, fresh, (short) 0, (byte) 4)));
        assertEquals(5, store.triesRemaining(Constants.P2_PUK));
    }

    @Test
    public void lockoutSurvivesACardReset() {
        Simulator simulator = SimulatedCard.newSimulator();
        PinStore store = store();
        byte[] wrong = {'0', '0', '0', '0', '0', '0'};
        sw(() -> store.check(Constants.P2_PIN, wrong, (short) 0, (byte) 6));
        simulator.reset();
        assertEquals(2, store.triesRemaining(Constants.P2_PIN));
    }

    /** Issue 11 finding 4: PAIR waits until neither the PIN nor the PUK is the factory default. */
    @Test
    public void personalisedOnlyOnceNeitherPinNorPukIsTheDefault() {
        SimulatedCard.newSimulator();  // a runtime for the transactions
        PinStore pins = store();  // the factory defaults
        assertFalse(pins.personalised());
        byte[] pin = {'2', '4', '6', '8'};
        byte[] puk = {'9', '8', '7', '6', '5', '4', '3', '2'};
        pins.update(Constants.P2_PIN, pin, (short) 0, (byte) pin.length);
        assertFalse("the default PUK could still set a new PIN", pins.personalised());
        pins.update(Constants.P2_PUK, puk, (short) 0, (byte) puk.length);
        assertTrue(pins.personalised());
        pins.resetPin(PIN, (short) 0, (byte) PIN.length);  // back to the default value
        assertFalse(pins.personalised());
        pins.update(Constants.P2_PIN, pin, (short) 0, (byte) pin.length);
        assertTrue(pins.personalised());
        PinStore chosen = new PinStore(pin, (short) 0, (byte) pin.length, puk, (short) 0, (byte) puk.length);
        assertTrue("set at install: personalised from the start", chosen.personalised());
    }
}
