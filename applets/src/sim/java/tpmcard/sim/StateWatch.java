package tpmcard.sim;

import java.lang.reflect.Field;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import javacard.framework.JCSystem;

/**
 * Cheap change detection for the card's persistent state.
 *
 * <p>{@link #rebuild} walks the object graph reachable from the applet instances once and flattens
 * it: every instance field (primitive value, or reference identity) and a copy of every persistent
 * array. {@link #changed} then re-reads those fields through Unsafe and compares the arrays, with no
 * allocation, hashing or graph walk. If no field and no persistent array changed, the reachable
 * graph is the same graph with the same values, so its serialisation is unchanged and the store
 * need not be rewritten. It sees a superset of what the store holds (Java-transient fields, JDK
 * internals of collections), so it may report a change the store does not care about, never the
 * reverse. Transient arrays are compared by identity only: their content is not card state.
 */
final class StateWatch {
    private static final sun.misc.Unsafe U = Unsafe.U;
    private static final Set<Class<?>> IMMUTABLE = Set.of(String.class, Boolean.class, Byte.class,
            Short.class, Character.class, Integer.class, Long.class, Float.class, Double.class,
            BigInteger.class, BigDecimal.class, Class.class);
    /**
     * BouncyCastle's EC arithmetic: curves, points, field elements are immutable values; their two
     * caches (ECCurve.multiplier, ECPoint.preCompTable) are left out of the store by
     * {@link CardImageCodec}. Treated like String: compared by identity, never entered.
     */
    private static final String IMMUTABLE_PACKAGE = "com.licel.jcardsim.bouncycastle.math.";
    /**
     * jCardSim crypto objects that {@link CardImageCodec} always stores as "a fresh object of
     * algorithm A" (a final field): the store never holds their engine state (IVs, chaining values,
     * partial hashes: RAM on a real card), so a change there is no change of the store. Compared
     * by identity, never entered; without this every secure-messaging command looked like a
     * persistent change and paid for a full encode of the card.
     */
    private static final Set<String> WRITTEN_FRESH = Set.of(
            "com.licel.jcardsim.crypto.SymmetricCipherImpl",
            "com.licel.jcardsim.crypto.SymmetricSignatureImpl",
            "com.licel.jcardsim.crypto.AuthenticatedSymmetricCipherImpl",
            "com.licel.jcardsim.crypto.AsymmetricCipherImpl",
            "com.licel.jcardsim.crypto.MessageDigestImpl");
    private static final ConcurrentHashMap<Class<?>, Plan> PLANS = new ConcurrentHashMap<>();

    private final SimTransientMemory memory;

    private Object[] refOwner = new Object[0];
    private long[] refOffset = new long[0];
    private Object[] refValue = new Object[0];
    private Object[] byteOwner = new Object[0];
    private long[] byteOffset = new long[0];
    private byte[] byteValue = new byte[0];
    private Object[] shortOwner = new Object[0];
    private long[] shortOffset = new long[0];
    private short[] shortValue = new short[0];
    private Object[] intOwner = new Object[0];
    private long[] intOffset = new long[0];
    private int[] intValue = new int[0];
    private Object[] longOwner = new Object[0];
    private long[] longOffset = new long[0];
    private long[] longValue = new long[0];
    private byte[][] byteArrays = new byte[0][];
    private byte[][] byteCopies = new byte[0][];
    private Object[] otherArrays = new Object[0];
    private Object[] otherCopies = new Object[0];
    /** Something in the graph cannot be inspected field by field: assume it always changes. */
    private boolean opaque;
    private String opaqueReason;

    StateWatch(SimTransientMemory memory) {
        this.memory = memory;
    }

