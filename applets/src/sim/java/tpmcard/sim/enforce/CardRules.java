package tpmcard.sim.enforce;

import com.licel.jcardsim.base.SimulatorRuntime;
import com.licel.jcardsim.base.SimulatorSystem;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.WeakHashMap;
import javacard.framework.JCSystem;
import javacard.framework.SystemException;

/**
 * One simulated card's rules and bookkeeping: which rules it enforces, who owns each array and
 * crypto object, and the transient RAM in use (see {@link Firewall} for the hooks card code calls).
 *
 * <p>A card is identified by its jCardSim runtime; the rules of a new card come from the system
 * property {@code tpmcard.sim.enforce} (or environment {@code TPMCARD_SIM_ENFORCE}): a comma list
 * of {@code firewall}, {@code ram}, or {@code all} / {@code none} (default {@link #DEFAULT_RULES}).
 * Its {@link CardProfile} (algorithms, RAM budget, int support) comes from
 * {@code tpmcard.sim.profile} / {@code TPMCARD_SIM_PROFILE}. Tests and SimCard set both per card
 * with {@link #enforce} and {@link #profile(CardProfile)}.
 */
public final class CardRules {
    /**
     * The rules a new card enforces when neither the property nor the environment names any: the
     * applet firewall (the suite obeys it). The RAM rule (the budget of the card's profile) is
     * not yet on by default: the suite needs about 6.7 KB of transient RAM, over a J3R180's
     * 4,150 bytes (issue 9). Once it fits, "firewall,ram" turns it on for every card.
     */
    public static final String DEFAULT_RULES = "firewall,ram";

    /** System property naming the rules new cards enforce. */
    public static final String ENFORCE_PROPERTY = "tpmcard.sim.enforce";
    /** System property overriding the transient RAM budget in bytes (default: the profile's). */
    public static final String RAM_BUDGET_PROPERTY = "tpmcard.sim.ramBudget";

    private static final Map<SimulatorRuntime, CardRules> CARDS = Collections.synchronizedMap(new WeakHashMap<>());

    boolean firewall;
    boolean ram;
    CardProfile profile = CardProfile.configured();
    /** The budget the property / environment / {@link #ramBudget(int)} set, or -1: the profile's. */
    private int budgetOverride = configuredBudget();
    int ramUsed;
    /** Card code asked for object deletion: unreachable objects are freed when the command (or install) ends. */
    boolean deletionRequested;
    private final java.lang.ref.WeakReference<SimulatorRuntime> runtime;

    /** Owner of each array and crypto object created by card code (weak: garbage goes away). */
    final Map<Object, Owner> owners = new WeakHashMap<>();
    /** Per context (package): bytes allocated, in context order of first allocation. */
    final Map<String, long[]> usage = new LinkedHashMap<>();

    private CardRules(SimulatorRuntime runtime) {
        this.runtime = new java.lang.ref.WeakReference<>(runtime);
        String s = System.getProperty(ENFORCE_PROPERTY);
        if (s == null) {
            s = System.getenv("TPMCARD_SIM_ENFORCE");
        }
        setRules(s == null ? DEFAULT_RULES : s);
    }

    /** The rules of the card whose runtime is {@code runtime}. */
    public static CardRules of(SimulatorRuntime runtime) {
        synchronized (CARDS) {
            return CARDS.computeIfAbsent(runtime, CardRules::new);
        }
    }

    static CardRules current() {
        return of(SimulatorSystem.instance());
    }

    /** Enforce exactly {@code rules} ("firewall,ram", "all", "none"). */
    public CardRules enforce(String rules) {
        setRules(rules);
        return this;
    }

    private void setRules(String rules) {
        firewall = false;
        ram = false;
        for (String r : rules.toLowerCase(Locale.ROOT).split("[,\\s]+")) {
            switch (r) {
                case "":
                case "none":
                    break;
                case "all":
                    firewall = true;
                    ram = true;
                    break;
                case "firewall":
                    firewall = true;
                    break;
                case "ram":
                    ram = true;
                    break;
                default:
                    throw new IllegalArgumentException("unknown simulator rule '" + r
                            + "' (" + ENFORCE_PROPERTY + ": firewall, ram, all, none)");
            }
        }
        if (firewall) {
            Firewall.anyFirewall = true;
        }
    }

    public boolean firewall() {
        return firewall;
    }

    public boolean ram() {
        return ram;
    }

    /**
     * Override the transient RAM budget in bytes (CLEAR_ON_RESET and CLEAR_ON_DESELECT share it,
     * as on a JCOP4); by default it is the profile's.
     */
    public CardRules ramBudget(int bytes) {
        budgetOverride = bytes;
        return this;
    }

    /** The transient RAM budget in bytes: the override, else the profile's. */
    public int ramBudget() {
        return budgetOverride >= 0 ? budgetOverride : profile.transientRam();
    }

    /** This card's profile: the algorithms it has, its RAM budget and int support. */
    public CardRules profile(CardProfile p) {
        profile = p;
        return this;
    }

    public CardProfile profile() {
        return profile;
    }

    /** Transient RAM in use (arrays and crypto objects), bytes. */
    public int ramUsed() {
        return ramUsed;
    }

    private static int configuredBudget() {
        String s = System.getProperty(RAM_BUDGET_PROPERTY);
        if (s == null) {
            s = System.getenv("TPMCARD_SIM_RAM_BUDGET");
        }
        return s == null || s.isBlank() ? -1 : Integer.parseInt(s.trim());
    }

