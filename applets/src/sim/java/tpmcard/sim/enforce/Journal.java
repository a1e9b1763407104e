package tpmcard.sim.enforce;

import com.licel.jcardsim.base.SimulatorRuntime;
import com.licel.jcardsim.base.SimulatorSystem;
import java.lang.ref.WeakReference;
import java.lang.reflect.Array;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.WeakHashMap;
import javacard.framework.APDU;
import javacard.framework.JCSystem;
import javacard.framework.OwnerPIN;
import javacard.framework.TransactionException;
import javacard.framework.Util;
import javacard.security.Key;
import javacard.security.KeyBuilder;
import javacard.security.KeyPair;

/**
 * The transaction journal and power-loss model of one simulated card (one jCardSim runtime).
 *
 * <p>jCardSim 3.0.6.0's {@code abortTransaction} only resets the depth: nothing is rolled back, and
 * a command cannot lose power half-way. {@link PersistentWriteRewriter} routes every persistent
 * write of card code through the static hooks of this class (putfield, array stores, the
 * {@code Util} copy/fill/setShort calls, the set/clear/generate calls on key objects) and its
 * {@code JCSystem} transaction calls to {@link #beginTransaction} & co. Then, as on a card
 * (JCRE spec 3.0.5 §7):
 *
 * <ul>
 * <li>inside a transaction the old value of every write to persistent memory (fields of card
 * objects, elements of non-transient arrays, the contents of persistent key objects) is journaled;
 * {@code abortTransaction}, an uncaught exception that ends the command with a transaction open,
 * and a power loss restore them. Transient arrays and the APDU buffer are never journaled.</li>
 * <li>{@code arrayCopyNonAtomic}/{@code arrayFillNonAtomic} into a persistent array are not
 * journaled. Their bytes are undefined after an abort on a card; here the bytes they wrote are
 * overwritten with {@link #POISON} when the transaction is rolled back, so code that relies on
 * them fails a test. Only the written range is poisoned: the rest of the array is well defined on
 * a card too.</li>
 * <li>the commit buffer holds {@link #COMMIT_CAPACITY} bytes (NXP J3R180, JCAlgTest
 * {@code getMaxCommitCapacity}); each journaled write charges the size of the data it saves (no
 * per-record overhead, so a card may run out a little earlier). A write that does not fit throws
 * {@code TransactionException.BUFFER_FULL} and does not happen.</li>
 * <li>{@link #cutPowerAt}: the power fails at the Nth persistent write of what follows. That
 * write does not happen (a non-atomic copy or fill writes its first half), the open transaction
 * is rolled back, and {@link PowerLoss} unwinds the command.</li>
 * </ul>
 *
 * <p>Fast path: while no journal has a transaction open or a cut armed ({@code hot == 0}) every
 * hook is one static read and the write itself.
 */
public final class Journal {
    /** NXP JCOP4 J3R180's commit buffer (JCAlgTest: getMaxCommitCapacity 5,120 bytes). */
    public static final short COMMIT_CAPACITY = 5120;
    /** What a non-atomic write in an aborted transaction leaves behind (per byte). */
    public static final byte POISON = (byte) 0xA5;

    private static final Map<SimulatorRuntime, Journal> JOURNALS = Collections.synchronizedMap(new WeakHashMap<>());
    private static final Set<Byte> TRANSIENT_KEY_TYPES = transientKeyTypes();
    private static final Map<Class<?>, Map<String, Field>> FIELDS = Collections.synchronizedMap(new WeakHashMap<>());

    /** Number of journals that need the slow path (transaction open, cut armed, or power lost). */
    private static volatile int hot;

    private final WeakReference<SimulatorRuntime> runtime;
    private final byte[][] apduBuffers;
    private final Map<Object, Boolean> hostArrays = Collections.synchronizedMap(new WeakHashMap<>());
    private final List<Runnable> undo = new ArrayList<>();
    private final List<Object[]> nonAtomic = new ArrayList<>();   // {array, offset, length}
    private boolean open;
    private int used;
    private boolean counting;
    private long cutAt;
    private long writes;
    private boolean dead;
    private boolean wasHot;
    private String cutWhere;
    private boolean recording;
    private int peak;
    private final List<String> trace = new ArrayList<>();
    private final List<Runnable> record = new ArrayList<>();

