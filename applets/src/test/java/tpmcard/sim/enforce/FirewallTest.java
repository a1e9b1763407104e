package tpmcard.sim.enforce;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import com.licel.jcardsim.base.Simulator;
import com.licel.jcardsim.base.SimulatorRuntime;
import com.licel.jcardsim.utils.AIDUtil;
import java.util.Arrays;
import java.util.Map;
import javacard.framework.AID;
import javacard.framework.SystemException;
import org.junit.Test;
import tpmcard.testcard.client.ClientApplet;
import tpmcard.testcard.server.ServerApplet;

/**
 * The simulator enforces the applet firewall and the RAM budget on a card that asks for them:
 * planted violations (tpmcard.testcard.*) fail with SecurityException / NO_TRANSIENT_SPACE, the
 * allowed calls work; randomness differs between cards unless a test fixes the seed.
 */
public class FirewallTest {
    static final String SERVER = "F074706D63990101";
    static final String CLIENT = "F074706D63990201";

    /** A runtime the test can make current (what Simulator does before each call). */
    static final class ActiveRuntime extends SimulatorRuntime {
        void activate() {
            activateSimulatorRuntimeInstance();
        }
    }

    static Simulator card(String rules) {
        SimulatorRuntime runtime = new SimulatorRuntime();
        CardRules.of(runtime).enforce(rules);
        Simulator simulator = new Simulator(runtime);
        simulator.installApplet(AIDUtil.create(SERVER), ServerApplet.class);
        simulator.installApplet(AIDUtil.create(CLIENT), ClientApplet.class);
        return simulator;
    }

    static int sw(byte[] response) {
        return ((response[response.length - 2] & 0xFF) << 8) | (response[response.length - 1] & 0xFF);
    }

    static int call(Simulator simulator, int ins) {
        assertTrue(simulator.selectApplet(AIDUtil.create(CLIENT)));
        return sw(simulator.transmitCommand(new byte[] {(byte) 0x80, (byte) ins, 0, 0, 4, 1, 2, 3, 4}));
    }

    @Test
    public void forbiddenAccessesThrowSecurityException() {
        SimulatorRuntime runtime = new SimulatorRuntime();
        CardRules rules = CardRules.of(runtime).enforce("firewall,ram");
        Simulator simulator = new Simulator(runtime);
        simulator.installApplet(AIDUtil.create(SERVER), ServerApplet.class);
        simulator.installApplet(AIDUtil.create(CLIENT), ClientApplet.class);
        assertEquals("client's transient array read by the server", 0x6999, call(simulator, 0x01));
        assertEquals(java.util.List.of("applet firewall: array owned by context tpmcard.testcard.client accessed "
                + "from context tpmcard.testcard.server"), rules.violations());
        assertEquals("client's persistent array read by the server", 0x6999, call(simulator, 0x02));
        assertEquals("server's externalAccess=false digest used while the client is selected", 0x6999, call(simulator, 0x04));
        assertEquals("server's CLEAR_ON_DESELECT array while the client is selected", 0x6999, call(simulator, 0x06));
    }

    @Test
    public void allowedAccessesWork() {
        Simulator simulator = card("firewall,ram");
        assertEquals("APDU buffer (global)", 0x9000, call(simulator, 0x03));
        assertEquals("getInstance(..., true) works and is usable through the Shareable", 0x9000, call(simulator, 0x05));
        assertEquals("server's own persistent array", 0x9000, call(simulator, 0x07));
        assertEquals("client's own digest", 0x9000, call(simulator, 0x09));
        assertEquals("a global array (makeGlobalArray)", 0x9000, call(simulator, 0x0B));
        assertEquals("static data first touched in the server's install", 0x9000, call(simulator, 0x0C));
        assertTrue(simulator.selectApplet(AIDUtil.create(SERVER)));
        assertEquals("server's CoD array while it is selected", 0x9000,
                sw(simulator.transmitCommand(new byte[] {(byte) 0x80, 0, 0, 0})));
    }

    @Test
    public void withoutTheRuleNothingIsChecked() {
        Simulator simulator = card("none");
        assertEquals(0x9000, call(simulator, 0x01));
        assertEquals(0x9000, call(simulator, 0x04));
        assertEquals(0x9000, call(simulator, 0x06));
    }

    @Test
    public void memoryIsChargedPerContext() {
        SimulatorRuntime runtime = new SimulatorRuntime();
        CardRules rules = CardRules.of(runtime).enforce("all");
        Simulator simulator = new Simulator(runtime);
        simulator.installApplet(AIDUtil.create(SERVER), ServerApplet.class);
        Map<String, long[]> usage = rules.usage();
        long[] server = usage.get("tpmcard.testcard.server");
        assertEquals("CoD array", 8, server[CardRules.DESELECT]);
        assertEquals("two SHA-256 and an ECDSA-SHA-256 object at JCAlgTest's 112 B each", 336, server[CardRules.CRYPTO]);
        assertEquals(8 + 336, rules.ramUsed());
        // persistent: the arrays, the applet object, 2 x 40 (SHA-256) + 68 (ECDSA) + 20 (RandomData)
        // + 368 (EC private key, 256 bits) from JCAlgTest
        assertTrue(server[CardRules.PERSISTENT] > 8 + 80 + 68 + 20 + 368);
    }

