package tpmcard.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.lang.reflect.Field;
import java.security.KeyPairGenerator;
import java.security.interfaces.ECPublicKey;
import java.security.spec.ECGenParameterSpec;
import java.util.Arrays;
import java.util.Set;
import java.util.function.Supplier;
import javacard.framework.AID;
import javacard.framework.ISO7816;
import org.junit.Test;
import tpmcard.sim.enforce.Journal;
import tpmcard.sim.enforce.PersistentDigest;
import tpmcard.sim.enforce.PowerLoss;

/**
 * Power cut at every persistent write (issue 9 item 5). For each operation: run it once to count
 * its persistent writes W (a transaction's commit counts as one), then for every k in 1..W cut the
 * power at write k, power up, and check that the applet's persistent state is exactly the old or
 * exactly the new one (a digest of everything persistent reachable from the applet: fields,
 * arrays, key and PIN contents), and that the card answers the next command normally.
 *
 * <p>One card per operation: {@link Journal#startRecording}/{@link Journal#rewind} bring it back to
 * the old state after each try (and the test checks that they did).
 *
 * <p>The mobile TPM and registry operations are real commands: a protected INVOKE through
 * CoreApplet.process() ({@link ServiceCard}). Pairing add/remove and PIN change call the card's
 * Pairings and PinStore, whose transactions they test: the commands around them first check a
 * TPM2_Certify or a PIN cryptogram, which needs the host TPM; the end-to-end flows run with swtpm in
 * tests/sim.
 */
public class TearingTest {
    private static final String MTPM = ServiceCard.MTPM_AID;
    private static final String REGISTRY = "F074706D63030001";
    private static final String HMAC_V2 = "F074706D63031301";
    private static final byte[] OWNER = "owner-auth".getBytes();
    private static final byte[] NV_INDEX = {0x01, 0x00, 0x00, 0x01};
    private static final byte[] COUNTER = {0x01, 0x00, 0x00, 0x02};
    /** The reset count is its own atomic counter, bumped by the first command after a power-up. */
    private static final Set<String> MTPM_EXCLUDED = Set.of("Attest.resetCount");
    /** Written by the harness's stand-in for the handshake (ServiceCard.openSession), not by a command. */
    private static final Set<String> CORE_EXCLUDED = Set.of("SessionRecord.lastSessionId", "SessionRecord.hostPcrs",
            "SessionRecord.clockInfo");

    private final ServiceCard card = ServiceCard.installed(new byte[] {0x7E, 0x42});
    private final byte[] hostPcrs = new byte[SuiteService.HOST_PCR_BLOCK_LENGTH];

    // --- the operations ----------------------------------------------------------------------

    @Test
    public void counterIncrement() {
        ownedWithIndices();
        tear("NV INCREMENT", mtpmState(),
                () -> card.invoke(MTPM, tpmcard.mtpm.Constants.INS_NV_INCREMENT, 0, 0, ServiceCard.concat(COUNTER, new byte[] {0})));
    }

    @Test
    public void nvWrite() {
        ownedWithIndices();
        byte[] data = new byte[32];
        Arrays.fill(data, (byte) 0x5A);
        tear("NV WRITE", mtpmState(), () -> card.invoke(MTPM, tpmcard.mtpm.Constants.INS_NV_WRITE, 0, 0,
                ServiceCard.concat(NV_INDEX, new byte[] {0, 0, 0}, data)));
    }

    @Test
    public void sealCreatesAnObject() {
        ownedWithIndices();
        byte[] in = ServiceCard.concat(new byte[] {0, 2, 0}, new byte[32], new byte[] {2, 'a', 'b'}, "secret".getBytes());
        tear("SEAL", mtpmState(), () -> card.invoke(MTPM, tpmcard.mtpm.Constants.INS_SEAL, 0, 0, in));
    }

