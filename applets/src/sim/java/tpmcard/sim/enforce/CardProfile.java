package tpmcard.sim.enforce;

import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Field;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import javacard.security.CryptoException;
import javacard.security.Key;
import javacard.security.KeyPair;
import tpmcard.sim.Json;

/**
 * A simulated card's profile: which algorithms the card has, its transient RAM and whether it has
 * JavaCard's optional int support (profiles.json beside this class, from JCAlgTest results; see
 * docs/simulator.md "Card profiles").
 *
 * <p>A new card takes its profile from the system property {@value #PROFILE_PROPERTY} or the
 * environment variable {@code TPMCARD_SIM_PROFILE} (child JVMs inherit it), else the file's
 * default ({@code full}); {@code tpmcard.sim.SimCard} keeps it in the card store.
 */
public final class CardProfile {
    /** System property naming the profile of new cards. */
    public static final String PROFILE_PROPERTY = "tpmcard.sim.profile";
    /** Environment variable naming the profile of new cards (when the property is not set). */
    public static final String PROFILE_ENV = "TPMCARD_SIM_PROFILE";

    private static final Map<String, CardProfile> PROFILES;
    private static final String DEFAULT;

    static {
        Map<String, Object> root;
        try (InputStream in = CardProfile.class.getResourceAsStream("profiles.json")) {
            if (in == null) {
                throw new IllegalStateException("profiles.json is missing from the simulator's jar");
            }
            root = cast(Json.parse(new String(in.readAllBytes(), StandardCharsets.UTF_8)));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        Map<String, CardProfile> profiles = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : CardProfile.<Map<String, Object>>cast(root.get("profiles")).entrySet()) {
            profiles.put(e.getKey(), new CardProfile(e.getKey(), cast(e.getValue())));
        }
        PROFILES = Collections.unmodifiableMap(profiles);
        DEFAULT = (String) root.get("default");
        if (!PROFILES.containsKey(DEFAULT)) {
            throw new IllegalStateException("profiles.json: the default profile " + DEFAULT + " is not defined");
        }
    }

    private final String name;
    private final String description;
    private final int transientRam;
    private final boolean intSupport;
    private final RamCosts costs;
    /** null: every algorithm jCardSim implements; else "Kind:constant" and "Kind:constant@bits". */
    private final Set<String> present;

    private CardProfile(String name, Map<String, Object> p) {
        this.name = name;
        this.description = (String) p.get("description");
        this.transientRam = ((Double) p.get("transient_ram")).intValue();
        this.intSupport = Boolean.TRUE.equals(p.get("int_support"));
        this.costs = RamCosts.of((String) p.get("ram_costs"));
        Object algorithms = p.get("algorithms");
        if ("all".equals(algorithms)) {
            present = null;
            return;
        }
        Set<String> set = new HashSet<>();
        for (Map.Entry<String, Object> kind : CardProfile.<Map<String, Object>>cast(algorithms).entrySet()) {
            Class<?> api = apiClass(kind.getKey());
            for (Object o : CardProfile.<List<Object>>cast(kind.getValue())) {
                String entry = (String) o;
                int at = entry.indexOf('@');
                String constant = at < 0 ? entry : entry.substring(0, at);
                byte value;
                try {
                    Field f = api.getField(constant);
                    value = f.getByte(null);
                } catch (NoSuchFieldException e) {
                    continue;  // a JCAlgTest row for an API newer than 3.0.5: no card code can ask for it
                } catch (IllegalAccessException | IllegalArgumentException e) {
                    throw new IllegalStateException("profiles.json, profile " + name + ": " + entry + " is not a byte constant of "
                            + api.getName(), e);
                }
                set.add(kind.getKey() + ":" + value + (at < 0 ? "" : entry.substring(at)));
            }
        }
        present = Collections.unmodifiableSet(set);
    }

    private static Class<?> apiClass(String kind) {
        switch (kind) {
            case "Cipher": return javacardx.crypto.Cipher.class;
            case "AEADCipher": return javacardx.crypto.AEADCipher.class;
            case "Signature": return javacard.security.Signature.class;
            case "MessageDigest": return javacard.security.MessageDigest.class;
            case "KeyAgreement": return javacard.security.KeyAgreement.class;
            case "RandomData": return javacard.security.RandomData.class;
            case "Checksum": return javacard.security.Checksum.class;
            case "KeyBuilder": return javacard.security.KeyBuilder.class;
            case "KeyPair": return javacard.security.KeyPair.class;
            default: throw new IllegalStateException("profiles.json names the unknown API class " + kind);
        }
    }

    @SuppressWarnings("unchecked")
    private static <T> T cast(Object o) {
        return (T) o;
    }

    /** The profile called {@code name}. */
    public static CardProfile named(String name) {
        CardProfile p = PROFILES.get(name.trim().toLowerCase(Locale.ROOT));
        if (p == null) {
            throw new IllegalArgumentException("unknown card profile '" + name + "' (profiles: "
                    + String.join(", ", PROFILES.keySet()) + ")");
        }
        return p;
    }

    /** The profile new cards take: {@value #PROFILE_PROPERTY}, else $TPMCARD_SIM_PROFILE, else the default. */
    public static CardProfile configured() {
        String s = configuredName();
        return named(s == null ? DEFAULT : s);
    }

    /** The profile named by the property or the environment, or null when neither names one. */
    public static String configuredName() {
        String s = System.getProperty(PROFILE_PROPERTY);  // set but empty: none (not the environment's)
        if (s == null) {
            s = System.getenv(PROFILE_ENV);
        }
        return s == null || s.isBlank() ? null : s.trim().toLowerCase(Locale.ROOT);
    }

