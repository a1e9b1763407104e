package tpmcard.sim.enforce;

import java.lang.reflect.Array;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import javacard.framework.JCSystem;

/**
 * The contents of a jCardSim key object (or OwnerPIN), to put back when a transaction is rolled back. The key's
 * fields are saved and restored in place, recursing into jCardSim's own objects (its
 * {@code ByteContainer}s) and copying the contents of arrays, so every reference to the key stays
 * valid. Other objects (BigInteger, domain parameters) are immutable or never changed by a set
 * call and are kept by reference.
 */
final class Snapshot {
    private static final String JCARDSIM = "com.licel.jcardsim.";

    // Transient arrays inside (an OwnerPIN's validated flag) take no part in transactions.
    private final List<Runnable> restore = new ArrayList<>();
    private int bytes;

    private Snapshot() {
    }

    static Snapshot of(Object key) {
        Snapshot s = new Snapshot();
        s.capture(key, new IdentityHashMap<>());
        return s;
    }

    /** The size of the saved data (commit buffer charge). */
    int bytes() {
        return bytes;
    }

    void restore() {
        for (int i = restore.size() - 1; i >= 0; i--) {
            restore.get(i).run();
        }
    }

    private void capture(Object obj, Map<Object, Boolean> seen) {
        if (seen.put(obj, Boolean.TRUE) != null) {
            return;
        }
        for (Class<?> c = obj.getClass(); c != null && c != Object.class; c = c.getSuperclass()) {
            for (Field f : c.getDeclaredFields()) {
                if (Modifier.isStatic(f.getModifiers()) || Modifier.isFinal(f.getModifiers()) && f.getType().isPrimitive()) {
                    continue;
                }
                f.setAccessible(true);
                Object value = Journal.get(f, obj);
                if (!Modifier.isFinal(f.getModifiers())) {
                    restore.add(() -> Journal.set(f, obj, value));
                    bytes += f.getType().isPrimitive() ? Journal.sizeOf(f.getType()) : 0;
                }
                if (value == null) {
                    continue;
                }
                if (value.getClass().isArray() && value.getClass().getComponentType().isPrimitive()
                        && JCSystem.isTransient(value) == JCSystem.NOT_A_TRANSIENT_OBJECT) {
                    int n = Array.getLength(value);
                    Object copy = Array.newInstance(value.getClass().getComponentType(), n);
                    System.arraycopy(value, 0, copy, 0, n);
                    restore.add(() -> System.arraycopy(copy, 0, value, 0, n));
                    bytes += n * Journal.sizeOf(value.getClass().getComponentType());
                } else if (value.getClass().getName().startsWith(JCARDSIM)) {
                    capture(value, seen);
                }
            }
        }
    }
}