    /**
     * REVOKE APPROVALS (docs/flexible-sealing.md "Revocation"): a new authority's slot and floor,
     * then a raise of its floor, each one transaction. The verification key is loaded first (by a
     * statement whose signature fails: the key is a cache, written before the check).
     */
    @Test
    public void revokeRaisesAnAuthoritysFloor() throws Exception {
        card.openSession(hostPcrs);
        KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
        generator.initialize(new ECGenParameterSpec("secp256r1"));
        java.security.KeyPair authority = generator.generateKeyPair();
        byte[] bogus = revokeStatement(authority, 3);
        bogus[bogus.length - 1] ^= 1;
        assertEquals(tpmcard.mtpm.Constants.SW_POLICY_MISMATCH,
                card.invoke(MTPM, tpmcard.mtpm.Constants.INS_REVOKE_APPROVALS, 0, 0, bogus).sw);
        byte[] first = revokeStatement(authority, 3);
        tear("REVOKE (a new authority)", mtpmState(),
                () -> card.invoke(MTPM, tpmcard.mtpm.Constants.INS_REVOKE_APPROVALS, 0, 0, first));
        ok(card.invoke(MTPM, tpmcard.mtpm.Constants.INS_REVOKE_APPROVALS, 0, 0, first));
        byte[] raise = revokeStatement(authority, 9);
        tear("REVOKE (a raised floor)", mtpmState(),
                () -> card.invoke(MTPM, tpmcard.mtpm.Constants.INS_REVOKE_APPROVALS, 0, 0, raise));
    }

    /** authority point 65 || epoch 8 || DER ECDSA over "tpmcard-revoke-v1" || epoch. */
    private static byte[] revokeStatement(java.security.KeyPair authority, int epoch) throws Exception {
        byte[] epochBytes = {0, 0, 0, 0, 0, 0, 0, (byte) epoch};
        java.security.Signature ecdsa = java.security.Signature.getInstance("SHA256withECDSA");
        ecdsa.initSign(authority.getPrivate());
        ecdsa.update(ServiceCard.concat("tpmcard-revoke-v1".getBytes(), epochBytes));
        ECPublicKey key = (ECPublicKey) authority.getPublic();
        return ServiceCard.concat(new byte[] {4}, fixed32(key.getW().getAffineX()), fixed32(key.getW().getAffineY()),
                epochBytes, ecdsa.sign());
    }

    private static byte[] fixed32(java.math.BigInteger value) {
        byte[] raw = value.toByteArray();
        byte[] out = new byte[32];
        int n = Math.min(raw.length, 32);
        System.arraycopy(raw, raw.length - n, out, 32 - n, n);
        return out;
    }

    /** A counted key's use (docs/counted-keys.md): the charge, one atomic short, or at 32,768 the borrow transaction. */
    @Test
    public void countedKeyUse() {
        for (int budget : new int[] {5, 32768}) {
            card.openSession(hostPcrs);
            Response made = card.invoke(MTPM, tpmcard.mtpm.Constants.INS_KEY_CREATE,
                    tpmcard.mtpm.Constants.KEY_KIND_HMAC_SHA256, 0,
                    new byte[] {0, 0, 0, (byte) (budget >> 8), (byte) budget, 0});
            ok(made);
            byte[] handle = Arrays.copyOf(made.data, 4);
            tear("KEY USE (budget " + budget + ")", mtpmState(), () -> card.invoke(MTPM,
                    tpmcard.mtpm.Constants.INS_KEY_USE, tpmcard.mtpm.Constants.KEY_OP_MAC, 0,
                    ServiceCard.concat(handle, new byte[] {0}, "message".getBytes())));
        }
    }

    /** tests/vectors/closures.json "count": store[0..2) += 1, outputs the count (store quota 2). */
    private static final byte[] COUNTER_CLOSURE = Hex.decode("636f756e740000000000000400040200000203e80024"
            + "0000000000000000000011001100110241110032110120110033110011001102423a04001e110701110011024000");
    private static final byte[] COUNTER_NAME = {'c', 'o', 'u', 'n', 't', 0, 0, 0};

