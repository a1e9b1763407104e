package tpmcard.sim.enforce;

import javacard.framework.JCSystem;

/**
 * The hooks rewritten card code calls ({@link FirewallRewriter}): the active context, the owner of
 * every array and crypto object, and the checks of the applet firewall (JC 3.0.5 Runtime
 * Environment Specification §6) and of the RAM budget.
 *
 * <p>Contexts are packages (the JCRE gives all applets of one package one context). The active
 * context is the selected applet's package during select/process/deselect, the installing
 * applet's during install, and the server's during a call on a Shareable object (a public method
 * of a class that implements an interface, or getShareableInterfaceObject), restored on return or
 * throw. Outside any of these (host code, static initialisers, tests calling library code
 * directly) nothing is owned and nothing is checked, as for the JCRE's own context.
 */
public final class Firewall {
    /** Entry kinds: the JCRE selects / runs / deselects the applet; installs it; a Shareable call. */
    public static final int SELECTED = 0;
    public static final int INSTALL = 1;
    public static final int SHARED = 2;

    static volatile boolean anyFirewall;

    private static final ThreadLocal<Exec> EXEC = ThreadLocal.withInitial(Exec::new);

    /** What runs on this thread: the card, the context stack, the selected applet's context. */
    static final class Exec {
        CardRules card;
        String[] stack = new String[16];
        int depth;
        String selected;
        boolean pendingExternal;
        Object lastChecked;

        String active() {
            return depth == 0 ? null : stack[depth - 1];
        }
    }

    private Firewall() {}

    static String contextOf(Class<?> type) {
        String name = type.getName();
        int dot = name.lastIndexOf('.');
        return (dot < 0 ? "" : name.substring(0, dot)).intern();
    }

    // ---- context switches -------------------------------------------------------------------

    public static void enter(Object self, int kind) {
        enterContext(contextOf(self.getClass()), kind);
    }

    public static void enterStatic(Class<?> type, int kind) {
        enterContext(contextOf(type), kind);
    }

    private static void enterContext(String context, int kind) {
        Exec e = EXEC.get();
        if (e.depth == 0) {
            e.card = CardRules.current();
            if (kind != SHARED) {
                e.selected = context;
            }
        }
        if (e.depth == e.stack.length) {
            e.stack = java.util.Arrays.copyOf(e.stack, e.depth * 2);
        }
        e.stack[e.depth++] = context;
        e.lastChecked = null;
    }

    public static void exit() {
        Exec e = EXEC.get();
        if (e.depth > 0) {
            e.stack[--e.depth] = null;
            if (e.depth == 0 && e.card != null && e.card.deletionRequested) {
                e.card.collectGarbage();  // the JCRE deletes unreachable objects when the applet returns
            }
        }
        e.lastChecked = null;
    }

    /** Card code called JCSystem.requestObjectDeletion: free what is unreachable once it returns to the JCRE. */
    public static void deletionRequested() {
        Exec e = EXEC.get();
        CardRules card = e.depth == 0 ? CardRules.current() : e.card;
        card.deletionRequested = true;
        if (e.depth == 0) {
            card.collectGarbage();
        }
    }

    /**
     * JCSystem.getAvailableMemory(type) in card code. With the RAM rule on, transient memory
     * (either type: one pool, as on a JCOP4) is what the card's budget has left; persistent memory,
     * and everything with the rule off, is jCardSim's answer (32,767: unlimited).
     */
    public static short availableMemory(byte memoryType) {
        short jcardsim = JCSystem.getAvailableMemory(memoryType);
        CardRules card = card(EXEC.get());
        if (!card.ram || memoryType == JCSystem.MEMORY_TYPE_PERSISTENT) {
            return jcardsim;
        }
        int left = Math.max(0, card.ramBudget() - card.ramUsed());
        return (short) Math.min(left, jcardsim);
    }

    /** JCSystem.isObjectDeletionSupported in card code: yes, as on the JCOP cards of every profile. */
    public static boolean objectDeletionSupported() {
        return true;
    }

    /** The card whose code runs on this thread (outside any entry point: the current runtime's). */
    private static CardRules card(Exec e) {
        return e.depth == 0 || e.card == null ? CardRules.current() : e.card;
    }

    /**
     * The context that called into the active one (a package name): the context below it on this
     * thread's stack, or null when there is none (JCSystem.getPreviousContextAID).
     */
    public static String previousContext() {
        Exec e = EXEC.get();
        return e.depth < 2 ? null : e.stack[e.depth - 2];
    }

    /** The active context on this thread (a package name), or null outside card code entry points. */
    public static String activeContext() {
        return EXEC.get().active();
    }

    // ---- allocation ---------------------------------------------------------------------------

    /** newarray / anewarray in card code: a persistent array owned by the active context. */
    public static void newArray(Object array) {
        Exec e = EXEC.get();
        if (e.depth == 0 || array == null) {
            return;
        }
        String context = e.active();
        e.card.owners.put(array, new CardRules.Owner(context, JCSystem.NOT_A_TRANSIENT_OBJECT, false, false));
        e.card.charge(context, CardRules.PERSISTENT, RamCosts.ARRAY_HEADER + RamCosts.arrayBytes(array));
    }

