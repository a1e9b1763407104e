package tpmcard.core;

import static org.junit.Assert.assertTrue;

import com.licel.jcardsim.base.Simulator;
import com.licel.jcardsim.base.SimulatorRuntime;
import com.licel.jcardsim.base.TransientMemory;
import com.licel.jcardsim.utils.AIDUtil;
import java.lang.reflect.Array;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javacard.framework.AID;
import javacard.framework.Applet;
import javacard.security.Key;
import javacard.security.KeyAgreement;
import javacard.security.MessageDigest;
import javacard.security.RandomData;
import javacard.security.Signature;
import javacardx.crypto.Cipher;
import org.junit.Test;
import tpmcard.sim.enforce.CardProfile;
import tpmcard.sim.enforce.CardRules;

/**
 * The transient RAM of the whole suite (core, mobile TPM, every provider of the manifest)
 * installed together on a card of each profile: an NXP JCOP4 J3R180 (4,150 bytes CLEAR_ON_RESET,
 * JCAlgTest, crocs-muni/jcalgtest_results), an NXP JCOP3 J3H145 (1,993) and jCardSim's full set
 * (32,767), arrays and crypto objects together (docs/core-applet.md "Transient RAM" has the
 * tables). The suite must leave {@link #HEADROOM} bytes of every budget, and each applet checks at
 * install for the least it takes on any card.
 *
 * <p>How it counts (docs/core-applet.md "Transient RAM"):
 * <ul>
 * <li>arrays: every JCSystem.makeTransient*Array that card code calls, per applet (installed one
 *     after the other, so each allocation belongs to the applet being installed). Arrays that
 *     jCardSim makes inside its own crypto objects are not counted here: the objects are;</li>
 * <li>crypto objects: every MessageDigest, Signature, Cipher, KeyAgreement and transient key an
 *     applet instance keeps (its object graph), at the profile's per-object figures (RamCosts:
 *     JCAlgTest's for the card, estimates marked in the file for what it lacks), the ones the
 *     simulator's RAM rule charges. Objects made during install and dropped are not counted: the
 *     applets ask for their deletion (JCSystem.requestObjectDeletion) at the end of install.</li>
 * </ul>
 */
public class SuiteRamTest {

    /** A transient memory that remembers each array card code makes, with its size in bytes. */
    static final class CountingMemory extends TransientMemory {
        final List<Object[]> made = new ArrayList<>();  // {array, Integer bytes}

        @Override
        protected void storeArray(Object array, byte event) {
            super.storeArray(array, event);
            if (calledFromCardCode()) {
                made.add(new Object[] {array, bytesOf(array)});
            }
        }

        /** True when the frame right after JCSystem.makeTransient* is card code (tpmcard.*). */
        private static boolean calledFromCardCode() {
            StackTraceElement[] stack = new Throwable().getStackTrace();
            for (int i = 0; i + 1 < stack.length; i++) {
                if (stack[i].getClassName().equals("javacard.framework.JCSystem")) {
                    return stack[i + 1].getClassName().startsWith("tpmcard.");
                }
            }
            return false;
        }

        static int bytesOf(Object array) {
            int n = Array.getLength(array);
            if (array instanceof short[]) {
                return 2 * n;
            }
            if (array instanceof Object[]) {
                return 2 * n;   // a reference is 2 bytes on JavaCard VMs
            }
            return n;
        }

        int total() {
            int sum = 0;
            for (Object[] m : made) {
                sum += (Integer) m[1];
            }
            return sum;
        }
    }

    static final class Runtime extends SimulatorRuntime {
        Runtime(TransientMemory memory) {
            super(memory);
        }

        Applet applet(AID aid) {
            return getApplet(aid);
        }
    }