    @Test
    public void anAllocationOverTheBudgetFailsWithNoTransientSpace() {
        ActiveRuntime runtime = new ActiveRuntime();
        CardRules.of(runtime).enforce("ram").ramBudget(300);  // the server needs 344 bytes
        runtime.activate();
        try {
            // Applet.install itself: jCardSim's installApplet would turn the reason into 6444.
            ServerApplet.install(new byte[0], (short) 0, (byte) 0);
            fail("installed over the RAM budget");
        } catch (SystemException e) {
            assertEquals(SystemException.NO_TRANSIENT_SPACE, e.getReason());
        }
        SimulatorRuntime roomy = new SimulatorRuntime();
        CardRules.of(roomy).enforce("ram").ramBudget(344);
        new Simulator(roomy).installApplet(AIDUtil.create(SERVER), ServerApplet.class);
    }

    @Test
    public void everyFactoryWorksWithExternalAccess() {
        SimulatorRuntime runtime = new SimulatorRuntime();
        CardRules rules = CardRules.of(runtime).enforce("all");
        new Simulator(runtime).installApplet(AIDUtil.create("F074706D63990301"),
                tpmcard.testcard.external.ExternalFactoriesApplet.class);
        // AES-CBC 48 + CMAC 48 + ECDSA 112 + SHA-256 112 (twice) + ECDH 0 + AES key 0
        // + transient AES key 32 + EC key 0
        assertEquals(48 + 48 + 112 + 112 + 112 + 32, rules.ramUsed());
    }

    @Test
    public void theBudgetIsTheProfiles() {
        CardRules rules = CardRules.of(new SimulatorRuntime());
        assertEquals(4150, rules.profile(CardProfile.named("jcop4-j3r180")).ramBudget());
        assertEquals(1993, rules.profile(CardProfile.named("j3h145")).ramBudget());
        assertEquals(32767, rules.profile(CardProfile.named("full")).ramBudget());
        assertEquals(300, rules.ramBudget(300).ramBudget());
    }

    static byte[] random(Simulator simulator) {
        assertTrue(simulator.selectApplet(AIDUtil.create(CLIENT)));
        byte[] r = simulator.transmitCommand(new byte[] {(byte) 0x80, 0x08, 0, 0, 0x10});
        assertEquals(0x9000, sw(r));
        return Arrays.copyOf(r, 16);
    }

    @Test
    public void twoCardsDrawDifferentRandomnessAndAFixedSeedReproduces() {
        assertFalse(Arrays.equals(random(card("none")), random(card("none"))));
        byte[][] seeded = new byte[2][];
        for (int i = 0; i < 2; i++) {
            SimulatorRuntime runtime = new SimulatorRuntime();
            CardRandom.useFixedSeed(runtime, new byte[] {1, 2, 3});
            Simulator simulator = new Simulator(runtime);
            simulator.installApplet(AIDUtil.create(SERVER), ServerApplet.class);
            simulator.installApplet(AIDUtil.create(CLIENT), ClientApplet.class);
            seeded[i] = random(simulator);
        }
        assertArrayEqualsHex(seeded[0], seeded[1]);
    }

    /** The r of a DER ECDSA signature (SEQUENCE { INTEGER r, INTEGER s }). */
    static String ecdsaR(Simulator simulator) {
        assertTrue(simulator.selectApplet(AIDUtil.create(CLIENT)));
        byte[] sig = simulator.transmitCommand(new byte[] {(byte) 0x80, 0x0A, 0, 0, 4, 1, 2, 3, 4, 0});
        assertEquals(0x9000, sw(sig));
        int rLength = sig[3];
        return java.util.HexFormat.of().formatHex(sig, 4, 4 + rLength);
    }

    @Test
    public void ecdsaNoncesDifferBetweenCardsAndBetweenSignatures() {
        Simulator a = card("all");
        Simulator b = card("all");
        String first = ecdsaR(a);
        assertFalse("one card, same key, same message: a new nonce each time", first.equals(ecdsaR(a)));
        assertFalse("two cards, same key, same message: different nonces", first.equals(ecdsaR(b)));
    }

    private static void assertArrayEqualsHex(byte[] a, byte[] b) {
        assertEquals(java.util.HexFormat.of().formatHex(a), java.util.HexFormat.of().formatHex(b));
    }
}
