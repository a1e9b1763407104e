package tpmcard.sim;

import com.licel.jcardsim.base.Simulator;
import com.licel.jcardsim.utils.AIDUtil;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import javacard.framework.AID;
import javacard.framework.Applet;
import javacard.framework.ISO7816;
import javacard.framework.ISOException;
import javacard.framework.SystemException;
import tpmcard.sim.enforce.CardInstrumentation;
import tpmcard.sim.enforce.CardProfile;
import tpmcard.sim.enforce.CardRules;
import tpmcard.sim.enforce.Journal;

/**
 * A jCardSim card with non-volatile memory: its applet instances persist in a card store in a
 * state directory, so the simulated card keeps its state between processes like a real card.
 *
 * <p>Opening a state directory with no store installs every applet of the suite manifest, each
 * with 32 bytes of fresh host entropy as install parameters (jCardSim's RNG is deterministic;
 * this is what makes every fresh simulated card distinct). Otherwise the store is restored: this
 * is a power-on, so transient memory is zero and nothing is selected.
 *
 * <p>Durability: a command's effect on persistent state is in the store before its response is
 * returned, as EEPROM writes on a real card are done when the command ends. Changes are found by
 * {@link StateWatch} (a flat compare of the persistent fields and arrays of the applets the
 * command ran in, well under a microsecond for the core applet alone) and only then is the card
 * serialised; the file is rewritten only when the bytes differ.
 *
 * <p>One process at a time owns a state directory (lock file {@code card.lock}); every public
 * method is synchronized.
 *
 * <p>Limits: static fields of applet classes are not in the store (on a card they would be
 * persistent; the suite's applets keep all state in instance fields). Symmetric Cipher/MAC
 * objects come back uninitialised after a power cycle even when their key is persistent
 * (see {@link CardImageCodec}): applets initialise them per session.
 */
public final class SimCard implements AutoCloseable {
    /**
     * ATR: T=1 only (TD1 = 81, TD2 = 31, IFSC 254), historical bytes in compact-TLV with the card
     * capabilities object (ISO 7816-4 §8.1.1.2.7) announcing command chaining and extended Lc/Le.
     */
    public static final String ATR_HEX = "3B858131FE4580738001C03C";

    /** How the store is kept up to date after each command. */
    public enum SaveMode {
        /** Watch persistent fields and arrays; serialise only when one changed (default). */
        WATCH,
        /** Serialise after every command; write when the bytes changed (the slow baseline). */
        ALWAYS,
        /** Both, and fail loudly if the watch missed a change (tests of the watch itself). */
        VERIFY
    }

    private static final byte[] ATR = HexFormat.of().parseHex(ATR_HEX);

    private final Path stateDir;
    private final CardStore store;
    private final SimRuntime runtime;
    private final Simulator simulator;
    private final CardImageCodec codec;
    private final StateWatch watch;
    private final List<SuiteManifest.AppletEntry> manifest;
    private final List<String> knownAids = new ArrayList<>();
    private final SecureRandom entropy = new SecureRandom();
    private final CardRules rules;
    private final CardProfile profile;
    private SaveMode saveMode = SaveMode.WATCH;
    private byte[] lastPayload;
    private Object[] roots = new Object[0];
    private String failure;
    private boolean closed;

    // Statistics (nanoseconds and counts) for benchmarks.
    private long commands;
    private long watchNanos;
    private long encodes;
    private long encodeNanos;
    private long writes;
    private long writeNanos;

    private SimCard(Path stateDir, Path manifestPath, String purpose, String rules, String profileName) {
        this.stateDir = stateDir;
        this.manifest = SuiteManifest.read(manifestPath);
        this.store = CardStore.open(stateDir, purpose);
        try {
            CardStore.Contents contents = store.read();
            this.profile = chooseProfile(contents, profileName);
            checkLoadable(profile, manifest);
            this.runtime = new SimRuntime(new SimTransientMemory());
            this.simulator = new Simulator(runtime);
            simulator.changeProtocol("T=1");
            ClassLoader loader = SimCard.class.getClassLoader();
            this.rules = CardRules.of(runtime);  // tpmcard.sim.enforce / TPMCARD_SIM_ENFORCE
            if (rules != null) {
                this.rules.enforce(rules);
            }
            this.rules.profile(profile);
            this.codec = new CardImageCodec(runtime, loader);
            this.watch = new StateWatch(runtime.memory());
            runtime.setWatch(watch);
            for (SuiteManifest.AppletEntry e : manifest) {
                runtime.activate();
                simulator.loadApplet(AIDUtil.create(e.aid), appletClass(e.className, loader));
            }
            restore(contents);
            boolean changed = lastPayload == null;
            for (SuiteManifest.AppletEntry e : manifest) {
                if (!knownAids.contains(e.aid)) {
                    install(e.aid, null);  // new card, or an applet added to the manifest since
                    changed = true;
                }
            }
            runtime.powerOn();
            if (changed) {
                persist(true);
                writeMemoryReport();
            } else {
                watch.rebuild(roots);
            }
        } catch (RuntimeException e) {
            store.close();
            throw e;
        }
    }