    /**
     * A card's own crypto object. The suite's software implementations (tpmcard.*: AesCmac,
     * AesGcmSoftware, Sha3Software) are not: their arrays and the card objects they use are counted.
     */
    static boolean isCryptoObject(Object o) {
        if (o.getClass().getName().startsWith("tpmcard.")) {
            return false;
        }
        return o instanceof MessageDigest || o instanceof Signature || o instanceof Cipher
                || o instanceof KeyAgreement || o instanceof RandomData || o instanceof Key;
    }

    /**
     * The crypto objects an applet instance keeps (its object graph, card classes only), and in
     * {@code seen} every object of that graph.
     */
    static Map<Object, Integer> cryptoObjects(Object root, IdentityHashMap<Object, Boolean> seen, CardProfile profile)
            throws IllegalAccessException {
        Map<Object, Integer> found = new IdentityHashMap<>();
        List<Object> todo = new ArrayList<>();
        todo.add(root);
        while (!todo.isEmpty()) {
            Object o = todo.remove(todo.size() - 1);
            if (o == null || seen.put(o, Boolean.TRUE) != null) {
                continue;
            }
            if (isCryptoObject(o)) {
                found.put(o, profile.costs().ramOf(o));
                continue;
            }
            if (o.getClass().isArray() && !(o instanceof Object[])) {
                continue;
            }
            if (o instanceof Object[]) {
                for (Object e : (Object[]) o) {
                    todo.add(e);
                }
                continue;
            }
            Class<?> c = o.getClass();
            if (!c.getName().startsWith("tpmcard.") && !c.getName().startsWith("javacard.security.KeyPair")) {
                continue;
            }
            for (; c != null && c != Object.class; c = c.getSuperclass()) {
                for (Field f : c.getDeclaredFields()) {
                    if (Modifier.isStatic(f.getModifiers()) || f.getType().isPrimitive()) {
                        continue;
                    }
                    f.setAccessible(true);
                    todo.add(f.get(o));
                }
            }
        }
        return found;
    }

    /** The profiles the suite is measured against: every one of profiles.json. */
    static final List<String> PROFILES = CardProfile.names();

    /**
     * Installs every applet of the suite on a card of {@code profile} (its algorithms, so an
     * applet picks native or software as on that card, and its per-object RAM figures), with the
     * simulator's rules on and the profile's RAM budget (so JCSystem.getAvailableMemory answers
     * what the card would, and an install that does not fit fails); returns per applet {arrays,
     * objects} in bytes. {@code softwareProviders}: the providers installed with the option that
     * forces software whatever the card has.
     */
    static Map<String, int[]> measure(String profile, boolean softwareProviders) throws Exception {
        return measure(profile, softwareProviders, CardProfile.named(profile).transientRam());
    }

    /**
     * As {@link #measure(String, boolean)} on a card with {@link #BEYOND} bytes more than the
     * profile's: each applet's figure, whether or not the suite fits. The core's choice of its
     * RAM I/O buffer (Constants.RAM_IO_ROOMY) is the one it makes on the profile's card.
     */
    static Map<String, int[]> measureBeyond(String profile, boolean softwareProviders) throws Exception {
        int budget = CardProfile.named(profile).transientRam();
        assertTrue((budget < Constants.RAM_IO_ROOMY) == (budget + BEYOND < Constants.RAM_IO_ROOMY));
        return measure(profile, softwareProviders, budget + BEYOND);
    }

    static final int BEYOND = 1000;

