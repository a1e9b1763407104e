package tpmcard.mtpm;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static tpmcard.mtpm.ClosureCommandsTest.b;
import static tpmcard.mtpm.ClosureCommandsTest.image;
import static tpmcard.mtpm.ClosureEngineTest.load;
import static tpmcard.mtpm.ClosureEngineTest.name;
import static tpmcard.mtpm.ClosureEngineTest.runByName;
import static tpmcard.mtpm.ClosureEngineTest.runImage;
import static tpmcard.mtpm.ClosureEngineTest.seal;
import static tpmcard.mtpm.MtpmCard.concat;

import com.licel.jcardsim.utils.AIDUtil;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.AlgorithmParameters;
import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.Signature;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.ECParameterSpec;
import java.security.spec.ECPoint;
import java.security.spec.ECPublicKeySpec;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import javacard.framework.AID;
import javacard.framework.ISOException;
import org.junit.Test;
import tpmcard.algorithms.AlgorithmProvider;
import tpmcard.algorithms.ProviderConstants;
import tpmcard.sim.Json;

/**
 * PCALL (docs/closures.md "Providers"): closures call the algorithm provider applets with keys
 * of their own. The programs and the digest vector are tests/vectors/closures.json's
 * "provider_programs" (the pytest suite runs them over both transports). The host's side is the
 * provider's interface taken as the core takes it (the selected applet's context).
 */
public class ClosureProvidersTest {
    private static final HexFormat HEX = HexFormat.of();
    static final String ECDSA_AID = "F074706D63030501";
    static final String SHA3_AID = "F074706D63030201";

    @SuppressWarnings("unchecked")
    private static Map<String, Object> programs() throws Exception {
        Path file = Path.of(System.getProperty("tpmcard.vectors"), "closures.json");
        Map<String, Object> root = (Map<String, Object>) Json.parse(Files.readString(file, StandardCharsets.UTF_8));
        return (Map<String, Object>) root.get("provider_programs");
    }

    /** A program's plain image (also TearingTest's). */
    @SuppressWarnings("unchecked")
    public static byte[] plain(String program) throws Exception {
        return HEX.parseHex((String) ((Map<String, Object>) programs().get(program)).get("image"));
    }

    static MtpmCard withProviders() {
        MtpmCard card = MtpmCard.installed();
        for (Object[] p : new Object[][] {{ECDSA_AID, tpmcard.alg.ecdsa.EcdsaProvider.class},
                                          {SHA3_AID, tpmcard.alg.sha3.Sha3Provider.class}}) {
            AID aid = AIDUtil.create((String) p[0]);
            byte[] params = MtpmCard.installParameters(aid, new byte[] {4, 5});
            @SuppressWarnings("unchecked")
            Class<? extends javacard.framework.Applet> type = (Class<? extends javacard.framework.Applet>) p[1];
            card.simulator.installApplet(aid, type, params, (short) 0, (byte) params.length);
        }
        card.simulator.selectApplet(card.coreAid);
        return card;
    }

    /** The provider as the core reaches it (the host's registry CALL): answer or status word. */
    static MtpmCard.Result hostCall(MtpmCard card, byte ins, byte p1, byte[] data) {
        card.runtime.activate();
        AlgorithmProvider p = (AlgorithmProvider) card.runtime.getSharedObject(AIDUtil.create(ECDSA_AID),
                ProviderConstants.PROVIDER_PARAMETER);
        byte[] buffer = new byte[512];
        System.arraycopy(data, 0, buffer, 0, data.length);
        try {
            short n = p.call(ins, p1, (byte) 0, buffer, (short) 0, (short) data.length, (short) data.length,
                    (short) buffer.length, (short) 7);
            return new MtpmCard.Result(0x9000, Arrays.copyOfRange(buffer, data.length, data.length + n));
        } catch (ISOException e) {
            return new MtpmCard.Result(e.getReason() & 0xFFFF, new byte[0]);
        }
    }

