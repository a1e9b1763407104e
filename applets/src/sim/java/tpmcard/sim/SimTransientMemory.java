package tpmcard.sim;

import com.licel.jcardsim.base.TransientMemory;
import java.util.IdentityHashMap;
import javacard.framework.JCSystem;

/**
 * jCardSim's transient memory, plus an identity index of every transient array and its clear event.
 *
 * <p>The card store asks {@link #eventOf} for every array it meets, so the index must be O(1):
 * jCardSim's own {@code isTransient} scans two lists with {@code contains}.
 */
final class SimTransientMemory extends TransientMemory {
    private final IdentityHashMap<Object, Byte> events = new IdentityHashMap<>();

    @Override
    protected void storeArray(Object arrayRef, byte event) {
        super.storeArray(arrayRef, event);
        events.put(arrayRef, event);
    }

    @Override
    public byte isTransient(Object theObj) {
        return eventOf(theObj);
    }

    /** The array's clear event (JCSystem.CLEAR_ON_RESET / CLEAR_ON_DESELECT), or NOT_A_TRANSIENT_OBJECT. */
    byte eventOf(Object array) {
        Byte event = events.get(array);
        return event == null ? JCSystem.NOT_A_TRANSIENT_OBJECT : event;
    }

    /** Power loss: zero every transient array (jCardSim's clearOnReset covers both events). */
    void powerLoss() {
        clearOnReset();
    }

    /** Forget every transient array: the applet instances that held them are being replaced. */
    void forgetAll() {
        forgetBuffers();
        events.clear();
    }

    /** {number of transient arrays, number holding a non-zero element}. */
    int[] status() {
        int nonZero = 0;
        for (Object a : events.keySet()) {
            if (!isZero(a)) {
                nonZero++;
            }
        }
        return new int[] {events.size(), nonZero};
    }

    private static boolean isZero(Object a) {
        if (a instanceof byte[]) {
            for (byte b : (byte[]) a) {
                if (b != 0) {
                    return false;
                }
            }
        } else if (a instanceof short[]) {
            for (short s : (short[]) a) {
                if (s != 0) {
                    return false;
                }
            }
        } else if (a instanceof boolean[]) {
            for (boolean b : (boolean[]) a) {
                if (b) {
                    return false;
                }
            }
        } else if (a instanceof Object[]) {
            for (Object o : (Object[]) a) {
                if (o != null) {
                    return false;
                }
            }
        }
        return true;
    }
}