    /** As {@link #measure(String, boolean)}, with a RAM budget of {@code budget} bytes. */
    static Map<String, int[]> measure(String profile, boolean softwareProviders, int budget) throws Exception {
        CardProfile card = CardProfile.named(profile);
        CountingMemory memory = new CountingMemory();
        Runtime runtime = new Runtime(memory);
        CardRules.of(runtime).profile(card).enforce("firewall,ram").ramBudget(budget);
        Simulator simulator = new Simulator(runtime);
        String[][] suite = {
            {"core", Manifest.core().appletAid, "tpmcard.core.CoreApplet"},
            {"mtpm", "F074706D63020001", "tpmcard.mtpm.MtpmApplet"},
            {"aesgcm", "F074706D63030101", "tpmcard.alg.aesgcm.AesGcmProvider"},
            {"sha3", "F074706D63030201", "tpmcard.alg.sha3.Sha3Provider"},
            {"hmac", "F074706D63030301", "tpmcard.alg.hmac.HmacProvider"},
            {"chacha", "F074706D63030401", "tpmcard.alg.chacha.ChaChaProvider"},
            {"ecdsa", "F074706D63030501", "tpmcard.alg.ecdsa.EcdsaProvider"},
            {"hmac-v2", "F074706D63031301", "tpmcard.alg.hmac.v2.HmacProviderV2"},
        };
        Map<String, int[]> out = new LinkedHashMap<>();
        for (String[] applet : suite) {
            int before = memory.made.size();
            AID aid = AIDUtil.create(applet[1]);
            byte[] appParams = {1, 2, 3};
            if (softwareProviders && applet[2].startsWith("tpmcard.alg.")) {
                appParams = java.util.Arrays.copyOf(appParams, tpmcard.algorithms.ProviderConstants.MAX_INSTALL_PARAMS);
                appParams[appParams.length - 1] = tpmcard.algorithms.ProviderConstants.INSTALL_OPTION_SOFTWARE;
            }
            byte[] params = SimulatedCard.installParameters(aid, new byte[0], appParams);
            @SuppressWarnings("unchecked")
            Class<? extends Applet> cls = (Class<? extends Applet>) Class.forName(applet[2]);
            simulator.installApplet(aid, cls, params, (short) 0, (byte) params.length);
            IdentityHashMap<Object, Boolean> reachable = new IdentityHashMap<>();
            int objects = 0;
            for (int bytes : cryptoObjects(runtime.applet(aid), reachable, card).values()) {
                objects += bytes;
            }
            // Arrays the applet keeps; what install made and dropped is freed on the card
            // (InstallMemory.releaseInstallGarbage).
            int arrays = 0;
            for (Object[] m : memory.made.subList(before, memory.made.size())) {
                if (reachable.containsKey(m[0])) {
                    arrays += (Integer) m[1];
                }
            }
            out.put(applet[0], new int[] {arrays, objects});
        }
        return out;
    }

    /**
     * RAM each profile keeps free for what is being added to the suite (the mobile TPM's next
     * commands): the suite takes at most its budget less this.
     */
    static final int HEADROOM = 120;

    /**
     * The six providers together, native where the profile has the algorithm and with every one
     * forced onto software: at most this many bytes on a J3R180 (docs/core-applet.md "Transient
     * RAM").
     */
    static final int PROVIDERS_CEILING = 1500;

    static String table(String profile, Map<String, int[]> ram) {
        int total = 0;
        StringBuilder table = new StringBuilder(profile + ":\napplet     arrays  objects  total\n");
        for (Map.Entry<String, int[]> e : ram.entrySet()) {
            int[] v = e.getValue();
            total += v[0] + v[1];
            table.append(String.format("%-9s %7d %8d %6d%n", e.getKey(), v[0], v[1], v[0] + v[1]));
        }
        table.append(String.format("total %24d (budget %d)%n", total, CardProfile.named(profile).transientRam()));
        return table.toString();
    }

    static int total(Map<String, int[]> ram) {
        int total = 0;
        for (int[] v : ram.values()) {
            total += v[0] + v[1];
        }
        return total;
    }

    @Test
    public void theProvidersStayUnderTheirCeilingNativeAndSoftware() throws Exception {
        for (boolean software : new boolean[] {false, true}) {
            int providers = 0;
            StringBuilder table = new StringBuilder(software ? "software:" : "native:");
            for (Map.Entry<String, int[]> e : measure("jcop4-j3r180", software).entrySet()) {
                if (!e.getKey().equals("core") && !e.getKey().equals("mtpm")) {
                    int taken = e.getValue()[0] + e.getValue()[1];
                    providers += taken;
                    table.append(' ').append(e.getKey()).append(' ').append(taken);
                }
            }
            System.out.println(table + ", total " + providers);
            assertTrue(table + ": " + providers + " bytes", providers <= PROVIDERS_CEILING);
        }
    }