    private Journal(SimulatorRuntime runtime) {
        this.runtime = new WeakReference<>(runtime);
        this.apduBuffers = apduBuffersOf(runtime);
    }

    /** The journal of {@code runtime} (one per runtime, made on first use). */
    public static Journal of(SimulatorRuntime runtime) {
        synchronized (JOURNALS) {
            return JOURNALS.computeIfAbsent(runtime, Journal::new);
        }
    }

    private static Journal current() {
        return of(SimulatorSystem.instance());
    }

    // --- the simulator's API ---------------------------------------------------------------------

    /**
     * Arm a power cut at the {@code n}th persistent write from now (n >= 1), counting writes; with
     * {@code n == 0} only count (see {@link #writes}). The commit of a transaction counts as one
     * write: a cut there leaves the old state.
     */
    public synchronized void cutPowerAt(long n) {
        if (n < 0) {
            throw new IllegalArgumentException("write number must be >= 0");
        }
        counting = true;
        cutAt = n;
        writes = 0;
        trace.clear();
        cutWhere = null;
        updateHot();
    }

    /** Stop counting (and disarm an unfired cut). */
    public synchronized void disarm() {
        counting = false;
        cutAt = 0;
        updateHot();
    }

    /** Persistent writes counted since {@link #cutPowerAt}. */
    public synchronized long writes() {
        return writes;
    }

    /** Whether the armed cut fired (the card is off until {@link #powerUp}). */
    public synchronized boolean powerLost() {
        return dead;
    }

    /** What each counted write was (class.field, array type[index], Util call, key class). */
    public synchronized List<String> trace() {
        return new ArrayList<>(trace);
    }

    /** Which write the power was cut at (for messages), or null. */
    public synchronized String cutWhere() {
        return cutWhere;
    }

    /**
     * Power comes back: the transaction that was open is already rolled back (at the cut); the
     * caller clears transient memory and restarts the card. Also drops a transaction left open
     * by a runtime reset.
     */
    public synchronized void powerUp() {
        if (open) {
            rollback();
        }
        dead = false;
        counting = false;
        cutAt = 0;
        resetDepth();
        updateHot();
    }

    /**
     * The JCRE's end of a command (JCRE spec §7.6.2): a transaction still open is aborted. Returns
     * whether one was.
     */
    public synchronized boolean endOfCommand() {
        if (!open) {
            return false;
        }
        rollback();
        resetDepth();
        updateHot();
        return true;
    }

    /**
     * Mark {@code array} as memory outside the card's persistent store (a test harness's buffer
     * standing in for the APDU buffer): writes to it are neither journaled nor counted.
     */
    public void hostArray(Object array) {
        hostArrays.put(array, Boolean.TRUE);
    }

    /**
     * Tests: from now on save the old value of every persistent write, in or out of a
     * transaction (cleared by {@link #rewind}). With {@link #rewind} a test brings one card back
     * to the same state for each power cut it tries, instead of installing a new card.
     */
    public synchronized void startRecording() {
        recording = true;
        record.clear();
        updateHot();
    }

    /**
     * Tests: undo every persistent write since {@link #startRecording} (newest first), and keep
     * recording. Writes the card code makes through jCardSim's own code (a crypto engine's output
     * into a persistent array, OwnerPIN.check's try counter) are not undone; a test that compares
     * the state after a rewind finds them.
     */
    public synchronized void rewind() {
        for (int i = record.size() - 1; i >= 0; i--) {
            record.get(i).run();
        }
        record.clear();
    }

    /** Tests: stop recording. */
    public synchronized void stopRecording() {
        recording = false;
        record.clear();
        updateHot();
    }

    /** Whether a transaction is open (journal side). */
    public synchronized boolean isOpen() {
        return open;
    }

    /** The most bytes a transaction journaled since this journal was made or {@link #resetPeak}. */
    public synchronized int peakUsed() {
        return peak;
    }

    public synchronized void resetPeak() {
        peak = 0;
    }

    /** Bytes the open transaction has journaled. */
    public synchronized int used() {
        return used;
    }

    // --- JCSystem (card code's call sites are redirected here) -------------------------------

    public static void beginTransaction() {
        Journal j = current();
        synchronized (j) {
            j.checkAlive();
            SimulatorSystem.instance().beginTransaction();  // TransactionException.IN_PROGRESS when nested
            j.open = true;
            j.used = 0;
            j.undo.clear();
            j.nonAtomic.clear();
            j.updateHot();
        }
    }