    /** JCSystem.makeTransient*Array returned {@code array}: charge the RAM budget, record the owner. */
    public static void transientArray(Object array) {
        Exec e = EXEC.get();
        if (e.depth == 0 || array == null) {
            return;
        }
        String context = e.active();
        byte event = JCSystem.isTransient(array);
        int bytes = RamCosts.arrayBytes(array);
        e.card.takeRam(bytes);
        e.card.owners.put(array, new CardRules.Owner(context, event, false, false));
        e.card.charge(context, event == JCSystem.CLEAR_ON_DESELECT ? CardRules.DESELECT : CardRules.RESET, bytes);
        e.card.charge(context, CardRules.PERSISTENT, RamCosts.ARRAY_HEADER);
    }

    /** JCSystem.makeGlobalArray returned {@code array}: accessible from every context. */
    public static void globalArray(Object array) {
        Exec e = EXEC.get();
        if (e.depth == 0 || array == null) {
            return;
        }
        int bytes = RamCosts.arrayBytes(array);
        e.card.takeRam(bytes);
        e.card.owners.put(array, new CardRules.Owner(e.active(), JCSystem.CLEAR_ON_DESELECT, true, false));
        e.card.charge(e.active(), CardRules.DESELECT, bytes);
    }

    /** {@code new T} in card code: persistent bytes of the object (estimated, see RamCosts). */
    public static void newObject(String internalName) {
        Exec e = EXEC.get();
        if (e.depth == 0) {
            return;
        }
        e.card.charge(e.active(), CardRules.PERSISTENT, RamCosts.objectBytes(internalName));
    }

    /**
     * The externalAccess argument of a crypto factory call: remembered for {@link #created} and
     * replaced by false, because jCardSim 3.0.6.0 throws for true (jcardsim issue #45).
     */
    public static boolean external(boolean externalAccess) {
        EXEC.get().pendingExternal = externalAccess;
        return false;
    }

    /** A crypto factory with an externalAccess parameter (getInstance, buildKey) returned {@code object}. */
    public static void created(Object object) {
        Exec e = EXEC.get();
        boolean external = e.pendingExternal;
        e.pendingExternal = false;
        card(e).profile.require(card(e), object);  // NO_SUCH_ALGORITHM for what the card's profile lacks
        record(e, object, external);
    }

    /**
     * KeyBuilder.buildKey returned {@code object}. A key is usable whoever is selected (buildKey
     * has no externalAccess parameter: its boolean is keyEncryption), except a
     * {@code TYPE_*_TRANSIENT_DESELECT} key, whose contents live in CLEAR_ON_DESELECT memory and
     * are reachable only while its owner is the selected applet.
     */
    public static void createdKey(Object object) {
        boolean deselect = object instanceof javacard.security.Key
                && DESELECT_KEY_TYPES.contains(keyType((javacard.security.Key) object));
        Exec e = EXEC.get();
        card(e).profile.require(card(e), object);
        record(e, object, !deselect);
    }

    /** Keys built as a stand-in for a key type jCardSim lacks (see {@link #buildKey}), with the type asked for. */
    private static final java.util.Map<Object, Byte> STAND_INS =
            java.util.Collections.synchronizedMap(new java.util.WeakHashMap<>());

    /** A key's KeyBuilder type: the one card code asked for (a stand-in's too). */
    static byte keyType(javacard.security.Key key) {
        Byte asked = STAND_INS.get(key);
        return asked != null ? asked : key.getType();
    }

    /**
     * KeyBuilder.buildKey(type, length, keyEncryption) in card code. A type the card's profile
     * lacks throws NO_SUCH_ALGORITHM, as on the card. A transient EC private key
     * (TYPE_EC_FP_PRIVATE_TRANSIENT_RESET / _DESELECT), which a JCOP4 has and jCardSim 3.0.6.0
     * does not, is built as a persistent EC private key of that length standing in for it: it
     * reports the transient type to the simulator (RAM at the transient key's figure, firewall),
     * but its contents are not cleared on reset or deselect (docs/simulator.md, "Card profiles").
     */
    public static javacard.security.Key buildKey(byte type, short length, boolean keyEncryption) {
        CardRules card = card(EXEC.get());
        if (!card.profile.hasKey(type, length)) {
            card.profile.refuse(card, CardProfile.describe("KeyBuilder:" + type + "@" + length));
        }
        if ((type == javacard.security.KeyBuilder.TYPE_EC_FP_PRIVATE_TRANSIENT_RESET
                || type == javacard.security.KeyBuilder.TYPE_EC_FP_PRIVATE_TRANSIENT_DESELECT)
                && !card.profile.hasAllAlgorithms()) {
            javacard.security.Key k = javacard.security.KeyBuilder.buildKey(
                    javacard.security.KeyBuilder.TYPE_EC_FP_PRIVATE, length, keyEncryption);
            STAND_INS.put(k, type);
            return k;
        }
        return javacard.security.KeyBuilder.buildKey(type, length, keyEncryption);
    }