    /** The profiles of cards that exist (JCOPs), on which an applet's install check must hold. */
    static final List<String> CARDS = java.util.Arrays.asList("jcop4-j3r180", "j3h145");

    /** How far an applet's install figure may lie under the least it takes on any card. */
    static final int CHECK_SLACK = 16;

    /**
     * Each applet checks at install (InstallMemory.requireTransient, before it makes anything) for
     * the least it takes on any card, native and with the providers forced onto software: never
     * more (it would refuse a card it fits), and at most {@link #CHECK_SLACK} bytes less. The rest
     * of what it takes there is crypto objects, which the card charges at its own figures when
     * install makes them.
     */
    @Test
    public void eachAppletChecksAtInstallTheLeastItTakesOnAnyCard() throws Exception {
        Map<String, Integer> least = new LinkedHashMap<>();
        for (String profile : CARDS) {
            for (boolean software : new boolean[] {false, true}) {
                for (Map.Entry<String, int[]> e : measureBeyond(profile, software).entrySet()) {
                    int taken = e.getValue()[0] + e.getValue()[1];
                    least.merge(e.getKey(), taken, Math::min);
                }
            }
        }
        System.out.println("least on any card: " + least);
        for (Map.Entry<String, Integer> e : least.entrySet()) {
            int declared = declared(e.getKey());
            assertTrue(e.getKey() + " takes at least " + e.getValue() + " bytes, checks for " + declared,
                    declared <= e.getValue() && declared >= e.getValue() - CHECK_SLACK);
        }
    }

    /** What a provider checks for at install: its class's TRANSIENT_BYTES. */
    private static int providerDeclared(String name) {
        switch (name) {
            case "aesgcm": return tpmcard.alg.aesgcm.AesGcmProvider.TRANSIENT_BYTES;
            case "sha3": return tpmcard.alg.sha3.Sha3Provider.TRANSIENT_BYTES;
            case "chacha": return tpmcard.alg.chacha.ChaChaProvider.TRANSIENT_BYTES;
            case "ecdsa": return tpmcard.alg.ecdsa.EcdsaProvider.TRANSIENT_BYTES;
            default: return tpmcard.algorithms.HmacApplet.TRANSIENT_BYTES;   // hmac, hmac-v2
        }
    }

    private static int declared(String applet) {
        return applet.equals("core") ? Constants.TRANSIENT_BYTES
                : applet.equals("mtpm") ? tpmcard.mtpm.Constants.TRANSIENT_BYTES
                : providerDeclared(applet);
    }

    /**
     * The whole suite (core, mobile TPM, the six providers) fits the transient RAM of every
     * profile, with {@link #HEADROOM} bytes to spare: on each, with the algorithms it has (software
     * GCM and SHA3 on both JCOPs, software AES-CMAC on the J3H145) and its own per-object figures.
     */
    @Test
    public void theWholeSuiteFitsEveryProfile() throws Exception {
        for (String profile : PROFILES) {
            Map<String, int[]> ram;
            try {
                ram = measure(profile, false);
            } catch (Exception e) {
                // Say by how much: the same suite on a card with more RAM.
                throw new AssertionError("the suite does not install on " + profile + " (" + e + "); with "
                        + BEYOND + " bytes more:\n" + table(profile, measureBeyond(profile, false)), e);
            }
            String table = table(profile, ram);
            System.out.print(table);
            int budget = CardProfile.named(profile).transientRam();
            assertTrue("transient RAM of the suite on " + profile + ":\n" + table, total(ram) <= budget - HEADROOM);
        }
    }
}