    /**
     * Open (or create) the simulated card whose store lives in {@code stateDir}.
     *
     * @param purpose who opens it, shown to a second process that finds the card locked
     * @throws SimCardException LOCKED, CORRUPT, INCOMPATIBLE, MANIFEST or IO
     */
    public static SimCard open(String stateDir, String manifestPath, String purpose) {
        return new SimCard(Paths.get(stateDir).toAbsolutePath(), Paths.get(manifestPath), purpose, null, null);
    }

    /**
     * {@link #open(String, String, String)} enforcing {@code rules} ("firewall,ram", "all",
     * "none"; see tpmcard.sim.enforce.CardRules) instead of those of tpmcard.sim.enforce.
     */
    public static SimCard open(String stateDir, String manifestPath, String purpose, String rules) {
        return new SimCard(Paths.get(stateDir).toAbsolutePath(), Paths.get(manifestPath), purpose, rules, null);
    }

    /**
     * {@link #open(String, String, String, String)} for a card of profile {@code profile}
     * (tpmcard.sim.enforce.CardProfile; null: tpmcard.sim.profile / $TPMCARD_SIM_PROFILE, else
     * the default). A new card is made with it; an existing card keeps the profile it was made with,
     * and asking for another is a {@link SimCardException.Kind#PROFILE} error.
     *
     * @param rules null: those of tpmcard.sim.enforce
     */
    public static SimCard open(String stateDir, String manifestPath, String purpose, String rules, String profile) {
        return new SimCard(Paths.get(stateDir).toAbsolutePath(), Paths.get(manifestPath), purpose, rules, profile);
    }

    /** The names of the card profiles (profiles.json), in file order. */
    public static String[] profileNames() {
        return CardProfile.names().toArray(new String[0]);
    }

    /**
     * The card's profile: the stored card's, or for a new card {@code requested} (else the
     * configured one). Asking for a profile other than a stored card's is an error: the card
     * would silently not be the one asked for.
     */
    private CardProfile chooseProfile(CardStore.Contents contents, String requested) {
        String asked = requested != null && !requested.isBlank() ? requested : CardProfile.configuredName();
        try {
            if (contents == null) {
                return asked == null ? CardProfile.configured() : CardProfile.named(asked);
            }
            CardProfile stored = CardProfile.named(contents.profile);
            if (asked != null && CardProfile.named(asked) != stored) {
                throw new SimCardException(SimCardException.Kind.PROFILE, "the simulated card in " + stateDir
                        + " was made with profile " + stored.name() + ", not " + asked.trim().toLowerCase(Locale.ROOT)
                        + (requested == null ? " ($" + CardProfile.PROFILE_ENV + ")" : "")
                        + ": make a new card with `tpmcard sim reset --profile " + asked.trim().toLowerCase(Locale.ROOT)
                        + "`, or use this one without asking for a profile");
            }
            return stored;
        } catch (IllegalArgumentException e) {
            throw new SimCardException(SimCardException.Kind.PROFILE, e.getMessage(), e);
        }
    }

    /**
     * A card without int support refuses to load a CAP converted with int (-i): a package that
     * declares int_support in the manifest cannot be on a card of such a profile.
     */
    private static void checkLoadable(CardProfile profile, List<SuiteManifest.AppletEntry> manifest) {
        for (SuiteManifest.AppletEntry e : manifest) {
            if (e.intSupport && !profile.intSupport()) {
                throw new SimCardException(SimCardException.Kind.PROFILE, "package " + e.packageName + " ("
                        + e.className + ") declares int support (\"int_support\": true in the suite manifest), and a "
                        + profile.name() + " card has none: the card refuses to load its CAP. Make the package "
                        + "short-only, or use a profile with int support");
            }
        }
    }