    static boolean verifies(byte[] point, byte[] message, byte[] der) throws Exception {
        AlgorithmParameters params = AlgorithmParameters.getInstance("EC");
        params.init(new ECGenParameterSpec("secp256r1"));
        ECParameterSpec spec = params.getParameterSpec(ECParameterSpec.class);
        ECPoint w = new ECPoint(new BigInteger(1, Arrays.copyOfRange(point, 1, 33)),
                new BigInteger(1, Arrays.copyOfRange(point, 33, 65)));
        PublicKey key = KeyFactory.getInstance("EC").generatePublic(new ECPublicKeySpec(w, spec));
        Signature v = Signature.getInstance("SHA256withECDSA");
        v.initVerify(key);
        v.update(message);
        return v.verify(der);
    }

    /** "pkey": no args generates a P-256 key (handle 4 || point 65); handle || msg signs; handle alone deletes. */
    static MtpmCard.Result pkey(MtpmCard card, String closure, byte[] args) {
        return runByName(card, closure, args);
    }

    @Test
    public void aClosureGeneratesSignsAndTheSignatureVerifies() throws Exception {
        MtpmCard card = withProviders();
        load(card, seal(card, plain("pkey")));
        byte[] made = card.ok(ClosureConstants.INS_CLOSURE_RUN, 0, 0, name("pkey"));
        assertEquals(4 + 65, made.length);
        byte[] handle = Arrays.copyOf(made, 4);
        byte[] point = Arrays.copyOfRange(made, 4, 69);
        byte[] msg = "closure-signed".getBytes(StandardCharsets.US_ASCII);
        MtpmCard.Result signed = pkey(card, "pkey", concat(handle, msg));
        assertEquals(0x9000, signed.sw);
        assertTrue(verifies(point, msg, signed.data));
        // the closure deletes its key: the handle is gone from the table
        assertEquals(0x9000, pkey(card, "pkey", handle).sw);
        assertEquals(ClosureConstants.SW_CLOSURE_KEY & 0xFFFF, pkey(card, "pkey", concat(handle, msg)).sw);
    }

