package tpmcard.core;

import com.licel.jcardsim.base.Simulator;
import com.licel.jcardsim.base.SimulatorRuntime;
import com.licel.jcardsim.utils.AIDUtil;
import java.io.ByteArrayOutputStream;
import java.lang.reflect.Field;
import java.security.GeneralSecurityException;
import java.util.Arrays;
import javacard.framework.AID;
import javacard.framework.Applet;
import javax.crypto.Cipher;
import javax.crypto.spec.IvParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * A simulated card with the real CoreApplet and the suite's services (the mobile TPM, the
 * algorithm providers), and a host half of secure messaging, so JUnit tests send protected
 * commands (INVOKE among them) through CoreApplet.process() exactly as the host library does.
 *
 * <p>The session is opened as SESSION AUTH leaves it (SecureChannel keys and MAC chain, the
 * verified host PCRs, a new session id), set through reflection: the handshake needs a TPM quote
 * and runs end to end with swtpm in tests/sim/test_binding.py and tests/mtpm. Everything after
 * that — reassembly, unwrap, dispatch, INVOKE, the service, wrap — is the card's own code.
 */
public final class ServiceCard {
    static final String MTPM_AID = "F074706D63020001";

    /** A runtime whose applet instances the test can reach. */
    static final class Runtime extends SimulatorRuntime {
        Applet applet(AID aid) {
            return getApplet(aid);
        }

        /** The calling context's AIDs, as a card names them (tpmcard.sim.ContextAids). */
        @Override
        public javacard.framework.Shareable getSharedObject(AID serverAid, byte parameter) {
            Applet server = getApplet(serverAid);
            return server == null ? null
                    : server.getShareableInterfaceObject(tpmcard.sim.ContextAids.client(applets, getAID()), parameter);
        }

        @Override
        public AID getPreviousContextAID() {
            return tpmcard.sim.ContextAids.previous(applets);
        }
    }

    final Runtime runtime = new Runtime();
    final Simulator simulator = new Simulator(runtime);
    final AID coreAid = AIDUtil.create(Manifest.core().appletAid);
    private byte[] sEnc;
    private byte[] sMac;
    private byte[] sRmac;
    private byte[] chain;
    private final byte[] counter = new byte[16];

    /** Core, mobile TPM and the v1 providers, each with its own install entropy. */
    public static ServiceCard installed(byte[] entropy) {
        return installed(entropy, false);
    }

    /**
     * As {@link #installed(byte[])}; with {@code softwareProviders} the providers get the install
     * option that makes them run software even where jCardSim has the algorithm (32 bytes of
     * entropy, then ProviderConstants.INSTALL_OPTION_SOFTWARE).
     */
    public static ServiceCard installed(byte[] entropy, boolean softwareProviders) {
        ServiceCard card = new ServiceCard();
        card.install(Manifest.core().appletAid, CoreApplet.class, entropy);
        card.install(MTPM_AID, tpmcard.mtpm.MtpmApplet.class, entropy);
        if (softwareProviders) {
            entropy = Arrays.copyOf(entropy, tpmcard.algorithms.ProviderConstants.MAX_INSTALL_PARAMS);
            entropy[entropy.length - 1] = tpmcard.algorithms.ProviderConstants.INSTALL_OPTION_SOFTWARE;
        }
        card.install("F074706D63030101", tpmcard.alg.aesgcm.AesGcmProvider.class, entropy);
        card.install("F074706D63030201", tpmcard.alg.sha3.Sha3Provider.class, entropy);
        card.install("F074706D63030301", tpmcard.alg.hmac.HmacProvider.class, entropy);
        card.install("F074706D63030401", tpmcard.alg.chacha.ChaChaProvider.class, entropy);
        card.install("F074706D63030501", tpmcard.alg.ecdsa.EcdsaProvider.class, entropy);
        card.install("F074706D63031301", tpmcard.alg.hmac.v2.HmacProviderV2.class, entropy);
        return card;
    }

    void install(String aidHex, Class<? extends Applet> cls, byte[] entropy) {
        AID aid = AIDUtil.create(aidHex);
        byte[] params = SimulatedCard.installParameters(aid, new byte[0], entropy);
        simulator.installApplet(aid, cls, params, (short) 0, (byte) params.length);
    }

    /** Power off and on: RAM cleared, any session ended, persistent state kept. */
    public void powerCycle() {
        simulator.reset();
    }