    public static void commitTransaction() {
        Journal j = current();
        synchronized (j) {
            j.checkAlive();
            if (j.open) {
                j.countWrite("commitTransaction", null);  // a cut here leaves the old state
            }
            SimulatorSystem.instance().commitTransaction();  // NOT_IN_PROGRESS when none
            j.open = false;
            j.used = 0;
            j.undo.clear();
            j.nonAtomic.clear();
            j.updateHot();
        }
    }

    public static void abortTransaction() {
        Journal j = current();
        synchronized (j) {
            j.checkAlive();
            SimulatorSystem.instance().abortTransaction();  // NOT_IN_PROGRESS when none
            if (j.open) {
                j.rollback();
            }
            j.updateHot();
        }
    }

    public static short getMaxCommitCapacity() {
        return COMMIT_CAPACITY;
    }

    public static short getUnusedCommitCapacity() {
        Journal j = current();
        synchronized (j) {
            return (short) (COMMIT_CAPACITY - (j.open ? j.used : 0));
        }
    }

    // --- write hooks (called by rewritten card code) -------------------------------------------

    /** Before {@code putfield owner.name} on {@code obj}: every card object is persistent. */
    public static void putField(Object obj, Class<?> owner, String name) {
        if (hot == 0 || obj == null) {
            return;
        }
        Journal j = current();
        synchronized (j) {
            j.beforeField(obj, field(owner, name));
        }
    }

    public static void bastore(Object array, int index, int value) {
        if (hot != 0) {
            beforeElement(array, index);
        }
        if (array instanceof boolean[]) {
            ((boolean[]) array)[index] = (value & 1) != 0;
        } else {
            ((byte[]) array)[index] = (byte) value;
        }
    }

    public static void sastore(short[] array, int index, short value) {
        if (hot != 0) {
            beforeElement(array, index);
        }
        array[index] = value;
    }

    public static void castore(char[] array, int index, char value) {
        if (hot != 0) {
            beforeElement(array, index);
        }
        array[index] = value;
    }

    public static void iastore(int[] array, int index, int value) {
        if (hot != 0) {
            beforeElement(array, index);
        }
        array[index] = value;
    }

    public static void aastore(Object[] array, int index, Object value) {
        if (hot != 0) {
            beforeElement(array, index);
        }
        array[index] = value;
    }

    private static void beforeElement(Object array, int index) {
        if (array == null) {
            return;  // the store throws NullPointerException
        }
        Object old = Array.get(array, index);  // throws ArrayIndexOutOfBoundsException as the store would
        Journal j = current();
        synchronized (j) {
            j.beforeElement(array, index, old);
        }
    }

    /** Util.arrayCopy: atomic (JC API 3.0.5 Util): journaled in a transaction, all or nothing at a cut. */
    public static short arrayCopy(byte[] src, short srcOff, byte[] dest, short destOff, short length) {
        if (hot != 0) {
            checkRange(src, srcOff, length);
            checkRange(dest, destOff, length);
            Journal j = current();
            synchronized (j) {
                j.beforeRange(dest, destOff, length, true, "Util.arrayCopy", null);
            }
        }
        return Util.arrayCopy(src, srcOff, dest, destOff, length);
    }

    /** Util.arrayCopyNonAtomic: never journaled; a cut leaves its first half written. */
    public static short arrayCopyNonAtomic(byte[] src, short srcOff, byte[] dest, short destOff, short length) {
        if (hot != 0) {
            checkRange(src, srcOff, length);
            checkRange(dest, destOff, length);
            Journal j = current();
            synchronized (j) {
                j.beforeRange(dest, destOff, length, false, "Util.arrayCopyNonAtomic",
                        () -> System.arraycopy(src.clone(), srcOff, dest, destOff, length / 2));
            }
        }
        return Util.arrayCopyNonAtomic(src, srcOff, dest, destOff, length);
    }

    /** Util.arrayFillNonAtomic: never journaled; a cut leaves its first half written. */
    public static short arrayFillNonAtomic(byte[] dest, short destOff, short length, byte value) {
        if (hot != 0) {
            checkRange(dest, destOff, length);
            Journal j = current();
            synchronized (j) {
                j.beforeRange(dest, destOff, length, false, "Util.arrayFillNonAtomic",
                        () -> java.util.Arrays.fill(dest, destOff, destOff + length / 2, value));
            }
        }
        return Util.arrayFillNonAtomic(dest, destOff, length, value);
    }