    private byte[] sealedCounter() {
        card.openSession(hostPcrs);
        Response sealed = card.invoke(MTPM, tpmcard.mtpm.ClosureConstants.INS_CLOSURE_SEAL, 0, 0, COUNTER_CLOSURE);
        ok(sealed);
        return ServiceCard.concat(new byte[] {0}, sealed.data);
    }

    @Test
    public void closureLoad() {
        byte[] load = sealedCounter();
        tear("CLOSURE LOAD", mtpmState(),
                () -> card.invoke(MTPM, tpmcard.mtpm.ClosureConstants.INS_CLOSURE_LOAD, 0, 0, load));
    }

    @Test
    public void closureRunWritesItsStore() {
        ok(card.invoke(MTPM, tpmcard.mtpm.ClosureConstants.INS_CLOSURE_LOAD, 0, 0, sealedCounter()));
        tear("CLOSURE RUN (a store write)", mtpmState(),
                () -> card.invoke(MTPM, tpmcard.mtpm.ClosureConstants.INS_CLOSURE_RUN, 0, 0, COUNTER_NAME));
    }

    @Test
    public void closureRemove() {
        ok(card.invoke(MTPM, tpmcard.mtpm.ClosureConstants.INS_CLOSURE_LOAD, 0, 0, sealedCounter()));
        ok(card.invoke(MTPM, tpmcard.mtpm.ClosureConstants.INS_CLOSURE_RUN, 0, 0, COUNTER_NAME));
        tear("CLOSURE REMOVE", mtpmState(), () -> card.invoke(MTPM, tpmcard.mtpm.ClosureConstants.INS_CLOSURE_REMOVE,
                0, 0, ServiceCard.concat(new byte[] {0}, COUNTER_NAME)));
    }

    /** tests/vectors/closures.json provider_programs "pkey": no args generates a P-256 key in the ECDSA provider. */
    private static final byte[] PKEY_NAME = {'p', 'k', 'e', 'y', 0, 0, 0, 0};
    private static final String ECDSA = "F074706D63030501";

    private byte[] sealedPkey() throws Exception {
        card.openSession(hostPcrs);
        Response sealed = card.invoke(MTPM, tpmcard.mtpm.ClosureConstants.INS_CLOSURE_SEAL, 0, 0,
                tpmcard.mtpm.ClosureProvidersTest.plain("pkey"));
        ok(sealed);
        return ServiceCard.concat(new byte[] {0}, sealed.data);
    }

    /**
     * PCALL KEY GENERATE: the provider's key slot and the mobile TPM's key table entry in one
     * transaction (the key pair's bytes are left out: a generated key differs each time).
     */
    @Test
    public void closureGeneratesAProviderKey() throws Exception {
        ok(card.invoke(MTPM, tpmcard.mtpm.ClosureConstants.INS_CLOSURE_LOAD, 0, 0, sealedPkey()));
        tear("PCALL KEY GENERATE", mtpmAndEcdsaState(),
                () -> card.invoke(MTPM, tpmcard.mtpm.ClosureConstants.INS_CLOSURE_RUN, 0, 0, PKEY_NAME));
    }

    /** REMOVE of a closure that owns a provider key: the key's deletion and its entry, then the slot. */
    @Test
    public void closureRemoveDeletesItsProviderKey() throws Exception {
        ok(card.invoke(MTPM, tpmcard.mtpm.ClosureConstants.INS_CLOSURE_LOAD, 0, 0, sealedPkey()));
        ok(card.invoke(MTPM, tpmcard.mtpm.ClosureConstants.INS_CLOSURE_RUN, 0, 0, PKEY_NAME));
        tear("CLOSURE REMOVE (a provider key)", mtpmAndEcdsaState(), () -> card.invoke(MTPM,
                tpmcard.mtpm.ClosureConstants.INS_CLOSURE_REMOVE, 0, 0, ServiceCard.concat(new byte[] {0}, PKEY_NAME)),
                () -> card.invoke(MTPM, tpmcard.mtpm.ClosureConstants.INS_CLOSURE_REMOVE, 0, 0,
                        ServiceCard.concat(new byte[] {0}, PKEY_NAME)));
    }