    /**
     * Memory by context (package name): {transient CLEAR_ON_RESET arrays, CLEAR_ON_DESELECT arrays,
     * crypto objects' RAM, persistent} bytes allocated by card code in that context (persistent
     * includes estimated object headers, see {@link RamCosts}).
     */
    public synchronized Map<String, long[]> usage() {
        Map<String, long[]> out = new LinkedHashMap<>();
        for (Map.Entry<String, long[]> e : usage.entrySet()) {
            out.put(e.getKey(), e.getValue().clone());
        }
        return out;
    }

    /** Usage slots: transient CLEAR_ON_RESET arrays, CLEAR_ON_DESELECT arrays, crypto objects' RAM, persistent. */
    static final int RESET = 0;
    static final int DESELECT = 1;
    static final int CRYPTO = 2;
    static final int PERSISTENT = 3;

    private final java.util.ArrayDeque<String> violations = new java.util.ArrayDeque<>();

    synchronized void recordViolation(String message) {
        if (violations.size() == 16) {
            violations.removeFirst();
        }
        violations.addLast(message);
    }

    /** The last (up to 16) firewall violations on this card, oldest first: card code may catch them. */
    public synchronized java.util.List<String> violations() {
        return new java.util.ArrayList<>(violations);
    }

    /** Receives one owned object of the card (see {@link #forEachOwner}). */
    public interface OwnerVisitor {
        void owner(Object object, String context, boolean global, boolean external);
    }

    /**
     * Every array and crypto object card code created, with its owner: the card store writes them
     * beside the object graph, because a restored object has a new identity.
     */
    public synchronized void forEachOwner(OwnerVisitor visitor) {
        for (Map.Entry<Object, Owner> e : new ArrayList<>(owners.entrySet())) {
            Owner o = e.getValue();
            if (o.context != null && e.getKey() != null) {
                visitor.owner(e.getKey(), o.context, o.global, o.external);
            }
        }
    }

    /** The card's objects are being replaced by restored ones: forget owners and RAM in use. */
    public synchronized void beginRestore() {
        owners.clear();
        ramUsed = 0;
    }

    /** A restored object's owner ({@code event}: its transient clear event, if an array); charges its RAM. */
    public synchronized void restoreOwner(Object object, String context, byte event, boolean global, boolean external) {
        owners.put(object, new Owner(context.intern(), event, global, external));
        ramUsed += ramOf(object, event);
    }

    private int ramOf(Object object, byte event) {
        return event != JCSystem.NOT_A_TRANSIENT_OBJECT ? RamCosts.arrayBytes(object) : profile.costs().ramOf(object);
    }

    /**
     * Free what no applet can reach any more, as a card's object deletion does (JCRE 3.0.5 §11.3.3:
     * after JCSystem.requestObjectDeletion, and when an applet or package is deleted): the RAM in
     * use becomes that of the owned arrays and crypto objects reachable from the installed applet
     * instances (see {@link Reachability}). Returns the bytes freed.
     */
    public synchronized int collectGarbage() {
        deletionRequested = false;
        SimulatorRuntime r = runtime.get();
        if (r == null) {
            return 0;
        }
        java.util.IdentityHashMap<Object, Boolean> seen = new java.util.IdentityHashMap<>();
        java.util.ArrayDeque<Object> todo = new java.util.ArrayDeque<>();
        for (Object applet : Reachability.applets(r)) {
            todo.add(applet);
        }
        int used = 0;
        while (!todo.isEmpty()) {
            Object o = todo.poll();
            if (o == null || seen.put(o, Boolean.TRUE) != null) {
                continue;
            }
            Owner owner = owners.get(o);
            if (owner != null && owner.context != null) {
                used += owner.global ? RamCosts.arrayBytes(o) : ramOf(o, owner.event);
            }
            Reachability.references(o, todo);
        }
        int freed = ramUsed - used;
        ramUsed = used;
        return freed;
    }

    private String refusal;

    /**
     * The last allocation the RAM budget or the card profile refused (then cleared), or null, e.g.
     * "SystemException NO_TRANSIENT_SPACE: ...". jCardSim's install path replaces the applet's
     * exception by its own, so SimCard asks here why an install failed.
     */
    public synchronized String takeRefusal() {
        String r = refusal;
        refusal = null;
        return r;
    }

    /** Remember why card code was refused something (see {@link #takeRefusal}). */
    synchronized void refuse(String why) {
        refusal = why;
    }

    /** Forget the memory tally (the card is erased and installed afresh). */
    public synchronized void clearUsage() {
        usage.clear();
        ramUsed = 0;
    }

    synchronized void charge(String context, int slot, long bytes) {
        usage.computeIfAbsent(context == null ? "(none)" : context, c -> new long[4])[slot] += bytes;
    }

    /** Take {@code bytes} of transient RAM; over budget: NO_TRANSIENT_SPACE (when the RAM rule is on). */
    synchronized void takeRam(int bytes) {
        int budget = ramBudget();
        if (ram && ramUsed + bytes > budget) {
            refusal = "SystemException NO_TRANSIENT_SPACE: " + bytes + " more bytes of transient RAM, with " + ramUsed
                    + " of the " + budget + "-byte budget of profile " + profile.name() + " in use";
            SystemException.throwIt(SystemException.NO_TRANSIENT_SPACE);
        }
        ramUsed += bytes;
    }

    /** Who owns an array or crypto object. */
    static final class Owner {
        final String context;     // package of the creating context; null: no applet context
        final byte event;         // JCSystem.CLEAR_ON_* or NOT_A_TRANSIENT_OBJECT
        final boolean global;     // global array (APDU buffer, makeGlobalArray)
        final boolean external;   // crypto object created with externalAccess = true

        Owner(String context, byte event, boolean global, boolean external) {
            this.context = context;
            this.event = event;
            this.global = global;
            this.external = external;
        }
    }
}