    /** Flatten the graph reachable from {@code roots}; {@link #changed} compares against this. */
    void rebuild(Object... roots) {
        Builder b = new Builder();
        IdentityHashMap<Object, Boolean> seen = new IdentityHashMap<>();
        ArrayDeque<Object> todo = new ArrayDeque<>();
        for (Object r : roots) {
            if (r != null) {
                todo.push(r);
            }
        }
        opaque = false;
        opaqueReason = null;
        while (!todo.isEmpty()) {
            Object o = todo.pop();
            if (seen.put(o, Boolean.TRUE) != null) {
                continue;
            }
            Class<?> type = o.getClass();
            if (IMMUTABLE.contains(type) || o instanceof Enum || o instanceof ClassLoader
                    || o instanceof Thread || o instanceof Module) {
                continue;  // immutable, or not card state (and the store would refuse it anyway)
            }
            if (type.isArray()) {
                if (memory.eventOf(o) != JCSystem.NOT_A_TRANSIENT_OBJECT) {
                    continue;  // content is RAM, not card state; identity is checked by its holder
                }
                b.array(o);
                if (!type.getComponentType().isPrimitive()) {
                    for (Object e : (Object[]) o) {
                        if (e != null) {
                            todo.push(e);
                        }
                    }
                }
                continue;
            }
            Plan plan = PLANS.computeIfAbsent(type, Plan::of);
            if (plan.immutable) {
                continue;
            }
            if (plan.opaque != null) {
                opaque = true;
                opaqueReason = plan.opaque;
                continue;
            }
            for (int i = 0; i < plan.offsets.length; i++) {
                long off = plan.offsets[i];
                switch (plan.kinds[i]) {
                    case 'L': {
                        Object v = U.getObject(o, off);
                        b.ref(o, off, v);
                        if (v != null) {
                            todo.push(v);
                        }
                        break;
                    }
                    case 'B': b.b(o, off, U.getByte(o, off)); break;
                    case 'S': b.s(o, off, U.getShort(o, off)); break;
                    case 'I': b.i(o, off, U.getInt(o, off)); break;
                    default: b.l(o, off, U.getLong(o, off)); break;
                }
            }
        }
        b.install(this);
    }

    /** Whether any persistent field or array differs from the last {@link #rebuild}. */
    boolean changed() {
        if (opaque) {
            return true;
        }
        final Object[] ro = refOwner;
        final long[] rf = refOffset;
        final Object[] rv = refValue;
        for (int i = 0; i < ro.length; i++) {
            if (U.getObject(ro[i], rf[i]) != rv[i]) {
                return true;
            }
        }
        for (int i = 0; i < byteOwner.length; i++) {
            if (U.getByte(byteOwner[i], byteOffset[i]) != byteValue[i]) {
                return true;
            }
        }
        for (int i = 0; i < shortOwner.length; i++) {
            if (U.getShort(shortOwner[i], shortOffset[i]) != shortValue[i]) {
                return true;
            }
        }
        for (int i = 0; i < intOwner.length; i++) {
            if (U.getInt(intOwner[i], intOffset[i]) != intValue[i]) {
                return true;
            }
        }
        for (int i = 0; i < longOwner.length; i++) {
            if (U.getLong(longOwner[i], longOffset[i]) != longValue[i]) {
                return true;
            }
        }
        for (int i = 0; i < byteArrays.length; i++) {
            if (!Arrays.equals(byteArrays[i], byteCopies[i])) {
                return true;
            }
        }
        for (int i = 0; i < otherArrays.length; i++) {
            if (!sameContent(otherArrays[i], otherCopies[i])) {
                return true;
            }
        }
        return false;
    }

    /** Slots watched, for statistics: fields, arrays, array bytes. */
    long[] size() {
        long arrayBytes = 0;
        for (byte[] a : byteArrays) {
            arrayBytes += a.length;
        }
        return new long[] {refOwner.length + byteOwner.length + shortOwner.length + intOwner.length
                + longOwner.length, byteArrays.length + otherArrays.length, arrayBytes};
    }

    String opaqueReason() {
        return opaqueReason;
    }

    private static boolean sameContent(Object a, Object copy) {
        if (a instanceof short[]) {
            return Arrays.equals((short[]) a, (short[]) copy);
        } else if (a instanceof boolean[]) {
            return Arrays.equals((boolean[]) a, (boolean[]) copy);
        } else if (a instanceof int[]) {
            return Arrays.equals((int[]) a, (int[]) copy);
        } else if (a instanceof long[]) {
            return Arrays.equals((long[]) a, (long[]) copy);
        } else if (a instanceof char[]) {
            return Arrays.equals((char[]) a, (char[]) copy);
        } else if (a instanceof float[]) {
            return Arrays.equals((float[]) a, (float[]) copy);
        } else if (a instanceof double[]) {
            return Arrays.equals((double[]) a, (double[]) copy);
        }
        Object[] x = (Object[]) a;
        Object[] y = (Object[]) copy;
        for (int i = 0; i < x.length; i++) {
            if (x[i] != y[i]) {  // identity: the referenced objects are watched themselves
                return false;
            }
        }
        return true;
    }

    private static Object cloneArray(Object a) {
        if (a instanceof Object[]) {
            return ((Object[]) a).clone();
        }
        int n = java.lang.reflect.Array.getLength(a);
        Object copy = java.lang.reflect.Array.newInstance(a.getClass().getComponentType(), n);
        System.arraycopy(a, 0, copy, 0, n);
        return copy;
    }

