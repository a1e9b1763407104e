package tpmcard.sim.enforce;

import java.lang.reflect.Array;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import javacard.framework.JCSystem;
import javacard.security.Key;
import javacard.security.KeyBuilder;

/**
 * SHA-256 of the persistent memory reachable from a card object: the fields of card classes
 * ({@code tpmcard.*}), the contents of non-transient arrays, and the contents of persistent
 * jCardSim key objects and OwnerPINs. Transient arrays and transient keys (RAM), crypto engines
 * and other platform objects count by class name only. Call with the card's runtime current.
 */
public final class PersistentDigest {
    private final Set<String> excluded;
    private final Map<Object, Integer> seen = new IdentityHashMap<>();
    private final Line out;
    private final List<String> path = new ArrayList<>();

    /** Appends one line per value: the field path, then the value. */
    private final class Line {
        private final StringBuilder text;

        Line(StringBuilder text) {
            this.text = text;
        }

        void writeUTF(String value) {
            text.append(String.join(".", path)).append(' ').append(value).append('\n');
        }
    }

    private PersistentDigest(Set<String> excluded, StringBuilder text) {
        this.excluded = excluded;
        this.out = new Line(text);
    }

    /**
     * @param excluded fields left out, as {@code SimpleClassName.field} (a value that is its own
     *     atomic unit and changes on purpose outside the operation under test)
     */
    public static byte[] of(Object root, Set<String> excluded) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(describe(root, excluded).getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    /** What {@link #of} hashes, one line per field or element (to show where two states differ). */
    public static String describe(Object root, Set<String> excluded) {
        StringBuilder text = new StringBuilder();
        try {
            new PersistentDigest(excluded, text).walk(root);
        } catch (IllegalAccessException e) {
            throw new AssertionError(e);
        }
        return text.toString();
    }

    /** The first line where two descriptions differ, with the path of fields that leads to it. */
    public static String firstDifference(String a, String b) {
        String[] x = a.split("\n", -1);
        String[] y = b.split("\n", -1);
        for (int i = 0; i < Math.min(x.length, y.length); i++) {
            if (!x[i].equals(y[i])) {
                return "line " + i + ": " + x[i] + " -> " + y[i];
            }
        }
        return x.length == y.length ? "no difference" : "different lengths";
    }

    private void walk(Object obj) throws IllegalAccessException {
        if (obj == null) {
            out.writeUTF("null");
            return;
        }
        Integer index = seen.get(obj);
        if (index != null) {
            out.writeUTF("@" + index);
            return;
        }
        seen.put(obj, seen.size());
        Class<?> c = obj.getClass();
        out.writeUTF(c.getName());
        if (c.isArray()) {
            if (JCSystem.isTransient(obj) != JCSystem.NOT_A_TRANSIENT_OBJECT) {
                return;
            }
            int n = Array.getLength(obj);
            for (int i = 0; i < n; i++) {
                Object e = Array.get(obj, i);
                path.add("[" + i + "]");
                if (c.getComponentType().isPrimitive()) {
                    out.writeUTF(String.valueOf(e));
                } else {
                    walk(e);
                }
                path.remove(path.size() - 1);
            }
            return;
        }
        boolean card = c.getName().startsWith("tpmcard.") && !c.getName().startsWith("tpmcard.sim.");
        boolean platform = c.getName().startsWith("com.licel.jcardsim.crypto.")
                && (c.getName().endsWith("KeyImpl") || c.getName().endsWith("ByteContainer"))
                || c.getName().equals("javacard.framework.OwnerPIN")
                || c.getName().equals("javacard.security.KeyPair");
        if (!card && !platform) {
            return;  // a crypto engine, an AID, ...: not the applet's persistent data
        }
        if (obj instanceof Key && isTransientKey((Key) obj)) {
            return;
        }
        for (Field f : fields(c, card)) {
            if (excluded.contains(f.getDeclaringClass().getSimpleName() + "." + f.getName())) {
                continue;
            }
            f.setAccessible(true);
            Object v = f.get(obj);
            path.add(f.getName());
            if (f.getType().isPrimitive()) {
                out.writeUTF(String.valueOf(v));
            } else {
                walk(v);
            }
            path.remove(path.size() - 1);
        }
    }

    private static List<Field> fields(Class<?> c, boolean cardOnly) {
        List<Field> all = new ArrayList<>();
        for (Class<?> k = c; k != null && k != Object.class; k = k.getSuperclass()) {
            if (cardOnly && !k.getName().startsWith("tpmcard.")) {
                break;  // javacard.framework.Applet's own fields are the platform's
            }
            for (Field f : k.getDeclaredFields()) {
                if (!Modifier.isStatic(f.getModifiers())) {
                    all.add(f);
                }
            }
        }
        all.sort(Comparator.comparing((Field f) -> f.getDeclaringClass().getName()).thenComparing(Field::getName));
        return all;
    }

    private static boolean isTransientKey(Key key) {
        byte t = key.getType();
        return t == KeyBuilder.TYPE_AES_TRANSIENT_RESET || t == KeyBuilder.TYPE_AES_TRANSIENT_DESELECT
                || t == KeyBuilder.TYPE_DES_TRANSIENT_RESET || t == KeyBuilder.TYPE_DES_TRANSIENT_DESELECT
                || t == KeyBuilder.TYPE_HMAC_TRANSIENT_RESET || t == KeyBuilder.TYPE_HMAC_TRANSIENT_DESELECT
                || t == KeyBuilder.TYPE_EC_FP_PRIVATE_TRANSIENT_RESET
                || t == KeyBuilder.TYPE_EC_FP_PRIVATE_TRANSIENT_DESELECT;
    }
}