    /** Util.setShort: atomic, like arrayCopy. */
    public static short setShort(byte[] dest, short destOff, short value) {
        if (hot != 0) {
            checkRange(dest, destOff, (short) 2);
            Journal j = current();
            synchronized (j) {
                j.beforeRange(dest, destOff, (short) 2, true, "Util.setShort", null);
            }
        }
        return Util.setShort(dest, destOff, value);
    }

    /**
     * Before a call that changes a key object's contents (set*, clearKey), a key pair's
     * (genKeyPair) or an OwnerPIN's value (update, resetAndUnblock): the contents of a persistent
     * key or PIN are part of persistent memory.
     */
    public static void beforeKeyWrite(Object target) {
        if (hot == 0 || target == null) {
            return;
        }
        Journal j = current();
        synchronized (j) {
            j.beforeKey(target);
        }
    }

    // --- the slow path -------------------------------------------------------------------------

    private void beforeField(Object obj, Field f) {
        checkAlive();
        Object old = get(f, obj);
        if (recording) {
            record.add(() -> set(f, obj, old));
        }
        countWrite(f.getDeclaringClass().getSimpleName() + "." + f.getName(), null);
        if (!open) {
            return;
        }
        charge(sizeOf(f.getType()));
        undo.add(() -> set(f, obj, old));
    }

    private void beforeElement(Object array, int index, Object old) {
        checkAlive();
        if (!isPersistentArray(array)) {
            return;
        }
        if (recording) {
            record.add(() -> Array.set(array, index, old));
        }
        countWrite(array.getClass().getSimpleName() + "[" + index + "]", null);
        if (!open) {
            return;
        }
        charge(sizeOf(array.getClass().getComponentType()));
        undo.add(() -> Array.set(array, index, old));
    }

    private void beforeRange(byte[] dest, short off, short length, boolean atomic, String what, Runnable half) {
        checkAlive();
        if (length == 0 || !isPersistentArray(dest)) {
            return;
        }
        byte[] old = java.util.Arrays.copyOfRange(dest, off, off + length);
        if (recording) {
            record.add(() -> System.arraycopy(old, 0, dest, off, old.length));
        }
        countWrite(what + "(" + length + " bytes)", half);
        if (!open) {
            return;
        }
        if (atomic) {
            charge(length);
            undo.add(() -> System.arraycopy(old, 0, dest, off, old.length));
        } else {
            nonAtomic.add(new Object[] {dest, (int) off, (int) length});
        }
    }

    private void beforeKey(Object target) {
        checkAlive();
        List<Object> keys = new ArrayList<>(2);
        if (target instanceof KeyPair) {
            addIfPersistent(keys, ((KeyPair) target).getPublic());
            addIfPersistent(keys, ((KeyPair) target).getPrivate());
        } else {
            addIfPersistent(keys, target);
        }
        if (keys.isEmpty()) {
            return;
        }
        List<Snapshot> saved = new ArrayList<>(keys.size());
        for (Object key : keys) {
            saved.add(Snapshot.of(key));
        }
        if (recording) {
            for (Snapshot s : saved) {
                record.add(s::restore);
            }
        }
        countWrite(target.getClass().getSimpleName(), null);
        if (!open) {
            return;
        }
        for (Snapshot s : saved) {
            charge(s.bytes());
            undo.add(s::restore);
        }
    }

    private static void addIfPersistent(List<Object> keys, Object key) {
        if (key instanceof OwnerPIN) {
            keys.add(key);
        } else if (key instanceof Key && !TRANSIENT_KEY_TYPES.contains(((Key) key).getType())) {
            keys.add(key);
        }
    }

    private void charge(int bytes) {
        if (used + bytes > COMMIT_CAPACITY) {
            TransactionException.throwIt(TransactionException.BUFFER_FULL);
        }
        used += bytes;
        peak = Math.max(peak, used);
    }

    private void countWrite(String what, Runnable half) {
        if (!counting) {
            return;
        }
        writes++;
        if (trace.size() < 100_000) {
            trace.add(what);
        }
        if (writes == cutAt) {
            if (half != null) {
                half.run();
            }
            cutWhere = "persistent write " + writes + " (" + what + ")";
            cut();
        }
    }