    /** Per class: offsets and kinds of every instance field, superclasses included. */
    private static final class Plan {
        final long[] offsets;
        final char[] kinds;
        final String opaque;
        final boolean immutable;

        private Plan(long[] offsets, char[] kinds, String opaque, boolean immutable) {
            this.offsets = offsets;
            this.kinds = kinds;
            this.opaque = opaque;
            this.immutable = immutable;
        }

        static Plan of(Class<?> type) {
            if (type.getName().startsWith(IMMUTABLE_PACKAGE) || WRITTEN_FRESH.contains(type.getName())) {
                return new Plan(null, null, null, true);
            }
            List<Field> fields = ClassLayout.instanceFields(type);
            long[] offsets = new long[fields.size()];
            char[] kinds = new char[fields.size()];
            try {
                for (int i = 0; i < offsets.length; i++) {
                    Field f = fields.get(i);
                    offsets[i] = U.objectFieldOffset(f);
                    Class<?> t = f.getType();
                    kinds[i] = !t.isPrimitive() ? 'L'
                            : (t == byte.class || t == boolean.class) ? 'B'
                            : (t == short.class || t == char.class) ? 'S'
                            : (t == int.class || t == float.class) ? 'I' : 'J';
                }
            } catch (UnsupportedOperationException e) {  // hidden classes and records
                return new Plan(null, null, type.getName() + ": " + e.getMessage(), false);
            }
            return new Plan(offsets, kinds, null, false);
        }
    }

    private static final class Builder {
        final List<Object> ro = new ArrayList<>();
        final List<Long> rf = new ArrayList<>();
        final List<Object> rv = new ArrayList<>();
        final List<Object> bo = new ArrayList<>();
        final List<Long> bf = new ArrayList<>();
        final List<Byte> bv = new ArrayList<>();
        final List<Object> so = new ArrayList<>();
        final List<Long> sf = new ArrayList<>();
        final List<Short> sv = new ArrayList<>();
        final List<Object> io = new ArrayList<>();
        final List<Long> iff = new ArrayList<>();
        final List<Integer> iv = new ArrayList<>();
        final List<Object> lo = new ArrayList<>();
        final List<Long> lf = new ArrayList<>();
        final List<Long> lv = new ArrayList<>();
        final List<byte[]> ba = new ArrayList<>();
        final List<Object> oa = new ArrayList<>();

        void ref(Object o, long off, Object v) { ro.add(o); rf.add(off); rv.add(v); }
        void b(Object o, long off, byte v) { bo.add(o); bf.add(off); bv.add(v); }
        void s(Object o, long off, short v) { so.add(o); sf.add(off); sv.add(v); }
        void i(Object o, long off, int v) { io.add(o); iff.add(off); iv.add(v); }
        void l(Object o, long off, long v) { lo.add(o); lf.add(off); lv.add(v); }

        void array(Object a) {
            if (a instanceof byte[]) {
                ba.add((byte[]) a);
            } else {
                oa.add(a);
            }
        }

        void install(StateWatch w) {
            w.refOwner = ro.toArray();
            w.refOffset = longs(rf);
            w.refValue = rv.toArray();
            w.byteOwner = bo.toArray();
            w.byteOffset = longs(bf);
            w.byteValue = new byte[bv.size()];
            for (int k = 0; k < bv.size(); k++) {
                w.byteValue[k] = bv.get(k);
            }
            w.shortOwner = so.toArray();
            w.shortOffset = longs(sf);
            w.shortValue = new short[sv.size()];
            for (int k = 0; k < sv.size(); k++) {
                w.shortValue[k] = sv.get(k);
            }
            w.intOwner = io.toArray();
            w.intOffset = longs(iff);
            w.intValue = new int[iv.size()];
            for (int k = 0; k < iv.size(); k++) {
                w.intValue[k] = iv.get(k);
            }
            w.longOwner = lo.toArray();
            w.longOffset = longs(lf);
            w.longValue = longs(lv);
            w.byteArrays = ba.toArray(new byte[0][]);
            w.byteCopies = new byte[ba.size()][];
            for (int k = 0; k < ba.size(); k++) {
                w.byteCopies[k] = ba.get(k).clone();
            }
            w.otherArrays = oa.toArray();
            w.otherCopies = new Object[oa.size()];
            for (int k = 0; k < oa.size(); k++) {
                w.otherCopies[k] = cloneArray(oa.get(k));
            }
        }

        private static long[] longs(List<Long> list) {
            long[] out = new long[list.size()];
            for (int k = 0; k < out.length; k++) {
                out[k] = list.get(k);
            }
            return out;
        }
    }
}