    public static SimCard open(String stateDir, String manifestPath) {
        return open(stateDir, manifestPath, "tpmcard.sim.SimCard");
    }

    /**
     * Delete the card store in {@code stateDir} without reading it (the way out of a CORRUPT or
     * INCOMPATIBLE store); the next open installs a new card. Returns whether there was a store.
     *
     * @throws SimCardException LOCKED if a process has the card open, IO
     */
    public static boolean erase(String stateDir) {
        try (CardStore store = CardStore.open(Paths.get(stateDir).toAbsolutePath(), "erasing the card")) {
            return store.delete();
        }
    }

    /**
     * JVM options a process hosting a SimCard needs. Empty: the store reaches the one private JDK
     * field it needs (SecureRandom's provider) through Unsafe, and everything else kryo touches
     * is jCardSim, BouncyCastle or applet code in the unnamed module. If a future applet graph
     * reaches another java.* internal, saving fails with the exact --add-opens to add here.
     */
    public static String[] requiredJvmArgs() {
        return new String[0];
    }

    private static Class<? extends Applet> appletClass(String name, ClassLoader loader) {
        try {
            Class<? extends Applet> type = Class.forName(name, true, loader).asSubclass(Applet.class);
            CardInstrumentation.requireRewritten(type);
            return type;
        } catch (IllegalStateException e) {
            throw new SimCardException(SimCardException.Kind.MANIFEST, e.getMessage(), e);
        } catch (ClassNotFoundException | LinkageError e) {
            throw new SimCardException(SimCardException.Kind.MANIFEST, "applet class " + name
                    + " (from the suite manifest) is not on the class path; build it with `gradle assemble`", e);
        } catch (ClassCastException e) {
            throw new SimCardException(SimCardException.Kind.MANIFEST, name + " is not a javacard.framework.Applet", e);
        }
    }

    /** Restore the store's applet instances, if there is a store. */
    private void restore(CardStore.Contents contents) {
        if (contents == null) {
            return;
        }
        codec.checkClasses(contents.classes);
        knownAids.addAll(contents.knownAids);
        List<Map.Entry<AID, Applet>> instances = codec.decode(contents.payload);
        for (Map.Entry<AID, Applet> e : instances) {
            if (!runtime.isLoaded(e.getKey())) {
                throw new SimCardException(SimCardException.Kind.INCOMPATIBLE, "the card store holds applet "
                        + AIDUtil.toString(e.getKey()) + ", which the suite manifest no longer lists");
            }
        }
        runtime.replaceInstances(instances);
        roots = rootsOf(instances);
        lastPayload = reseededPayload(instances);
    }

    /**
     * The image of freshly decoded instances. Decoding adds fresh seed to every random generator
     * (CardRandom: two processes restoring one store must not replay the same bytes), so the image
     * differs from the bytes read; the next save compares against this one.
     */
    private byte[] reseededPayload(List<Map.Entry<AID, Applet>> instances) {
        return CardImageCodec.copy(codec.encode(instances));
    }

    private static Object[] rootsOf(List<Map.Entry<AID, Applet>> instances) {
        Object[] r = new Object[instances.size()];
        for (int i = 0; i < r.length; i++) {
            r[i] = instances.get(i).getValue();
        }
        return r;
    }

    /** GlobalPlatform install parameters (GP Card Spec 2.3.1 §11.5.2.3 as passed to Applet.install). */
    private static byte[] installParameters(byte[] aid, byte[] appParams) {
        byte[] p = new byte[1 + aid.length + 2 + 1 + appParams.length];
        int o = 0;
        p[o++] = (byte) aid.length;
        System.arraycopy(aid, 0, p, o, aid.length);
        o += aid.length;
        p[o++] = 1;     // control information: privileges, one byte
        p[o++] = 0;
        p[o++] = (byte) appParams.length;
        System.arraycopy(appParams, 0, p, o, appParams.length);
        return p;
    }

