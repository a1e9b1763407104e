package tpmcard.sim;

import java.lang.reflect.Field;

/**
 * Raw field access through {@code sun.misc.Unsafe} (module jdk.unsupported, open to everyone).
 *
 * <p>Two users: the change detector reads every field of the card's object graph, which must be
 * cheap and must not need {@code --add-opens} for java.* classes; and the card store reaches the
 * one private JDK field jCardSim's deterministic SecureRandom hides its generator behind.
 */
final class Unsafe {
    static final sun.misc.Unsafe U;

    static {
        try {
            Field f = sun.misc.Unsafe.class.getDeclaredField("theUnsafe");
            f.setAccessible(true);
            U = (sun.misc.Unsafe) f.get(null);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private Unsafe() {}

    static long offset(Field f) {
        return U.objectFieldOffset(f);
    }

    static Object getObject(Object o, Field f) {
        return U.getObject(o, U.objectFieldOffset(f));
    }

    static void putObject(Object o, Field f, Object value) {
        U.putObject(o, U.objectFieldOffset(f), value);
    }
}