    @Test
    public void aSha3DigestThroughTheProviderIsTheNistVector() throws Exception {
        MtpmCard card = withProviders();
        @SuppressWarnings("unchecked")
        Map<String, Object> digest = (Map<String, Object>) programs().get("sha3");
        byte[] sealed = seal(card, plain("sha3"));
        for (Map<String, Object> run : castList(digest.get("runs"))) {
            MtpmCard.Result r = runImage(card, sealed, HEX.parseHex((String) run.get("args")));
            assertEquals(0x9000, r.sw);
            assertArrayEquals(HEX.parseHex((String) run.get("output")), r.data);
        }
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> castList(Object o) {
        return (List<Map<String, Object>>) o;
    }

    @Test
    public void keysStayWithTheirOwners() throws Exception {
        MtpmCard card = withProviders();
        byte[] plainPkey = plain("pkey");
        load(card, seal(card, plainPkey));
        byte[] other = plainPkey.clone();
        other[1] = '2';  // "pkey" -> "p2ey": the same code, another closure (slot)
        byte[] otherSealed = seal(card, other);
        load(card, otherSealed);
        byte[] handle = Arrays.copyOf(card.ok(ClosureConstants.INS_CLOSURE_RUN, 0, 0, name("pkey")), 4);
        byte[] msg = b('m');
        int key = ClosureConstants.SW_CLOSURE_KEY & 0xFFFF;
        // another closure, and the same code run from a host-held image (no slot), are refused
        assertEquals(key, pkey(card, "p2ey", concat(handle, msg)).sw);
        assertEquals(key, pkey(card, "p2ey", handle).sw);  // nor may it delete the key
        assertEquals(key, runImage(card, otherSealed, concat(handle, msg)).sw);
        assertEquals(key, runImage(card, otherSealed, new byte[0]).sw);  // no key made without a slot
        // the host, through the core, cannot use or delete the closure's key
        assertEquals(0x6A88, hostCall(card, ProviderConstants.INS_SIGN, (byte) 0, concat(handle, msg)).sw);
        assertEquals(0x6A88, hostCall(card, ProviderConstants.INS_KEY_DELETE, (byte) 0, handle).sw);
        // and a closure cannot use the host's key
        MtpmCard.Result hostKey = hostCall(card, ProviderConstants.INS_KEY_GENERATE, ProviderConstants.KEY_EC_P256,
                new byte[0]);
        assertEquals(0x9000, hostKey.sw);
        byte[] hostHandle = Arrays.copyOf(hostKey.data, 4);
        assertEquals(key, pkey(card, "pkey", concat(hostHandle, msg)).sw);
        assertEquals(0x9000, hostCall(card, ProviderConstants.INS_SIGN, (byte) 0, concat(hostHandle, msg)).sw);
        // the owner still signs after all the refusals
        assertEquals(0x9000, pkey(card, "pkey", concat(handle, msg)).sw);
    }

    @Test
    public void removeDeletesTheClosuresProviderKeys() throws Exception {
        MtpmCard card = withProviders();
        byte[] plainPkey = plain("pkey");
        // the provider has 4 key slots: without the deletions the fifth closure would get 6A84
        for (int round = 0; round < ProviderConstants.KEY_SLOTS + 2; round++) {
            load(card, seal(card, plainPkey));
            assertEquals("round " + round, 0x9000, card.invoke(ClosureConstants.INS_CLOSURE_RUN, 0, 0, name("pkey")).sw);
            card.ok(ClosureConstants.INS_CLOSURE_REMOVE, 0, 0, concat(new byte[] {0}, name("pkey")));
        }
        // a closure that fills the provider's slots gets the provider's status word, nothing else changes
        load(card, seal(card, plainPkey));
        for (int i = 0; i < ProviderConstants.KEY_SLOTS; i++) {
            assertEquals(0x9000, card.invoke(ClosureConstants.INS_CLOSURE_RUN, 0, 0, name("pkey")).sw);
        }
        assertEquals(0x6A84, card.invoke(ClosureConstants.INS_CLOSURE_RUN, 0, 0, name("pkey")).sw);
        card.ok(ClosureConstants.INS_CLOSURE_REMOVE, 0, 0, concat(new byte[] {0}, name("pkey")));
        assertEquals(0x9000, hostCall(card, ProviderConstants.INS_KEY_GENERATE, ProviderConstants.KEY_EC_P256,
                new byte[0]).sw);
    }

    @Test
    public void badCallsStopWithTheirStatusWords() throws Exception {
        MtpmCard card = withProviders();
        byte[] sealed = seal(card, plain("sha3"));
        // a provider number with no applet: 6A82
        byte[] code = b(0x11, 9, 0x10, 0x00, 0x34, 0x11, 0, 0x11, 0, 0x11, 0, 0x62, 0x00);
        assertEquals(0x6A82, runImage(card, seal(card, image("absent", 8, 64, 0, 0, 100, code)), new byte[0]).sw);
        // a stream INS, dst inside the data, too little room after dst: 6608 / 6603
        byte[] stream = b(0x11, 2, 0x10, 0x00, 0x40, 0x11, 0, 0x11, 0, 0x11, 0, 0x62, 0x00);
        assertEquals(0x6608, runImage(card, seal(card, image("stream", 8, 64, 0, 0, 100, stream)), new byte[0]).sw);
        byte[] overlap = b(0x11, 2, 0x10, 0x00, 0x34, 0x11, 0, 0x11, 8, 0x11, 4, 0x62, 0x00);
        assertEquals(0x6608, runImage(card, seal(card, image("overlap", 8, 64, 0, 0, 100, overlap)), new byte[0]).sw);
        byte[] small = b(0x11, 2, 0x10, 0x00, 0x34, 0x11, 0, 0x11, 0, 0x11, 40, 0x62, 0x00);
        assertEquals(0x6603, runImage(card, seal(card, image("small", 8, 64, 0, 0, 100, small)), new byte[0]).sw);
        // the card answers normally after each stop
        assertEquals(0x9000, runImage(card, sealed, b('a', 'b', 'c')).sw);
    }
}