    /** The TPMS_CLOCK_INFO a session opened by {@link #openSession(byte[])} carries. */
    public static final byte[] DEFAULT_CLOCK_INFO = {0, 0, 0, 0, 0, 0x01, 0x02, 0x03, 0, 0, 0, 0x05, 0, 0, 0, 0x01, 1};

    /** SELECT the core applet (ends any session) and open a new one with these host PCRs 0..8. */
    public void openSession(byte[] hostPcrs) {
        openSession(hostPcrs, DEFAULT_CLOCK_INFO);
    }

    /**
     * SELECT the core applet (ends any session) and open a new one with these host PCRs 0..8 and
     * this TPMS_CLOCK_INFO (17 bytes), as if the handshake's quote had carried them.
     */
    public void openSession(byte[] hostPcrs, byte[] clockInfo) {
        simulator.selectApplet(coreAid);
        byte[] keys = new byte[48];
        new java.security.SecureRandom().nextBytes(keys);
        sEnc = Arrays.copyOfRange(keys, 0, 16);
        sMac = Arrays.copyOfRange(keys, 16, 32);
        sRmac = Arrays.copyOfRange(keys, 32, 48);
        chain = new byte[16];
        new java.security.SecureRandom().nextBytes(chain);
        Arrays.fill(counter, (byte) 0);
        try {
            BindingHandler binding = (BindingHandler) field(CoreApplet.class, "binding").get(runtime.applet(coreAid));
            // What SESSION INIT and SESSION AUTH do once the keys are agreed and the quote checked:
            // the session keys into the channel, then the host PCRs, the TPM clock and a new id,
            // and the channel starts.
            ((SecureChannel) field(BindingHandler.class, "channel").get(binding)).load(keys, (short) 0);
            binding.openSession(hostPcrs, (short) 0, clockInfo, (short) 0, chain, (short) 0);
        } catch (ReflectiveOperationException e) {
            throw new AssertionError("cannot open a session on the core applet", e);
        }
    }

    short sessionId() {
        try {
            return ((BindingHandler) field(CoreApplet.class, "binding").get(runtime.applet(coreAid))).sessionId();
        } catch (ReflectiveOperationException e) {
            throw new AssertionError(e);
        }
    }

    /** The open session's TPM clock, as the core hands it to a service (HostPcrs.copyClock). */
    byte[] sessionClock() {
        byte[] clock = new byte[HostPcrs.CLOCK_INFO_LENGTH];
        try {
            ((BindingHandler) field(CoreApplet.class, "binding").get(runtime.applet(coreAid))).copyClock(clock, (short) 0);
        } catch (ReflectiveOperationException e) {
            throw new AssertionError(e);
        }
        return clock;
    }

    private static Field field(Class<?> cls, String name) throws NoSuchFieldException {
        Field f = cls.getDeclaredField(name);
        f.setAccessible(true);
        return f;
    }

    /** A plain APDU (no secure messaging), extended form. */
    Response transmit(int cla, int ins, int p1, int p2, byte[] data) {
        return new Response(simulator.transmitCommand(Apdu.extendedForm(cla, ins, p1, p2, data, 65536)));
    }

    /**
     * A protected command (CLA 84): wrapped as the host does, sent extended, and its response
     * unwrapped: the inner data and status word. An outer status word other than 9000 (the card
     * refused the secure messaging itself) comes back as is.
     */
    Response sendProtected(int ins, int p1, int p2, byte[] data) {
        return sendProtected(0x84, ins, p1, p2, data);
    }