    private void install(String aidHex, byte[] appParams) {
        if (appParams == null) {
            appParams = new byte[32];
            entropy.nextBytes(appParams);
        }
        if (appParams.length > 127) {
            throw new SimCardException(SimCardException.Kind.CARD, "install parameters longer than 127 bytes");
        }
        AID aid = AIDUtil.create(aidHex);
        byte[] params = installParameters(HexFormat.of().parseHex(aidHex), appParams);
        runtime.activate();
        rules.takeRefusal();
        // jCardSim 3.0.6.0's Signature.getInstance prints a line to System.out for every
        // asymmetric algorithm (the core applet asks for ECDSA). On stdout it would corrupt
        // `tpmcard ... --json` and VpcdCard's "ready" line; applets allocate everything at install,
        // so this is the only place it can print. The lines say nothing useful: discard them.
        PrintStream stdout = System.out;
        System.setOut(new PrintStream(OutputStream.nullOutputStream()));
        try {
            runtime.installApplet(aid, params, (short) 0, (byte) params.length);
        } catch (ISOException e) {
            String why = e.getReason() == (short) 0x6A84 && rules.ram()
                    ? " (not enough memory: " + Math.max(0, rules.ramBudget() - rules.ramUsed()) + " of the "
                            + rules.ramBudget() + "-byte transient RAM budget of profile " + profile.name() + " free)"
                    : "";
            throw new SimCardException(SimCardException.Kind.CARD, "installing applet " + aidHex
                    + " failed: the applet threw ISOException " + String.format("%04X", e.getReason() & 0xFFFF) + why, e);
        } catch (RuntimeException e) {
            String refusal = rules.takeRefusal();
            if (refusal != null) {
                throw new SimCardException(SimCardException.Kind.CARD, "installing applet " + aidHex
                        + " failed: the applet threw " + refusal, e);
            }
            for (Throwable t = e; t != null; t = t.getCause()) {
                if (t instanceof javacard.security.CryptoException
                        && ((javacard.security.CryptoException) t).getReason() == javacard.security.CryptoException.NO_SUCH_ALGORITHM) {
                    throw new SimCardException(SimCardException.Kind.CARD, "installing applet " + aidHex
                            + " failed: the applet threw CryptoException NO_SUCH_ALGORITHM: a " + profile.name()
                            + " card lacks an algorithm it asks for (docs/simulator.md, \"Card profiles\")", e);
                }
            }
            throw new SimCardException(SimCardException.Kind.CARD, "installing applet " + aidHex + " failed ("
                    + CardImageCodec.rootMessage(e) + ")", e);
        } finally {
            System.setOut(stdout);
        }
        if (!knownAids.contains(aidHex)) {
            knownAids.add(aidHex);
        }
        roots = rootsOf(runtime.instances());
    }

    private void ensureUsable() {
        if (closed) {
            throw new IllegalStateException("the simulated card is closed");
        }
        if (failure != null) {
            throw new SimCardException(SimCardException.Kind.IO, failure);
        }
    }

    /** Send one command APDU; returns response data || SW1 SW2. */
    public synchronized byte[] transmit(byte[] command) {
        ensureUsable();
        watch.beginCommand();  // the runtime reports the applets the command runs (SimRuntime)
        byte[] response;
        if (!isWellFormed(command)) {
            // A card OS answers 6700 to length fields that disagree with the APDU's length
            // (ISO 7816-3 §12.1); jCardSim would throw instead, some forms out of its parser.
            response = statusWord(ISO7816.SW_WRONG_LENGTH);
        } else {
            try {
                response = simulator.transmitCommand(command);
            } catch (IllegalArgumentException e) {
                response = statusWord(ISO7816.SW_WRONG_LENGTH);
            } catch (RuntimeException e) {
                // A fault inside the simulator itself, outside any applet: the card stays usable.
                response = statusWord(ISO7816.SW_UNKNOWN);
            }
        }
        commands++;
        Journal journal = Journal.of(runtime);
        if (journal.powerLost()) {
            String where = journal.cutWhere();
            powerCycleAfterCut();
            throw new SimCardException(SimCardException.Kind.POWER_LOSS, "the card lost power at " + where
                    + "; it has been powered up again");
        }
        journal.disarm();
        commit();
        return response;
    }

