package tpmcard.sim.enforce;

import com.licel.jcardsim.base.SimulatorRuntime;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import javacard.framework.Applet;

/**
 * What card code can still reach, for {@link CardRules#collectGarbage}: the applet instances of a
 * runtime, and the references out of card objects (fields of {@code tpmcard.*} classes, elements
 * of reference arrays, a KeyPair's keys). Crypto engines are leaves: what jCardSim keeps inside
 * them is not card code's. Static fields are not roots: card packages keep no objects in them
 * (the bytecode check refuses static arrays in library packages; the card store's change watch
 * reports any static reference field an applet class has).
 */
final class Reachability {
    private static final Map<Class<?>, Field[]> FIELDS = new ConcurrentHashMap<>();
    private static final Field APPLETS = field(SimulatorRuntime.class, "applets");

    private Reachability() {}

    /** The applet instances installed in {@code runtime}. */
    static List<Applet> applets(SimulatorRuntime runtime) {
        List<Applet> out = new ArrayList<>();
        try {
            for (Object instance : ((Map<?, ?>) APPLETS.get(runtime)).values()) {
                Object applet = instance.getClass().getMethod("getApplet").invoke(instance);
                if (applet instanceof Applet) {
                    out.add((Applet) applet);
                }
            }
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("jCardSim's applet table cannot be read (jCardSim 3.0.6.0 expected)", e);
        }
        return out;
    }

    /** Add to {@code todo} every object {@code o} refers to that card code could reach. */
    static void references(Object o, Collection<Object> todo) {
        if (o instanceof Object[]) {
            for (Object e : (Object[]) o) {
                if (e != null) {
                    todo.add(e);
                }
            }
            return;
        }
        Class<?> c = o.getClass();
        if (c.isArray() || !(c.getName().startsWith("tpmcard.") || o instanceof javacard.security.KeyPair)) {
            return;
        }
        try {
            for (Field f : FIELDS.computeIfAbsent(c, Reachability::referenceFields)) {
                Object v = f.get(o);
                if (v != null) {
                    todo.add(v);
                }
            }
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Field[] referenceFields(Class<?> type) {
        List<Field> out = new ArrayList<>();
        for (Class<?> c = type; c != null && c != Object.class; c = c.getSuperclass()) {
            if (c != type && !c.getName().startsWith("tpmcard.") && c != javacard.security.KeyPair.class) {
                break;  // javacard.framework.Applet and other JCRE bases: the JCRE's state
            }
            for (Field f : c.getDeclaredFields()) {
                if (!Modifier.isStatic(f.getModifiers()) && !f.getType().isPrimitive()) {
                    f.setAccessible(true);
                    out.add(f);
                }
            }
        }
        return out.toArray(new Field[0]);
    }

    private static Field field(Class<?> type, String name) {
        try {
            Field f = type.getDeclaredField(name);
            f.setAccessible(true);
            return f;
        } catch (NoSuchFieldException e) {
            throw new IllegalStateException("jCardSim's " + type.getName() + "." + name + " is missing (jCardSim 3.0.6.0 expected)", e);
        }
    }
}