    /** The power fails now. */
    private void cut() {
        if (open) {
            rollback();
        }
        resetDepth();
        dead = true;
        counting = false;
        updateHot();
        throw new PowerLoss("power lost at " + cutWhere);
    }

    private void checkAlive() {
        if (dead) {
            throw new PowerLoss("the card has no power (cut at " + cutWhere + ")");
        }
    }

    private void rollback() {
        for (int i = undo.size() - 1; i >= 0; i--) {
            undo.get(i).run();
        }
        for (Object[] r : nonAtomic) {
            int off = (Integer) r[1];
            java.util.Arrays.fill((byte[]) r[0], off, off + (Integer) r[2], POISON);
        }
        undo.clear();
        nonAtomic.clear();
        used = 0;
        open = false;
    }

    private void resetDepth() {
        SimulatorRuntime rt = runtime.get();
        if (rt != null) {
            try {
                DEPTH.setByte(rt, (byte) 0);
            } catch (IllegalAccessException e) {
                throw new IllegalStateException(e);
            }
        }
    }

    private void updateHot() {
        boolean now = open || counting || dead || recording;
        if (now != wasHot) {
            synchronized (Journal.class) {
                hot += now ? 1 : -1;
            }
            wasHot = now;
        }
    }

    private boolean isPersistentArray(Object array) {
        for (byte[] b : apduBuffers) {
            if (array == b) {
                return false;
            }
        }
        if (hostArrays.containsKey(array)) {
            return false;
        }
        SimulatorRuntime rt = runtime.get();
        return rt == null || rt.getTransientMemory().isTransient(array) == JCSystem.NOT_A_TRANSIENT_OBJECT;
    }

    private static void checkRange(byte[] array, short off, short length) {
        if (array == null) {
            throw new NullPointerException();
        }
        if (off < 0 || length < 0 || off + length > array.length) {
            throw new ArrayIndexOutOfBoundsException();
        }
    }

    static int sizeOf(Class<?> type) {
        if (type == byte.class || type == boolean.class) {
            return 1;
        }
        if (type == int.class) {
            return 4;
        }
        return 2;  // short, char, and a reference (a 16-bit object handle on a card)
    }

    // --- reflection ----------------------------------------------------------------------------

    private static final Field DEPTH = accessible(SimulatorRuntime.class, "transactionDepth");

    private static Field accessible(Class<?> c, String name) {
        try {
            Field f = c.getDeclaredField(name);
            f.setAccessible(true);
            return f;
        } catch (NoSuchFieldException e) {
            throw new IllegalStateException("jCardSim changed: " + c.getName() + "." + name, e);
        }
    }

    private static Field field(Class<?> owner, String name) {
        Map<String, Field> byName = FIELDS.computeIfAbsent(owner, k -> Collections.synchronizedMap(new HashMap<>()));
        return byName.computeIfAbsent(name, n -> {
            for (Class<?> c = owner; c != null; c = c.getSuperclass()) {
                try {
                    Field f = c.getDeclaredField(n);
                    f.setAccessible(true);
                    return f;
                } catch (NoSuchFieldException e) {
                    // a superclass's field
                }
            }
            throw new IllegalStateException("no field " + owner.getName() + "." + n);
        });
    }

    static Object get(Field f, Object obj) {
        try {
            return f.get(obj);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
    }

    static void set(Field f, Object obj, Object value) {
        try {
            f.set(obj, value);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
    }

    private static byte[][] apduBuffersOf(SimulatorRuntime runtime) {
        List<byte[]> out = new ArrayList<>();
        for (String name : new String[] {"shortAPDU", "extendedAPDU"}) {
            Object apdu = get(accessible(SimulatorRuntime.class, name), runtime);
            if (apdu != null) {
                out.add(((APDU) apdu).getBuffer());
            }
        }
        return out.toArray(new byte[0][]);
    }

    private static Set<Byte> transientKeyTypes() {
        Set<Byte> out = new HashSet<>();
        for (Field f : KeyBuilder.class.getFields()) {
            if (Modifier.isStatic(f.getModifiers()) && f.getType() == byte.class && f.getName().startsWith("TYPE_")
                    && f.getName().contains("TRANSIENT")) {
                out.add((Byte) get(f, null));
            }
        }
        return out;
    }
}