    @Test
    public void ownerClear() {
        ownedWithIndices();
        ok(card.invoke(MTPM, tpmcard.mtpm.Constants.INS_NV_WRITE, 0, 0, ServiceCard.concat(NV_INDEX, new byte[] {0, 0, 0}, new byte[] {9})));
        ok(card.invoke(MTPM, tpmcard.mtpm.Constants.INS_NV_INCREMENT, 0, 0, ServiceCard.concat(COUNTER, new byte[] {0})));
        tear("CLEAR", mtpmState(), () -> card.invoke(MTPM, tpmcard.mtpm.Constants.INS_CLEAR, 0, 0, withOwnerAuth()));
    }

    /** CLEAR with every NV index defined is one transaction: it fits the J3R180's commit buffer. */
    @Test
    public void clearOfAFullCardFitsTheCommitBuffer() {
        ownedWithIndices();
        for (int i = 2; i < 8; i++) {
            byte[] handle = {0x01, 0x00, 0x01, (byte) i};
            ok(card.invoke(MTPM, tpmcard.mtpm.Constants.INS_NV_DEFINE, 0, 0,
                    ServiceCard.concat(withOwnerAuth(), handle, new byte[] {0, 1, 0, 0})));
        }
        Journal journal = Journal.of(card.runtime);
        journal.resetPeak();
        ok(card.invoke(MTPM, tpmcard.mtpm.Constants.INS_CLEAR, 0, 0, withOwnerAuth()));
        int peak = journal.peakUsed();
        System.out.println("tearing: CLEAR of 8 NV indices journals " + peak + " bytes");
        assertTrue("CLEAR journaled " + peak + " bytes", peak > 2304 && peak < 3000);
    }

    @Test
    public void registryReplacesAProvider() {
        tear("REGISTER (v2 replaces v1)", coreState(),
                () -> card.invoke(REGISTRY, 0x12, 0, 0, Hex.decode(HMAC_V2)));
    }

    @Test
    public void registryEnablesAProvider() {
        card.openSession(hostPcrs);
        ok(card.invoke(REGISTRY, 0x12, 0, 0, Hex.decode(HMAC_V2)));
        tear("ENABLE (v1 again)", coreState(),
                () -> card.invoke(REGISTRY, 0x16, 0, 0, Hex.decode("F074706D63030301")));
    }

    @Test
    public void pairingAdd() {
        Pairings pairings = field(binding(), "pairings");
        byte[] name = new byte[Constants.NAME_LENGTH];
        Arrays.fill(name, (byte) 0x11);
        byte[] point = p256Point();
        byte[] secret = new byte[32];
        Arrays.fill(secret, (byte) 0x33);
        tear("pairing add", coreState(), () -> direct(() -> pairings.store((short) 2, name, (short) 0, point, (short) 0,
                point, (short) 0, new byte[3], (short) 0, (byte) 1, new byte[32], (short) 0, secret, (short) 0)));
    }

    @Test
    public void pairingRemove() {
        Pairings pairings = field(binding(), "pairings");
        byte[] point = p256Point();
        card.openSession(hostPcrs);
        direct(() -> pairings.store((short) 5, new byte[Constants.NAME_LENGTH], (short) 0, point, (short) 0,
                point, (short) 0, new byte[3], (short) 0, (byte) 0, new byte[32], (short) 0, new byte[32], (short) 0));
        tear("pairing remove", coreState(), () -> direct(() -> pairings.remove((short) 5)));
    }

    @Test
    public void pinChange() {
        PinStore pins = field(binding(), "pins");
        byte[] pin = "24681357".getBytes();
        tear("PIN change", coreState(), () -> direct(() -> pins.update(Constants.P2_PIN, pin, (short) 0,
                (byte) pin.length)));
    }