    /** The names of every profile, in file order. */
    public static List<String> names() {
        return List.copyOf(PROFILES.keySet());
    }

    public String name() {
        return name;
    }

    public String description() {
        return description;
    }

    /** Transient RAM free for applets, bytes (CLEAR_ON_RESET and CLEAR_ON_DESELECT share it). */
    public int transientRam() {
        return transientRam;
    }

    /** Whether the card has JavaCard's optional int support (a CAP converted with int loads). */
    public boolean intSupport() {
        return intSupport;
    }

    /** Per-object memory figures of this card. */
    public RamCosts costs() {
        return costs;
    }

    /** Whether the card has every algorithm jCardSim implements. */
    public boolean hasAllAlgorithms() {
        return present == null;
    }

    /**
     * Whether the card has what {@code object} (just made by getInstance, buildKey or new KeyPair)
     * implements. Objects of other kinds (not crypto) are always present.
     */
    public boolean has(Object object) {
        if (present == null || object == null) {
            return true;
        }
        String key = keyOf(object);
        return key == null || present.contains(key);
    }

    /** Whether the card builds keys of KeyBuilder type {@code type} and {@code length} bits. */
    boolean hasKey(byte type, short length) {
        if (present == null) {
            return true;
        }
        return present.contains(Firewall.isTransientKeyType(type) ? "KeyBuilder:" + type : "KeyBuilder:" + type + "@" + length);
    }

    /**
     * Throw CryptoException.NO_SUCH_ALGORITHM, as the card's getInstance does, if the card lacks
     * it; {@code card} keeps why (jCardSim's install replaces the applet's exception).
     */
    void require(CardRules card, Object object) {
        if (!has(object)) {
            refuse(card, describe(keyOf(object)));
        }
    }

    /** Refuse {@code what} (e.g. "Signature ALG_HMAC_SHA_256") with NO_SUCH_ALGORITHM. */
    void refuse(CardRules card, String what) {
        card.refuse("CryptoException NO_SUCH_ALGORITHM: a " + name + " card has no " + what);
        CryptoException.throwIt(CryptoException.NO_SUCH_ALGORITHM);
    }

    /** "Kind:value[@bits]" as "Kind CONSTANT_NAME[ (bits bits)]". */
    static String describe(String key) {
        int colon = key.indexOf(':');
        String kind = key.substring(0, colon);
        String rest = key.substring(colon + 1);
        int at = rest.indexOf('@');
        byte value = Byte.parseByte(at < 0 ? rest : rest.substring(0, at));
        String constant = rest;
        for (Field f : apiClass(kind).getFields()) {
            try {
                if (f.getType() == byte.class && f.getByte(null) == value
                        && (f.getName().startsWith("ALG_") || f.getName().startsWith("TYPE_"))) {
                    constant = f.getName();
                    break;
                }
            } catch (IllegalAccessException e) {
                throw new IllegalStateException(e);
            }
        }
        return kind + " " + constant + (at < 0 ? "" : " (" + rest.substring(at + 1) + " bits)");
    }

    private static String keyOf(Object o) {
        if (o instanceof javacardx.crypto.AEADCipher) {
            return "AEADCipher:" + ((javacardx.crypto.AEADCipher) o).getAlgorithm();
        } else if (o instanceof javacardx.crypto.Cipher) {
            return "Cipher:" + ((javacardx.crypto.Cipher) o).getAlgorithm();
        } else if (o instanceof javacard.security.Signature) {
            return "Signature:" + ((javacard.security.Signature) o).getAlgorithm();
        } else if (o instanceof javacard.security.MessageDigest) {
            return "MessageDigest:" + ((javacard.security.MessageDigest) o).getAlgorithm();
        } else if (o instanceof javacard.security.KeyAgreement) {
            return "KeyAgreement:" + ((javacard.security.KeyAgreement) o).getAlgorithm();
        } else if (o instanceof javacard.security.Checksum) {
            return "Checksum:" + ((javacard.security.Checksum) o).getAlgorithm();
        } else if (o instanceof javacard.security.RandomData) {
            return null;  // jCardSim's RandomData does not tell its algorithm; every card has SECURE_RANDOM
        } else if (o instanceof Key) {
            Key k = (Key) o;
            byte type = Firewall.keyType(k);
            return Firewall.isTransientKeyType(type) ? "KeyBuilder:" + type : "KeyBuilder:" + type + "@" + k.getSize();
        } else if (o instanceof KeyPair) {
            Key pub = ((KeyPair) o).getPublic();
            if (pub == null) {
                return null;
            }
            byte type = pub.getType();
            byte alg = type == javacard.security.KeyBuilder.TYPE_EC_FP_PUBLIC ? KeyPair.ALG_EC_FP
                    : type == javacard.security.KeyBuilder.TYPE_RSA_PUBLIC ? KeyPair.ALG_RSA
                    : type == javacard.security.KeyBuilder.TYPE_EC_F2M_PUBLIC ? KeyPair.ALG_EC_F2M
                    : type == javacard.security.KeyBuilder.TYPE_DSA_PUBLIC ? KeyPair.ALG_DSA : -1;
            if (alg == KeyPair.ALG_RSA && ((KeyPair) o).getPrivate() != null
                    && ((KeyPair) o).getPrivate().getType() == javacard.security.KeyBuilder.TYPE_RSA_CRT_PRIVATE) {
                alg = KeyPair.ALG_RSA_CRT;
            }
            return "KeyPair:" + alg + "@" + pub.getSize();
        }
        return null;
    }

    @Override
    public String toString() {
        return name;
    }
}