    /**
     * Cut the power at the {@code n}th persistent write of the next command (n >= 1): the write
     * does not happen (a non-atomic copy or fill writes half), the open transaction is rolled back,
     * {@link #transmit} throws {@link SimCardException.Kind#POWER_LOSS} instead of answering, and
     * the card is powered up again: transient memory cleared, nothing selected, the store holding
     * exactly the state the cut left. With {@code n == 0}, or when the command makes fewer writes,
     * nothing happens except counting: {@link #persistentWrites()} then tells how many writes the
     * command made (a transaction's commit counts as one).
     */
    public synchronized void cutPowerAtWrite(long n) {
        ensureUsable();
        Journal.of(runtime).cutPowerAt(n);
    }

    /** Persistent writes of the command after the last {@link #cutPowerAtWrite}. */
    public synchronized long persistentWrites() {
        return Journal.of(runtime).writes();
    }

    private void powerCycleAfterCut() {
        Journal.of(runtime).powerUp();
        persist(false);   // the state the cut left, rolled back, is what the card holds now
        reload();
    }

    private static byte[] statusWord(short sw) {
        return new byte[] {(byte) (sw >> 8), (byte) sw};
    }

    /** Whether the length fields of a command APDU agree with its length (ISO 7816-3 §12.1). */
    static boolean isWellFormed(byte[] apdu) {
        int n = apdu.length;
        if (n < 4) {
            return false;
        }
        if (n <= 5) {
            return true;                                   // case 1, case 2S
        }
        int b4 = apdu[4] & 0xFF;
        if (b4 != 0) {
            return n == 5 + b4 || n == 6 + b4;             // case 3S, case 4S
        }
        if (n < 7) {
            return false;                                  // extended marker, truncated length
        }
        if (n == 7) {
            return true;                                   // case 2E
        }
        int lc = ((apdu[5] & 0xFF) << 8) | (apdu[6] & 0xFF);
        return lc != 0 && (n == 7 + lc || n == 9 + lc);    // case 3E, case 4E
    }

    /**
     * {@link #transmit} through a shared buffer: the command is {@code buffer[0..length)}, the
     * response is written at offset 0 and its length returned. The Python transport shares a
     * direct buffer with the JVM, which saves JPype two array conversions per APDU.
     */
    public synchronized int transmitBuffer(ByteBuffer buffer, int length) {
        byte[] command = new byte[length];
        buffer.get(0, command, 0, length);
        byte[] response = transmit(command);
        buffer.put(0, response, 0, response.length);
        return response.length;
    }

    private void commit() {
        switch (saveMode) {
            case WATCH: {
                long t0 = System.nanoTime();
                boolean changed = watch.changedInCommand();
                watchNanos += System.nanoTime() - t0;
                if (changed) {
                    persist(false);
                }
                break;
            }
            case ALWAYS:
                persist(false);
                break;
            default: {
                boolean changed = watch.changedInCommand();
                CardImageCodec.Encoded e = codec.encode(runtime.instances());
                if (!changed && !Arrays.equals(e.buffer, 0, e.length, lastPayload, 0, lastPayload.length)) {
                    failure = "internal error: the change watch missed a change of the card state";
                    throw new IllegalStateException(failure);
                }
                persist(false);
                break;
            }
        }
    }

    /** Serialise the card; write the store if the bytes changed (or {@code force}). */
    private void persist(boolean force) {
        long t0 = System.nanoTime();
        CardImageCodec.Encoded e = codec.encode(runtime.instances());
        long t1 = System.nanoTime();
        encodes++;
        encodeNanos += t1 - t0;
        if (force || lastPayload == null || !Arrays.equals(e.buffer, 0, e.length, lastPayload, 0, lastPayload.length)) {
            byte[] payload = CardImageCodec.copy(e);
            try {
                store.write(profile.name(), knownAids, e.classes, payload, payload.length);
            } catch (SimCardException ex) {
                failure = ex.getMessage() + "; the card's last command may not be saved: reopen the card";
                throw ex;
            }
            lastPayload = payload;
            writes++;
            writeNanos += System.nanoTime() - t1;
        }
        watch.rebuild(roots);
    }

    /**
     * Power-cycle the card: transient memory is cleared, nothing is selected. The applet instances
     * are rebuilt from the saved image, exactly as when another process opens the store, so that
     * RAM-only crypto state (session keys in cipher engines) is gone too.
     */
    public synchronized void reset() {
        ensureUsable();
        reload();
    }