    @Test
    public void pukChange() {
        PinStore pins = field(binding(), "pins");
        byte[] puk = "87654321".getBytes();
        tear("PUK change", coreState(), () -> direct(() -> pins.update(Constants.P2_PUK, puk, (short) 0,
                (byte) puk.length)));
    }

    // --- the procedure -----------------------------------------------------------------------

    private void tear(String what, Supplier<byte[]> state, Supplier<Response> operation) {
        tear(what, state, operation, null);
    }

    /**
     * @param again null: every cut leaves the old or the new state. Else an operation made of
     *     several transactions (REMOVE of a closure with provider keys): a cut may leave a state in
     *     between, from which {@code again} (the operation sent again) must reach the new state.
     */
    private void tear(String what, Supplier<byte[]> state, Supplier<Response> operation, Supplier<Response> again) {
        Journal journal = Journal.of(card.runtime);
        powerCycle();
        journal.startRecording();
        try {
            byte[] before = state.get();
            beforeText = describe.get();
            powerCycle();
            journal.cutPowerAt(0);
            ok(operation.get());
            long writes = journal.writes();
            journal.disarm();
            byte[] after = state.get();
            assertFalse(what + " changed nothing", Arrays.equals(before, after));
            assertTrue(what + ": no persistent write counted (is the card code rewritten?)", writes > 0);
            rewindTo(journal, before, what + " (counting run)");
            int sawOld = 0;
            int sawNew = 0;
            int sawBetween = 0;
            for (long k = 1; k <= writes; k++) {
                powerCycle();
                journal.cutPowerAt(k);
                Response r = operation.get();
                assertTrue(what + ": power lost at write " + k + " of " + writes + " (the command made "
                        + journal.writes() + " and answered " + r + ")", journal.powerLost());
                String where = journal.cutWhere();
                journal.powerUp();
                powerCycle();
                byte[] now = state.get();
                if (Arrays.equals(now, before)) {
                    sawOld++;
                } else if (Arrays.equals(now, after)) {
                    sawNew++;
                } else if (again != null) {
                    ok(again.get());
                    assertTrue(what + ": after a cut at " + where + ", sending it again did not finish",
                            Arrays.equals(state.get(), after));
                    sawBetween++;
                } else {
                    fail(what + ": a cut at " + where + " of " + writes + " left a state that is neither old nor new: "
                            + PersistentDigest.firstDifference(beforeText, describe.get()));
                }
                // The card answers the next command normally.
                ok(card.invoke(REGISTRY, 0x10, 0, 0, new byte[0]));
                rewindTo(journal, before, what + " after a cut at write " + k);
            }
            assertEquals(what + ": cuts seen", writes, sawOld + sawNew + sawBetween);
            System.out.println("tearing: " + what + ": " + writes + " persistent writes; after a cut " + sawOld
                    + "x the old state, " + sawNew + "x the new one"
                    + (again == null ? "" : ", " + sawBetween + "x one between, finished by sending it again"));
        } finally {
            journal.stopRecording();
            journal.powerUp();
        }
    }

    private void rewindTo(Journal journal, byte[] before, String what) {
        journal.rewind();
        byte[] now = state.get();
        if (!Arrays.equals(before, now)) {
            fail(what + ": the rewind did not restore the old state: "
                    + PersistentDigest.firstDifference(beforeText, describe.get()));
        }
    }

    /** The state of the running tear(), as a digest and as text (to show a difference). */
    private Supplier<byte[]> state;
    private Supplier<String> describe;
    private String beforeText;

    private void powerCycle() {
        card.simulator.reset();
        card.openSession(hostPcrs);
    }

    private Supplier<byte[]> mtpmState() {
        AID aid = com.licel.jcardsim.utils.AIDUtil.create(MTPM);
        state = () -> PersistentDigest.of(card.runtime.applet(aid), MTPM_EXCLUDED);
        describe = () -> PersistentDigest.describe(card.runtime.applet(aid), MTPM_EXCLUDED);
        return state;
    }