    /** As {@link #sendProtected(int, int, int, byte[])} with this class byte (04: ISO, 84: proprietary). */
    Response sendProtected(int cla, int ins, int p1, int p2, byte[] data) {
        try {
            for (int i = 15; i >= 12 && ++counter[i] == 0; i--) {
                // carry into the next byte of the 4-byte counter
            }
            byte[] cipher = new byte[0];
            if (data.length > 0) {
                cipher = cbc(Cipher.ENCRYPT_MODE, iv((byte) 0x00), pad(data));
            }
            byte[] header = {(byte) cla, (byte) ins, (byte) p1, (byte) p2,
                (byte) ((cipher.length + 8) >> 8), (byte) (cipher.length + 8)};
            byte[] mac = cmac(sMac, chain, header, cipher);
            chain = mac;
            byte[] wrapped = concat(cipher, Arrays.copyOf(mac, 8));
            Response outer = new Response(simulator.transmitCommand(
                    Apdu.extendedForm(cla, ins, p1, p2, wrapped, 65536)));
            if (outer.sw != (short) 0x9000) {
                return outer;
            }
            byte[] c = Arrays.copyOf(outer.data, outer.data.length - 8);
            byte[] rmac = cmac(sRmac, chain, c, new byte[] {(byte) 0x90, 0x00});
            if (!Arrays.equals(Arrays.copyOf(rmac, 8), Arrays.copyOfRange(outer.data, c.length, outer.data.length))) {
                throw new AssertionError("response MAC");
            }
            byte[] plain = cbc(Cipher.DECRYPT_MODE, iv((byte) 0x80), c);
            int end = plain.length - 1;
            while (plain[end] == 0) {
                end--;
            }
            return new Response(Arrays.copyOf(plain, end));
        } catch (GeneralSecurityException e) {
            throw new AssertionError(e);
        }
    }

    /** INVOKE: {@code aidLen | AID | ins | p1 | p2 | payload}, protected. */
    Response invoke(String aidHex, int ins, int p1, int p2, byte[] payload) {
        byte[] aid = Hex.decode(aidHex);
        return sendProtected(Constants.INS_INVOKE, 0, 0,
                concat(new byte[] {(byte) aid.length}, aid, new byte[] {(byte) ins, (byte) p1, (byte) p2}, payload));
    }

    /** {@link #invoke} for tests outside this package: the inner response data, then its SW. */
    public byte[] invokeRaw(String aidHex, int ins, int p1, int p2, byte[] payload) {
        Response r = invoke(aidHex, ins, p1, p2, payload);
        return concat(r.data, new byte[] {(byte) (r.sw >> 8), (byte) r.sw});
    }

    private byte[] iv(byte first) throws GeneralSecurityException {
        byte[] block = counter.clone();
        block[0] = first;
        Cipher ecb = Cipher.getInstance("AES/ECB/NoPadding");
        ecb.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(sEnc, "AES"));
        return ecb.doFinal(block);
    }

    private byte[] cbc(int mode, byte[] iv, byte[] data) throws GeneralSecurityException {
        Cipher cbc = Cipher.getInstance("AES/CBC/NoPadding");
        cbc.init(mode, new SecretKeySpec(sEnc, "AES"), new IvParameterSpec(iv));
        return cbc.doFinal(data);
    }

    private static byte[] pad(byte[] data) {
        int n = (data.length / 16 + 1) * 16;
        byte[] out = Arrays.copyOf(data, n);
        out[data.length] = (byte) 0x80;
        return out;
    }

    /** AES-CMAC (RFC 4493) over the concatenated parts, 16 bytes. */
    /** AES-CMAC (RFC 4493) of the parts, concatenated; the test-side reference for the card's CMAC. */
    static byte[] cmac(byte[] key, byte[]... parts) throws GeneralSecurityException {
        Cipher aes = Cipher.getInstance("AES/ECB/NoPadding");
        aes.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key, "AES"));
        byte[] k1 = doubled(aes.doFinal(new byte[16]));
        byte[] k2 = doubled(k1);
        byte[] m = concat(parts);
        int blocks = Math.max(1, (m.length + 15) / 16);
        boolean complete = m.length > 0 && m.length % 16 == 0;
        byte[] last = complete ? Arrays.copyOfRange(m, m.length - 16, m.length) : pad(Arrays.copyOfRange(m, (blocks - 1) * 16, m.length));
        byte[] sub = complete ? k1 : k2;
        byte[] x = new byte[16];
        for (int b = 0; b < blocks - 1; b++) {
            for (int i = 0; i < 16; i++) {
                x[i] ^= m[b * 16 + i];
            }
            x = aes.doFinal(x);
        }
        for (int i = 0; i < 16; i++) {
            x[i] ^= (byte) (last[i] ^ sub[i]);
        }
        return aes.doFinal(x);
    }

    private static byte[] doubled(byte[] l) {
        byte[] out = new byte[16];
        for (int i = 0; i < 16; i++) {
            out[i] = (byte) ((l[i] << 1) | (i < 15 ? (l[i + 1] & 0xFF) >>> 7 : 0));
        }
        if ((l[0] & 0x80) != 0) {
            out[15] ^= (byte) 0x87;
        }
        return out;
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.write(p, 0, p.length);
        }
        return out.toByteArray();
    }
}