    private void reload() {
        runtime.memory().powerLoss();
        runtime.memory().forgetAll();
        List<Map.Entry<AID, Applet>> instances = codec.decode(lastPayload);
        runtime.replaceInstances(instances);
        roots = rootsOf(instances);
        lastPayload = reseededPayload(instances);
        runtime.powerOn();
        watch.rebuild(roots);
    }

    public byte[] getATR() {
        return ATR.clone();
    }

    /** Delete the applet instance {@code aidHex}; its load file stays, so it can be created again. */
    public synchronized void deleteApplet(String aidHex) {
        ensureUsable();
        String aid = aidHex.toUpperCase(Locale.ROOT);
        if (!runtime.hasInstance(AIDUtil.create(aid))) {
            throw new SimCardException(SimCardException.Kind.CARD, "no applet instance " + aid + " on the card");
        }
        runtime.activate();
        try {
            simulator.deleteApplet(AIDUtil.create(aid));
        } catch (SystemException e) {
            throw new SimCardException(SimCardException.Kind.CARD, "deleting applet " + aid + " failed", e);
        }
        rules.collectGarbage();  // the card frees what only the deleted instance reached
        roots = rootsOf(runtime.instances());
        persist(true);
    }

    /**
     * Create an instance of a loaded applet (after {@link #deleteApplet}).
     *
     * @param params application-specific install parameters; {@code null}: 32 bytes of fresh entropy
     */
    public synchronized void createApplet(String aidHex, byte[] params) {
        ensureUsable();
        String aid = aidHex.toUpperCase(Locale.ROOT);
        if (!runtime.isLoaded(AIDUtil.create(aid))) {
            throw new SimCardException(SimCardException.Kind.CARD, "no load file for applet " + aid
                    + "; the suite manifest lists " + manifestAids());
        }
        if (runtime.hasInstance(AIDUtil.create(aid))) {
            throw new SimCardException(SimCardException.Kind.CARD, "applet " + aid + " already exists; delete it first");
        }
        install(aid, params);
        runtime.powerOn();  // as after a GP INSTALL session: nothing selected
        persist(true);
        writeMemoryReport();
    }

    /** Erase the card and install every manifest applet afresh (new entropy, new identity). */
    public synchronized void factoryReset() {
        if (closed) {
            throw new IllegalStateException("the simulated card is closed");
        }
        failure = null;
        runtime.memory().powerLoss();
        runtime.memory().forgetAll();
        runtime.replaceInstances(List.of());
        knownAids.clear();
        roots = new Object[0];
        rules.clearUsage();
        for (SuiteManifest.AppletEntry e : manifest) {
            install(e.aid, null);
        }
        runtime.powerOn();
        persist(true);
        writeMemoryReport();
    }

    /** Write the store now, whether or not anything changed. */
    public synchronized void save() {
        ensureUsable();
        persist(true);
    }

    /** AIDs (hex) of the applet instances on the card. */
    public synchronized String[] appletAids() {
        List<String> out = new ArrayList<>();
        for (Map.Entry<AID, Applet> e : runtime.instances()) {
            out.add(AIDUtil.toString(e.getKey()).toUpperCase(Locale.ROOT));
        }
        return out.toArray(new String[0]);
    }

    private String manifestAids() {
        List<String> out = new ArrayList<>();
        for (SuiteManifest.AppletEntry e : manifest) {
            out.add(e.aid);
        }
        return out.toString();
    }

    /**
     * Transient memory check (tests): the number of transient arrays and how many of them hold a
     * non-zero element. After a restore or {@link #reset} the second is 0.
     */
    public synchronized int[] transientMemoryStatus() {
        return runtime.memory().status();
    }

    public synchronized void setSaveMode(String mode) {
        saveMode = SaveMode.valueOf(mode.toUpperCase(Locale.ROOT));
        watch.rebuild(roots);
    }

    public synchronized String getSaveMode() {
        return saveMode.name().toLowerCase(Locale.ROOT);
    }

    /** The state directory. */
    public String stateDir() {
        return stateDir.toString();
    }

    /** The store file (it may not exist yet). */
    public String storePath() {
        return store.file().toString();
    }

