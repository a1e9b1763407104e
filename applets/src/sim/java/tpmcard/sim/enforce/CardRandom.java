package tpmcard.sim.enforce;

import com.licel.jcardsim.base.SimulatorRuntime;
import com.licel.jcardsim.base.SimulatorSystem;
import com.licel.jcardsim.bouncycastle.crypto.prng.RandomGenerator;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Collections;
import java.util.HexFormat;
import java.util.Map;
import java.util.WeakHashMap;

/**
 * Each simulated card's source of randomness: jCardSim's generators are seeded from it (see
 * {@link SimulatorPatches}), once when built and again when the card store restores them.
 *
 * <p>Default: the OS ({@link SecureRandom}), so two simulated cards never share random bytes or
 * ECDSA nonces. A fixed seed (per card: {@link #useFixedSeed}; for every card of the JVM: system
 * property {@code tpmcard.sim.seed} or environment {@code TPMCARD_SIM_SEED}, hex or text) makes a
 * card's randomness a function of the seed and the order of its draws: only for known-answer tests.
 */
public final class CardRandom {
    /** System property (or environment variable {@code TPMCARD_SIM_SEED}) with a JVM-wide fixed seed. */
    public static final String SEED_PROPERTY = "tpmcard.sim.seed";

    private static final Map<SimulatorRuntime, Source> SOURCES = Collections.synchronizedMap(new WeakHashMap<>());

    private CardRandom() {}

    /** Called by jCardSim's patched generator constructors: 32 bytes of the current card's seed. */
    public static void seed(RandomGenerator engine) {
        engine.addSeedMaterial(next(32));
    }

    /** {@code n} bytes from the source of the card whose runtime is current on this thread. */
    public static byte[] next(int n) {
        byte[] out = new byte[n];
        sourceOf(SimulatorSystem.instance()).fill(out);
        return out;
    }

    /** Make {@code runtime}'s card draw from {@code seed} (a known-answer test). */
    public static void useFixedSeed(SimulatorRuntime runtime, byte[] seed) {
        SOURCES.put(runtime, new Source(seed.clone()));
    }

    /** Make {@code runtime}'s card draw from the OS (the default without {@code tpmcard.sim.seed}). */
    public static void useSystemEntropy(SimulatorRuntime runtime) {
        SOURCES.put(runtime, new Source(null));
    }

    /** Block {@code index} (32 bytes) of a fixed-seed card's stream: what its index-th generator is seeded with. */
    public static byte[] fixedSeedBlock(byte[] seed, long index) {
        Source s = new Source(seed.clone());
        s.counter = index;
        byte[] out = new byte[32];
        s.fill(out);
        return out;
    }

    /** The JVM-wide fixed seed, or null. */
    static byte[] configuredSeed() {
        String s = System.getProperty(SEED_PROPERTY);
        if (s == null || s.isEmpty()) {
            s = System.getenv("TPMCARD_SIM_SEED");
        }
        if (s == null || s.isEmpty()) {
            return null;
        }
        try {
            return HexFormat.of().parseHex(s);
        } catch (IllegalArgumentException e) {
            return s.getBytes(StandardCharsets.UTF_8);
        }
    }

    private static Source sourceOf(SimulatorRuntime runtime) {
        synchronized (SOURCES) {
            Source s = SOURCES.get(runtime);
            if (s == null) {
                s = new Source(configuredSeed());
                SOURCES.put(runtime, s);
            }
            return s;
        }
    }

    /** The OS, or SHA-256(seed || counter) blocks for a fixed seed. */
    private static final class Source {
        private final SecureRandom system;
        private final byte[] seed;
        private long counter;

        Source(byte[] seed) {
            this.seed = seed;
            this.system = seed == null ? new SecureRandom() : null;
        }

        synchronized void fill(byte[] out) {
            if (system != null) {
                system.nextBytes(out);
                return;
            }
            try {
                MessageDigest sha = MessageDigest.getInstance("SHA-256");
                for (int o = 0; o < out.length; o += 32) {
                    sha.update(seed);
                    for (int i = 7; i >= 0; i--) {
                        sha.update((byte) (counter >>> (8 * i)));
                    }
                    counter++;
                    byte[] block = sha.digest();
                    System.arraycopy(block, 0, out, o, Math.min(32, out.length - o));
                }
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException(e);
            }
        }
    }
}