    /** The mobile TPM and the ECDSA provider together, the provider's key pairs left out. */
    private Supplier<byte[]> mtpmAndEcdsaState() {
        AID mtpm = com.licel.jcardsim.utils.AIDUtil.create(MTPM);
        AID ecdsa = com.licel.jcardsim.utils.AIDUtil.create(ECDSA);
        Set<String> provider = Set.of("EcdsaProvider.pairs");
        state = () -> ServiceCard.concat(PersistentDigest.of(card.runtime.applet(mtpm), MTPM_EXCLUDED),
                PersistentDigest.of(card.runtime.applet(ecdsa), provider));
        describe = () -> PersistentDigest.describe(card.runtime.applet(mtpm), MTPM_EXCLUDED) + "\n"
                + PersistentDigest.describe(card.runtime.applet(ecdsa), provider);
        return state;
    }

    private Supplier<byte[]> coreState() {
        state = () -> PersistentDigest.of(card.runtime.applet(card.coreAid), CORE_EXCLUDED);
        describe = () -> PersistentDigest.describe(card.runtime.applet(card.coreAid), CORE_EXCLUDED);
        return state;
    }

    // --- helpers -----------------------------------------------------------------------------

    private void ownedWithIndices() {
        card.openSession(hostPcrs);
        ok(card.invoke(MTPM, tpmcard.mtpm.Constants.INS_TAKE_OWNERSHIP, 0, 0, OWNER));
        ok(card.invoke(MTPM, tpmcard.mtpm.Constants.INS_NV_DEFINE, 0, 0,
                ServiceCard.concat(withOwnerAuth(), NV_INDEX, new byte[] {0, 0, 64, 0})));
        ok(card.invoke(MTPM, tpmcard.mtpm.Constants.INS_NV_DEFINE, 0, 0,
                ServiceCard.concat(withOwnerAuth(), COUNTER, new byte[] {tpmcard.mtpm.Constants.NV_ATTRIBUTE_COUNTER, 0, 8, 0})));
    }

    private static byte[] withOwnerAuth() {
        return ServiceCard.concat(new byte[] {(byte) OWNER.length}, OWNER);
    }

    private static void ok(Response r) {
        assertEquals("SW " + r, ISO7816.SW_NO_ERROR, r.sw);
    }

    /** Call card code directly as a command would; a power cut comes back as 6F00 (as jCardSim answers). */
    private static Response direct(Runnable call) {
        try {
            call.run();
            return new Response(new byte[] {(byte) 0x90, 0});
        } catch (PowerLoss e) {
            return new Response(new byte[] {0x6F, 0});
        }
    }

    private BindingHandler binding() {
        return field(card.runtime.applet(card.coreAid), "binding");
    }

    @SuppressWarnings("unchecked")
    private static <T> T field(Object obj, String name) {
        try {
            Field f = obj.getClass().getDeclaredField(name);
            f.setAccessible(true);
            return (T) f.get(obj);
        } catch (ReflectiveOperationException e) {
            throw new AssertionError(e);
        }
    }

    private static byte[] p256Point() {
        try {
            KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
            g.initialize(new ECGenParameterSpec("secp256r1"));
            ECPublicKey k = (ECPublicKey) g.generateKeyPair().getPublic();
            byte[] out = new byte[65];
            out[0] = 4;
            byte[] x = k.getW().getAffineX().toByteArray();
            byte[] y = k.getW().getAffineY().toByteArray();
            System.arraycopy(x, Math.max(0, x.length - 32), out, 1 + 32 - Math.min(32, x.length), Math.min(32, x.length));
            System.arraycopy(y, Math.max(0, y.length - 32), out, 33 + 32 - Math.min(32, y.length), Math.min(32, y.length));
            return out;
        } catch (java.security.GeneralSecurityException e) {
            throw new AssertionError(e);
        }
    }
}