    /**
     * Counters since open: commands, watchNanos, encodes, encodeNanos, writes, writeNanos,
     * watchedFields, watchedArrays, watchedArrayBytes, storeBytes.
     */
    public synchronized long[] statistics() {
        long[] size = watch.size();
        return new long[] {commands, watchNanos, encodes, encodeNanos, writes, writeNanos,
                size[0], size[1], size[2], lastPayload == null ? 0 : lastPayload.length};
    }

    /**
     * Why every command compares the persistent state of every applet, or null when the change
     * watch compares only the applets a command ran in (the normal case; see {@link StateWatch}).
     */
    public synchronized String watchUnscopedReason() {
        return watch.opaqueReason() != null ? watch.opaqueReason() : watch.unscopedReason();
    }

    /**
     * The memory each applet allocated at install, as JSON (null until something was installed by
     * a simulator that measures: a store from before the report existed). Measured by the
     * simulator's rewritten card code (tpmcard.sim.enforce): transient arrays and crypto objects'
     * RAM at JCAlgTest's J3R180 figures, persistent arrays and objects with estimated headers.
     * Kept in {@code memory.json} beside the store, because a later process only restores.
     */
    public synchronized String memoryReport() {
        try {
            return Files.exists(memoryFile()) ? Files.readString(memoryFile(), StandardCharsets.UTF_8) : null;
        } catch (IOException e) {
            throw new SimCardException(SimCardException.Kind.IO, "cannot read " + memoryFile() + ": " + e.getMessage(), e);
        }
    }

    /** The card's profile (tpmcard.sim.enforce.CardProfile), e.g. "jcop4-j3r180". */
    public String profile() {
        return profile.name();
    }

    /** Transient RAM the card's applets hold now (arrays and crypto objects), bytes. */
    public synchronized int ramUsed() {
        return rules.ramUsed();
    }

    /** The card's transient RAM budget, bytes (its profile's unless overridden). */
    public int ramBudget() {
        return rules.ramBudget();
    }

    /** The rules this card enforces, e.g. "firewall,ram" ("" for none). */
    public synchronized String enforcedRules() {
        return (rules.firewall() ? "firewall" : "") + (rules.firewall() && rules.ram() ? "," : "") + (rules.ram() ? "ram" : "");
    }

    private Path memoryFile() {
        return stateDir.resolve("memory.json");
    }

    private void writeMemoryReport() {
        Map<String, long[]> usage = rules.usage();
        StringBuilder b = new StringBuilder();
        b.append("{\"source\": \"jCardSim, measured by tpmcard.sim.enforce at install\", ")
                .append("\"profile\": \"").append(profile.name()).append("\", ")
                .append("\"ram_budget\": ").append(rules.ramBudget())
                .append(", \"ram_in_use\": ").append(rules.ramUsed()).append(", \"applets\": [");
        long[] total = new long[4];
        boolean first = true;
        for (SuiteManifest.AppletEntry e : manifest) {
            String pkg = e.className.substring(0, e.className.lastIndexOf('.'));
            long[] u = usage.getOrDefault(pkg, new long[4]);
            for (int i = 0; i < 4; i++) {
                total[i] += u[i];
            }
            b.append(first ? "" : ", ").append("{\"aid\": \"").append(e.aid).append("\", \"class\": \"")
                    .append(e.className).append("\", ");
            appendUsage(b, u);
            b.append('}');
            first = false;
        }
        b.append("], \"totals\": {");
        appendUsage(b, total);
        b.append("}}\n");
        try {
            Path tmp = stateDir.resolve("memory.json.tmp");
            Files.writeString(tmp, b.toString(), StandardCharsets.UTF_8);
            Files.move(tmp, memoryFile(), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new SimCardException(SimCardException.Kind.IO, "cannot write " + memoryFile() + ": " + e.getMessage(), e);
        }
    }

    private static void appendUsage(StringBuilder b, long[] u) {
        b.append("\"transient_reset\": ").append(u[0]).append(", \"transient_deselect\": ").append(u[1])
                .append(", \"crypto_ram\": ").append(u[2]).append(", \"transient\": ").append(u[0] + u[1] + u[2])
                .append(", \"persistent\": ").append(u[3]);
    }

    /** Release the store (its content is already saved). Idempotent. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        try {
            if (failure == null && watch.changed()) {
                persist(false);
            }
        } finally {
            closed = true;
            store.close();
        }
    }
}
