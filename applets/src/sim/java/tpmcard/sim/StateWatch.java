package tpmcard.sim;

import java.io.File;
import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.CodeSource;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Enumeration;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.stream.Stream;
import javacard.framework.JCSystem;

/**
 * Cheap change detection for the card's persistent state.
 *
 * <p>{@link #rebuild} walks the object graph reachable from each applet instance once and
 * flattens it into one <em>segment</em> per applet: every mutable instance field (primitive value,
 * or reference identity) and a copy of every persistent array. {@link #changedInCommand} then
 * re-reads the segments of the applets the command could have touched through Unsafe and compares,
 * with no allocation, hashing or graph walk. If nothing compared changed, the reachable graph is
 * the same graph with the same values, so its serialisation is unchanged and the store need not
 * be rewritten. It sees a superset of what the store holds (Java-transient fields, JDK internals
 * of collections), so it may report a change the store does not care about, never the reverse.
 * Transient arrays are compared by identity only: their content is not card state.
 *
 * <p>What is left out, and why that cannot hide a change (docs/simulator.md, "The change watch"):
 * <ul>
 *   <li><b>Applets a command cannot have reached.</b> Card code runs only when jCardSim's runtime
 *       calls an applet: select/process/deselect of the selected applet and the one a SELECT picks,
 *       and getShareableInterfaceObject when card code looks up another applet's Shareable
 *       interface (JCSystem.getAppletShareableInterfaceObject). {@link SimRuntime} reports each of
 *       these applets ({@link #touch}) and every Shareable object handed out
 *       ({@link #touchShared}); only their segments are compared. A segment holds everything its
 *       applet's instance reaches, so references held into another applet's objects (a cached
 *       Shareable, say) are inside the holder's segment too. The remaining path between applets,
 *       static fields, is checked at every rebuild ({@link #checkStatics}): if card code has a
 *       static field that could lead to an applet's objects, every command compares every
 *       segment.</li>
 *   <li><b>Final fields.</b> Java assigns a final instance field once, in the constructor; only
 *       reflection, Unsafe or JNI can write it later. Card code has no reflection (Java Card has
 *       none), jCardSim and BouncyCastle do not write final fields of live objects, and the card
 *       store's decoder writes them only into objects it is building, after which the watch is
 *       rebuilt. Final references are still followed: the object they lead to is compared.</li>
 *   <li><b>Immutable values and RAM-only engines</b> (IMMUTABLE, IMMUTABLE_PACKAGE, WRITTEN_FRESH
 *       below): compared by identity only, never entered.</li>
 * </ul>
 *
 * <p>Primitive fields and primitive arrays are compared as aligned 64-bit words (a field's word
 * may include other fields, the object header's class word and padding: none of these change
 * under a stable object, so a differing word means a differing field). Words that share bytes
 * with a reference field are not compared raw (a compressed reference's bits change when the
 * collector moves its target); their primitive fields are compared one by one.
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
    /** Packages that are not card code: the platform, jCardSim (with its shaded libraries), the Java Card API. */
    private static final String[] PLATFORM = {"java.", "javax.", "jdk.", "sun.", "com.sun.",
            "com.licel.", "javacard.", "javacardx.", "org.globalplatform."};
    private static final long REF_SIZE = U.arrayIndexScale(Object[].class);
    /** Up to this many bytes a primitive array is compared word by word; above, with Arrays.equals. */
    private static final long SMALL_ARRAY_BYTES = 16;
    private static final ConcurrentHashMap<Class<?>, Plan> PLANS = new ConcurrentHashMap<>();
    private static final ConcurrentHashMap<Class<?>, Field[]> STATIC_REFS = new ConcurrentHashMap<>();
    private static final ConcurrentHashMap<String, List<String>> CLASSES_AT = new ConcurrentHashMap<>();

    private final SimTransientMemory memory;

    private Object[] roots = new Object[0];
    private Segment[] segments = new Segment[0];
    /** Every object some segment holds, with the bit set of the segments (applets) that reach it. */
    private IdentityHashMap<Object, Long> reachedBy = new IdentityHashMap<>();
    /** Something in the graph cannot be inspected field by field: assume it always changes. */
    private boolean opaque;
    private String opaqueReason;
    /** Why every command must compare every segment (null: per-applet scoping is sound). */
    private String unscopedReason;

    // The current command: which segments it may have changed.
    private long touched;
    private boolean touchedAll;
    private Object lastApplet;
    private long lastBit;

    StateWatch(SimTransientMemory memory) {
        this.memory = memory;
    }

    /** Flatten the graph reachable from each of {@code roots} (the applet instances). */
    void rebuild(Object... roots) {
        this.roots = roots.clone();
        opaque = false;
        opaqueReason = null;
        unscopedReason = roots.length > 63 ? "more than 63 applets" : null;
        lastApplet = null;
        lastBit = 0;
        IdentityHashMap<Object, Long> reached = new IdentityHashMap<>();
        Set<Class<?>> cardClasses = new LinkedHashSet<>();
        Segment[] segs = new Segment[roots.length];
        for (int r = 0; r < roots.length; r++) {
            segs[r] = flatten(roots[r], r < 63 ? 1L << r : 0L, reached, cardClasses);
        }
        segments = segs;
        reachedBy = reached;
        if (unscopedReason == null) {
            unscopedReason = checkStatics(cardClasses, roots, reached);
        }
        beginCommand();
    }

    private Segment flatten(Object root, long bit, IdentityHashMap<Object, Long> reached,
                            Set<Class<?>> cardClasses) {
        Builder b = new Builder();
        IdentityHashMap<Object, Boolean> seen = new IdentityHashMap<>();
        ArrayDeque<Object> todo = new ArrayDeque<>();
        if (root != null) {
            todo.push(root);
        }
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
                reached.merge(o, bit, (x, y) -> x | y);
                if (type.getComponentType().isPrimitive()) {
                    b.primitiveArray(o);
                } else {
                    Object[] elements = (Object[]) o;
                    long base = U.arrayBaseOffset(type);
                    long scale = U.arrayIndexScale(type);
                    for (int i = 0; i < elements.length; i++) {
                        Object e = elements[i];
                        b.ref(o, base + i * scale, e);
                        if (e != null) {
                            todo.push(e);
                        }
                    }
                    b.arrays++;
                }
                continue;
            }
            Plan plan = PLANS.computeIfAbsent(type, Plan::of);
            if (plan.immutable) {
                continue;
            }
            reached.merge(o, bit, (x, y) -> x | y);
            if (!isPlatform(type.getName())) {
                cardClasses.add(type);
            }
            if (plan.opaque != null) {
                opaque = true;
                opaqueReason = plan.opaque;
                continue;
            }
            for (long off : plan.follow) {
                Object v = U.getObject(o, off);
                if (v != null) {
                    todo.push(v);
                }
            }
            for (long off : plan.refs) {
                b.ref(o, off, U.getObject(o, off));
            }
            for (long off : plan.words) {
                b.word(o, off);
            }
            for (int i = 0; i < plan.narrow.length; i++) {
                b.narrow(o, plan.narrow[i], plan.narrowSize[i]);
            }
            b.fields += plan.fieldCount;
        }
        return b.build();
    }

    // --- per command ---------------------------------------------------------------------------

    /** A command starts: it has touched nothing yet. */
    void beginCommand() {
        touched = 0;
        touchedAll = false;
    }

    /** The runtime runs (or hands out) this applet instance in the current command. */
    void touch(Object applet) {
        if (applet == null) {
            return;
        }
        if (applet == lastApplet) {
            touched |= lastBit;
            return;
        }
        for (int r = 0; r < roots.length; r++) {
            if (roots[r] == applet) {
                lastApplet = applet;
                lastBit = r < 63 ? 1L << r : 0L;
                touched |= lastBit;
                return;
            }
        }
        touchedAll = true;  // an instance the watch does not know: compare everything
    }

    /** Card code got this Shareable object: its methods reach whatever the object reaches. */
    void touchShared(Object shareable) {
        if (shareable == null) {
            return;
        }
        Long bits = reachedBy.get(shareable);
        if (bits == null) {
            touchedAll = true;  // not part of any applet's graph: make no assumption
        } else {
            touched |= bits;
        }
    }

    /** Whether a persistent field or array the current command could have reached has changed. */
    boolean changedInCommand() {
        if (opaque) {
            return true;
        }
        if (touchedAll || unscopedReason != null) {
            return changedAnywhere();
        }
        final Segment[] segs = segments;
        for (long t = touched; t != 0; t &= t - 1) {
            if (segs[Long.numberOfTrailingZeros(t)].changed()) {
                return true;
            }
        }
        return false;
    }

    /** Whether any persistent field or array differs from the last {@link #rebuild}. */
    boolean changed() {
        return opaque || changedAnywhere();
    }

    private boolean changedAnywhere() {
        for (Segment s : segments) {
            if (s.changed()) {
                return true;
            }
        }
        return false;
    }

    /** Watched slots, for statistics: fields, arrays, array bytes (all applets). */
    long[] size() {
        long fields = 0;
        long arrays = 0;
        long bytes = 0;
        for (Segment s : segments) {
            fields += s.fields;
            arrays += s.arrays_;
            bytes += s.arrayBytes;
        }
        return new long[] {fields, arrays, bytes};
    }

    String opaqueReason() {
        return opaqueReason;
    }

    /** Why every command compares every applet's segment, or null when commands are scoped. */
    String unscopedReason() {
        return unscopedReason;
    }

    // --- static fields -------------------------------------------------------------------------

    /**
     * Whether card code keeps a static path into the applets' objects. Scoping by applet assumes
     * that code running for applet A reaches applet B's objects only through A's own graph or a
     * Shareable lookup; a static field would be a third way. Every card class is checked: those of
     * the objects in the graph and every class in the jars (or directories) the applet classes
     * come from. A non-final static reference field could point anywhere at any time; a final one
     * is fine when what it holds is inert (primitive arrays, immutable values, objects with only
     * final fields leading to such) and outside every applet's graph.
     */
    private static String checkStatics(Set<Class<?>> walked, Object[] roots, IdentityHashMap<Object, Long> reached) {
        Set<Class<?>> classes = new LinkedHashSet<>(walked);
        Set<String> locations = new HashSet<>();
        for (Object root : roots) {
            if (root == null) {
                continue;
            }
            Class<?> type = root.getClass();
            CodeSource cs = type.getProtectionDomain().getCodeSource();
            URL url = cs == null ? null : cs.getLocation();
            if (url == null) {
                return "no code source for " + type.getName();
            }
            if (!locations.add(url.toString())) {
                continue;
            }
            List<String> names = CLASSES_AT.computeIfAbsent(url.toString(), k -> listClasses(url));
            if (names == null) {
                CLASSES_AT.remove(url.toString());
                return "cannot list the classes at " + url;
            }
            for (String name : names) {
                if (isPlatform(name) || name.startsWith(StateWatch.class.getPackageName() + ".")) {
                    continue;
                }
                try {
                    classes.add(Class.forName(name, false, type.getClassLoader()));
                } catch (ClassNotFoundException | LinkageError e) {
                    return "cannot load card class " + name + " to check its static fields";
                }
            }
        }
        for (Class<?> c : classes) {
            for (Class<?> k = c; k != null && !isPlatform(k.getName()); k = k.getSuperclass()) {
                for (Field f : STATIC_REFS.computeIfAbsent(k, StateWatch::staticRefs)) {
                    String name = k.getName() + "." + f.getName();
                    if (!Modifier.isFinal(f.getModifiers())) {
                        return "card code has a non-final static reference field " + name;
                    }
                    // Unsafe, not Field.get: no class initialisation; an uninitialised class holds null.
                    Object v = U.getObject(U.staticFieldBase(f), U.staticFieldOffset(f));
                    if (v != null && !inert(v, reached)) {
                        return "the static field " + name + " can lead to an applet's objects";
                    }
                }
            }
        }
        return null;
    }

    private static Field[] staticRefs(Class<?> type) {
        List<Field> out = new ArrayList<>();
        for (Field f : type.getDeclaredFields()) {
            if (Modifier.isStatic(f.getModifiers()) && !f.getType().isPrimitive()) {
                out.add(f);
            }
        }
        return out.toArray(new Field[0]);
    }

    /** Nothing reachable from {@code v} is an applet's object or could ever be made to point to one. */
    private static boolean inert(Object v, IdentityHashMap<Object, Long> reached) {
        IdentityHashMap<Object, Boolean> seen = new IdentityHashMap<>();
        ArrayDeque<Object> todo = new ArrayDeque<>();
        todo.push(v);
        while (!todo.isEmpty()) {
            Object o = todo.pop();
            if (seen.put(o, Boolean.TRUE) != null) {
                continue;
            }
            if (reached.containsKey(o)) {
                return false;
            }
            Class<?> type = o.getClass();
            if (IMMUTABLE.contains(type) || o instanceof Enum) {
                continue;
            }
            if (type.isArray()) {
                if (!type.getComponentType().isPrimitive() && ((Object[]) o).length > 0) {
                    return false;
                }
                continue;
            }
            Plan plan = PLANS.computeIfAbsent(type, Plan::of);
            if (plan.immutable) {
                continue;
            }
            if (plan.opaque != null || plan.refs.length > 0) {
                return false;  // a non-final reference field could later point anywhere
            }
            for (long off : plan.follow) {
                Object x = U.getObject(o, off);
                if (x != null) {
                    todo.push(x);
                }
            }
        }
        return true;
    }

    private static List<String> listClasses(URL url) {
        List<String> out = new ArrayList<>();
        try {
            Path path = Paths.get(url.toURI());
            if (Files.isDirectory(path)) {
                try (Stream<Path> files = Files.walk(path)) {
                    files.filter(p -> p.toString().endsWith(".class")).forEach(p -> out.add(className(
                            path.relativize(p).toString().replace(File.separatorChar, '/'))));
                }
            } else {
                try (JarFile jar = new JarFile(path.toFile())) {
                    for (Enumeration<JarEntry> e = jar.entries(); e.hasMoreElements(); ) {
                        String n = e.nextElement().getName();
                        if (n.endsWith(".class") && !n.startsWith("META-INF/")) {
                            out.add(className(n));
                        }
                    }
                }
            }
        } catch (IOException | URISyntaxException | IllegalArgumentException e) {
            return null;
        }
        return out;
    }

    private static String className(String entry) {
        return entry.substring(0, entry.length() - ".class".length()).replace('/', '.');
    }

    private static boolean isPlatform(String name) {
        for (String p : PLATFORM) {
            if (name.startsWith(p)) {
                return true;
            }
        }
        return false;
    }

    // --- flat comparison -----------------------------------------------------------------------

    /** One applet's flattened graph. */
    private static final class Segment {
        Object[] refOwner;
        long[] refOffset;
        Object[] refValue;
        Object[] wordOwner;
        long[] wordOffset;
        long[] wordValue;
        Object[] narrowOwner;
        long[] narrowOffset;
        byte[] narrowSize;
        int[] narrowValue;
        Object[] large;
        Object[] largeCopy;
        Object[] arrays;
        long[] arrayStart;
        int[] arrayWords;
        long[] arrayValue;
        long fields;
        long arrays_;
        long arrayBytes;

        boolean changed() {
            final Object[] ro = refOwner;
            final long[] rf = refOffset;
            final Object[] rv = refValue;
            for (int i = 0; i < ro.length; i++) {
                if (U.getObject(ro[i], rf[i]) != rv[i]) {
                    return true;
                }
            }
            final Object[] wo = wordOwner;
            final long[] wf = wordOffset;
            final long[] wv = wordValue;
            for (int i = 0; i < wo.length; i++) {
                if (U.getLong(wo[i], wf[i]) != wv[i]) {
                    return true;
                }
            }
            final Object[] ao = arrays;
            final long[] as = arrayStart;
            final int[] an = arrayWords;
            final long[] av = arrayValue;
            int k = 0;
            for (int i = 0; i < ao.length; i++) {
                final Object a = ao[i];
                long off = as[i];
                for (int n = an[i]; n > 0; n--, off += 8, k++) {
                    if (U.getLong(a, off) != av[k]) {
                        return true;
                    }
                }
            }
            final Object[] no = narrowOwner;
            for (int i = 0; i < no.length; i++) {
                if (readNarrow(no[i], narrowOffset[i], narrowSize[i]) != narrowValue[i]) {
                    return true;
                }
            }
            final Object[] lo = large;
            final Object[] lc = largeCopy;
            for (int i = 0; i < lo.length; i++) {
                if (!sameContent(lo[i], lc[i])) {
                    return true;
                }
            }
            return false;
        }
    }

    /** Larger primitive arrays: Arrays.equals (vectorised), against a copy. */
    private static boolean sameContent(Object a, Object copy) {
        if (a instanceof byte[]) {
            return Arrays.equals((byte[]) a, (byte[]) copy);
        } else if (a instanceof int[]) {
            return Arrays.equals((int[]) a, (int[]) copy);
        } else if (a instanceof short[]) {
            return Arrays.equals((short[]) a, (short[]) copy);
        } else if (a instanceof long[]) {
            return Arrays.equals((long[]) a, (long[]) copy);
        } else if (a instanceof boolean[]) {
            return Arrays.equals((boolean[]) a, (boolean[]) copy);
        } else if (a instanceof char[]) {
            return Arrays.equals((char[]) a, (char[]) copy);
        } else if (a instanceof float[]) {
            return Arrays.equals((float[]) a, (float[]) copy);  // bitwise but NaN-equal: floats are not card state
        }
        return Arrays.equals((double[]) a, (double[]) copy);
    }

    private static int readNarrow(Object o, long off, byte size) {
        switch (size) {
            case 1: return U.getByte(o, off);
            case 2: return U.getShort(o, off);
            default: return U.getInt(o, off);
        }
    }

    /**
     * Per class: the reference fields to follow (all), the reference fields to compare (non-final),
     * the aligned words holding non-final primitive fields and no reference, and the non-final
     * primitive fields that share a word with a reference.
     */
    private static final class Plan {
        final long[] follow;
        final long[] refs;
        final long[] words;
        final long[] narrow;
        final byte[] narrowSize;
        final int fieldCount;
        final String opaque;
        final boolean immutable;

        private Plan(long[] follow, long[] refs, long[] words, long[] narrow, byte[] narrowSize,
                     int fieldCount, String opaque, boolean immutable) {
            this.follow = follow;
            this.refs = refs;
            this.words = words;
            this.narrow = narrow;
            this.narrowSize = narrowSize;
            this.fieldCount = fieldCount;
            this.opaque = opaque;
            this.immutable = immutable;
        }

        static Plan of(Class<?> type) {
            long[] none = new long[0];
            if (type.getName().startsWith(IMMUTABLE_PACKAGE) || WRITTEN_FRESH.contains(type.getName())) {
                return new Plan(none, none, none, none, new byte[0], 0, null, true);
            }
            List<Field> fields = ClassLayout.instanceFields(type);
            List<Long> follow = new ArrayList<>();
            List<Long> refs = new ArrayList<>();
            List<long[]> prims = new ArrayList<>();  // {offset, size} of non-final primitives
            int count = 0;
            try {
                for (Field f : fields) {
                    long off = U.objectFieldOffset(f);
                    boolean mutable = !Modifier.isFinal(f.getModifiers());
                    Class<?> t = f.getType();
                    if (!t.isPrimitive()) {
                        follow.add(off);
                        if (mutable) {
                            refs.add(off);
                        }
                    } else if (mutable) {
                        long size = (t == long.class || t == double.class) ? 8
                                : (t == int.class || t == float.class) ? 4
                                : (t == short.class || t == char.class) ? 2 : 1;
                        prims.add(new long[] {off, size});
                    }
                    if (mutable) {
                        count++;
                    }
                }
            } catch (UnsupportedOperationException e) {  // hidden classes and records
                return new Plan(none, none, none, none, new byte[0], 0, type.getName() + ": " + e.getMessage(), false);
            }
            TreeSet<Long> words = new TreeSet<>();
            List<long[]> narrow = new ArrayList<>();
            for (long[] p : prims) {
                long w = p[0] & ~7L;
                boolean mixed = w < 8;  // never read the mark word
                for (long r : follow) {
                    if (r < w + 8 && r + REF_SIZE > w) {
                        mixed = true;
                    }
                }
                if (mixed) {
                    narrow.add(p);
                } else {
                    words.add(w);
                }
            }
            long[] narrowOff = new long[narrow.size()];
            byte[] narrowSize = new byte[narrow.size()];
            for (int i = 0; i < narrowOff.length; i++) {
                narrowOff[i] = narrow.get(i)[0];
                narrowSize[i] = (byte) narrow.get(i)[1];
                if (narrowSize[i] == 8) {  // a long shares no word with a reference; never happens
                    throw new IllegalStateException("unexpected layout of " + type.getName());
                }
            }
            return new Plan(longs(follow), longs(refs), longs(new ArrayList<>(words)), narrowOff, narrowSize,
                    count, null, false);
        }
    }

    private static final class Builder {
        final List<Object> ro = new ArrayList<>();
        final List<Long> rf = new ArrayList<>();
        final List<Object> rv = new ArrayList<>();
        final List<Object> wo = new ArrayList<>();
        final List<Long> wf = new ArrayList<>();
        final List<Long> wv = new ArrayList<>();
        final List<Object> no = new ArrayList<>();
        final List<Long> nf = new ArrayList<>();
        final List<Byte> ns = new ArrayList<>();
        final List<Integer> nv = new ArrayList<>();
        final List<Object> large = new ArrayList<>();
        final List<Object> ao = new ArrayList<>();
        final List<Long> as = new ArrayList<>();
        final List<Integer> an = new ArrayList<>();
        final List<Long> av = new ArrayList<>();
        long fields;
        long arrays;
        long arrayBytes;

        void ref(Object o, long off, Object v) {
            ro.add(o);
            rf.add(off);
            rv.add(v);
        }

        void word(Object o, long off) {
            wo.add(o);
            wf.add(off);
            wv.add(U.getLong(o, off));
        }

        void narrow(Object o, long off, byte size) {
            no.add(o);
            nf.add(off);
            ns.add(size);
            nv.add(readNarrow(o, off, size));
        }

        /**
         * A primitive array as the aligned words covering its elements. Objects are 8-byte
         * aligned and their size is a multiple of 8, so these words lie inside the array object;
         * besides the elements they hold only the length and padding, which never change.
         */
        void primitiveArray(Object a) {
            Class<?> type = a.getClass();
            long base = U.arrayBaseOffset(type);
            long bytes = (long) java.lang.reflect.Array.getLength(a) * U.arrayIndexScale(type);
            arrays++;
            if (a instanceof byte[]) {
                arrayBytes += bytes;
            }
            if (bytes == 0) {
                return;
            }
            if (bytes > SMALL_ARRAY_BYTES) {
                large.add(a);
                return;
            }
            long start = base & ~7L;
            long end = (base + bytes + 7) & ~7L;
            ao.add(a);
            as.add(start);
            an.add((int) ((end - start) / 8));
            for (long off = start; off < end; off += 8) {
                av.add(U.getLong(a, off));
            }
        }

        Segment build() {
            Segment s = new Segment();
            s.refOwner = ro.toArray();
            s.refOffset = longs(rf);
            s.refValue = rv.toArray();
            s.wordOwner = wo.toArray();
            s.wordOffset = longs(wf);
            s.wordValue = longs(wv);
            s.narrowOwner = no.toArray();
            s.narrowOffset = longs(nf);
            s.narrowSize = new byte[ns.size()];
            s.narrowValue = new int[nv.size()];
            for (int k = 0; k < ns.size(); k++) {
                s.narrowSize[k] = ns.get(k);
                s.narrowValue[k] = nv.get(k);
            }
            s.large = large.toArray();
            s.largeCopy = new Object[large.size()];
            for (int k = 0; k < large.size(); k++) {
                Object a = large.get(k);
                int n = java.lang.reflect.Array.getLength(a);
                Object copy = java.lang.reflect.Array.newInstance(a.getClass().getComponentType(), n);
                System.arraycopy(a, 0, copy, 0, n);
                s.largeCopy[k] = copy;
            }
            s.arrays = ao.toArray();
            s.arrayStart = longs(as);
            s.arrayWords = new int[an.size()];
            for (int k = 0; k < an.size(); k++) {
                s.arrayWords[k] = an.get(k);
            }
            s.arrayValue = longs(av);
            s.fields = fields;
            s.arrays_ = arrays;
            s.arrayBytes = arrayBytes;
            return s;
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