    /** Every KeyBuilder.TYPE_*_TRANSIENT_DESELECT constant, read from the API class itself. */
    private static final java.util.Set<Byte> DESELECT_KEY_TYPES = keyTypes("_TRANSIENT_DESELECT");
    /** Every KeyBuilder.TYPE_*_TRANSIENT_* constant. */
    private static final java.util.Set<Byte> TRANSIENT_KEY_TYPES = keyTypes("_TRANSIENT_");

    /** Whether a KeyBuilder key type is a transient one (TYPE_*_TRANSIENT_RESET / _DESELECT). */
    static boolean isTransientKeyType(byte type) {
        return TRANSIENT_KEY_TYPES.contains(type);
    }

    private static java.util.Set<Byte> keyTypes(String part) {
        java.util.Set<Byte> types = new java.util.HashSet<>();
        for (java.lang.reflect.Field f : javacard.security.KeyBuilder.class.getFields()) {
            if (f.getName().startsWith("TYPE_") && f.getName().contains(part)
                    && f.getType() == byte.class) {
                try {
                    types.add(f.getByte(null));
                } catch (IllegalAccessException e) {
                    throw new IllegalStateException(e);
                }
            }
        }
        return types;
    }

    /** A crypto factory without one (RandomData.getInstance, new KeyPair): usable whoever is selected. */
    public static void createdUnrestricted(Object object) {
        Exec e = EXEC.get();
        card(e).profile.require(card(e), object);
        record(e, object, true);
    }

    private static void record(Exec e, Object object, boolean external) {
        if (e.depth == 0 || object == null) {
            return;
        }
        String context = e.active();
        int ram = e.card.profile.costs().ramOf(object);
        e.card.takeRam(ram);
        e.card.owners.put(object, new CardRules.Owner(context, JCSystem.NOT_A_TRANSIENT_OBJECT, false, external));
        e.card.charge(context, CardRules.CRYPTO, ram);
        e.card.charge(context, CardRules.PERSISTENT, e.card.profile.costs().persistentOf(object));
    }

    // ---- access checks ------------------------------------------------------------------------

    /** Array load (xaload) in card code. */
    public static void read(Object array, int index) {
        if (anyFirewall) {
            checkArray(array);
        }
    }

    /** Array store (xastore) in card code. */
    public static void write(Object array, int index) {
        if (anyFirewall) {
            checkArray(array);
        }
    }

    /** arraylength in card code. */
    public static void length(Object array) {
        if (anyFirewall) {
            checkArray(array);
        }
    }

    /** An array passed to a javacard.* / javacardx.* API method: the caller's context must reach it. */
    public static void apiArray(Object array) {
        if (anyFirewall) {
            checkArray(array);
        }
    }

    /** A crypto object (receiver or argument) of a javacard.* / javacardx.* API call. */
    public static void use(Object object) {
        if (!anyFirewall || object == null) {
            return;
        }
        Exec e = EXEC.get();
        if (e.depth == 0 || !e.card.firewall) {
            return;
        }
        CardRules.Owner o = e.card.owners.get(object);
        if (o == null || o.context == null) {
            return;
        }
        String context = e.active();
        if (!o.context.equals(context)) {
            throw violation(e, "applet firewall: " + simpleName(object) + " owned by context " + o.context
                    + " used from context " + context);
        }
        if (!o.external && !o.context.equals(e.selected)) {
            throw violation(e, "applet firewall: " + simpleName(object) + " of context " + o.context
                    + " was created with externalAccess=false and is used while " + e.selected + " is selected");
        }
    }

    private static void checkArray(Object array) {
        if (array == null) {
            return;
        }
        Exec e = EXEC.get();
        if (e.depth == 0 || array == e.lastChecked || !e.card.firewall) {
            return;
        }
        CardRules.Owner o = e.card.owners.get(array);
        if (o == null || o.global) {
            e.lastChecked = array;
            return;
        }
        String context = e.active();
        if (o.context != null && !o.context.equals(context)) {
            throw violation(e, "applet firewall: array owned by context " + o.context
                    + " accessed from context " + context);
        }
        if (o.event == JCSystem.CLEAR_ON_DESELECT && !context.equals(e.selected)) {
            throw violation(e, "applet firewall: CLEAR_ON_DESELECT array of context " + o.context
                    + " accessed while " + e.selected + " is selected");
        }
        e.lastChecked = array;
    }

    private static SecurityException violation(Exec e, String message) {
        e.card.recordViolation(message);
        return new SecurityException(message);
    }

    private static String simpleName(Object o) {
        Class<?> c = o.getClass();
        while (c.getSuperclass() != null && c.getName().startsWith("com.licel.")) {
            c = c.getSuperclass();
        }
        return c.getSimpleName();
    }
}
