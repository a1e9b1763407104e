package tpmcard.sim.enforce;

import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import javacard.security.Key;

/**
 * Per-object memory figures of a card profile (a properties file beside this class, named by
 * profiles.json: j3r180-memory.properties has the NXP JCOP4 J3R180's and j3h145-memory.properties
 * the NXP JCOP3 J3H145's, each from JCAlgTest, with its source and which figures are estimates).
 * The simulator's RAM rule charges crypto objects at these figures, and SuiteRamTest counts the
 * suite with them, per profile.
 *
 * <p>Persistent bytes of plain objects and arrays are an estimate of ours, documented here:
 * an object header of {@value #OBJECT_HEADER} bytes plus its fields (1 byte per byte/boolean, 2 per
 * short/char/reference, 4 per int/float, 8 per long/double); an array header of
 * {@value #ARRAY_HEADER} bytes plus its elements (references 2 bytes each). A transient array costs
 * its header in persistent memory and its elements in RAM.
 */
public final class RamCosts {
    public static final int OBJECT_HEADER = 8;
    public static final int ARRAY_HEADER = 8;

    private static final Map<String, Integer> OBJECT_SIZES = new ConcurrentHashMap<>();
    private static final Map<String, RamCosts> TABLES = new ConcurrentHashMap<>();

    private final String resource;
    private final Map<String, int[]> costs = new HashMap<>();

    private RamCosts(String resource) {
        this.resource = resource;
        Properties p = new Properties();
        try (InputStream in = RamCosts.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException(resource + " is missing from the simulator's jar");
            }
            p.load(in);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        for (String name : p.stringPropertyNames()) {
            String[] v = p.getProperty(name).trim().split("\\s+");
            if (name.startsWith("budget.")) {
                continue;  // the budget is the profile's (profiles.json); these lines document the source
            }
            int[] cost = {Integer.parseInt(v[0]), Integer.parseInt(v[1])};
            if (name.startsWith("default.")) {
                costs.put(name, cost);
                continue;
            }
            String length = "";
            int at = name.indexOf('@');
            if (at >= 0) {
                length = name.substring(at);
                name = name.substring(0, at);
            }
            int dot = name.lastIndexOf('.');
            String cls = name.substring(0, dot);
            try {
                Field f = Class.forName(cls, false, RamCosts.class.getClassLoader()).getField(name.substring(dot + 1));
                costs.put(cls.substring(cls.lastIndexOf('.') + 1) + ":" + f.getByte(null) + length, cost);
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException(resource + " names " + name + ", which the JavaCard API lacks", e);
            }
        }
    }

    /** The figures in the properties file {@code resource} beside this class (read once). */
    static RamCosts of(String resource) {
        return TABLES.computeIfAbsent(resource, RamCosts::new);
    }

    /** The file these figures come from. */
    public String resource() {
        return resource;
    }

    /** Content bytes of a primitive or reference array. */
    static int arrayBytes(Object array) {
        if (array instanceof byte[]) {
            return ((byte[]) array).length;
        } else if (array instanceof boolean[]) {
            return ((boolean[]) array).length;
        } else if (array instanceof short[]) {
            return 2 * ((short[]) array).length;
        } else if (array instanceof char[]) {
            return 2 * ((char[]) array).length;
        } else if (array instanceof int[]) {
            return 4 * ((int[]) array).length;
        } else if (array instanceof Object[]) {
            return 2 * ((Object[]) array).length;
        }
        return 8 * java.lang.reflect.Array.getLength(array);
    }

    /** Estimated persistent bytes of an instance of the card class {@code internalName}. */
    static int objectBytes(String internalName) {
        return OBJECT_SIZES.computeIfAbsent(internalName, RamCosts::computeObjectBytes);
    }

    private static int computeObjectBytes(String internalName) {
        int size = OBJECT_HEADER;
        try {
            for (Class<?> c = Class.forName(internalName.replace('/', '.'), false, RamCosts.class.getClassLoader());
                 c != null && c != Object.class; c = c.getSuperclass()) {
                if (!c.getName().startsWith("tpmcard.")) {
                    break;  // javacard.* base classes: their state is the JCRE's
                }
                for (Field f : c.getDeclaredFields()) {
                    if (!Modifier.isStatic(f.getModifiers())) {
                        size += fieldBytes(f.getType());
                    }
                }
            }
        } catch (ClassNotFoundException | LinkageError e) {
            // unknown class: the header only
        }
        return size;
    }

    private static int fieldBytes(Class<?> t) {
        if (t == byte.class || t == boolean.class) {
            return 1;
        } else if (t == int.class || t == float.class) {
            return 4;
        } else if (t == long.class || t == double.class) {
            return 8;
        }
        return 2;
    }

    /** RAM bytes of a crypto object on this card (0 for anything else, and for the suite's software engines). */
    public int ramOf(Object object) {
        int[] c = costOf(object);
        return c == null ? 0 : c[0];
    }

    /** Persistent bytes of a crypto object. */
    int persistentOf(Object object) {
        int[] c = costOf(object);
        return c == null ? OBJECT_HEADER : c[1];
    }

    private int[] costOf(Object o) {
        if (o.getClass().getName().startsWith("tpmcard.")) {
            // The suite's own software engines (AesCmac, AesGcmSoftware, Sha3Software subclass the
            // API's classes): what they take is their arrays and inner objects, counted on their own.
            return null;
        }
        if (o instanceof javacardx.crypto.AEADCipher) {
            return lookup("AEADCipher", ((javacardx.crypto.AEADCipher) o).getAlgorithm(), "", "Cipher");
        } else if (o instanceof javacardx.crypto.Cipher) {
            return lookup("Cipher", ((javacardx.crypto.Cipher) o).getAlgorithm(), "", "Cipher");
        } else if (o instanceof javacard.security.Signature) {
            return lookup("Signature", ((javacard.security.Signature) o).getAlgorithm(), "", "Signature");
        } else if (o instanceof javacard.security.MessageDigest) {
            return lookup("MessageDigest", ((javacard.security.MessageDigest) o).getAlgorithm(), "", "MessageDigest");
        } else if (o instanceof javacard.security.KeyAgreement) {
            return lookup("KeyAgreement", ((javacard.security.KeyAgreement) o).getAlgorithm(), "", "KeyAgreement");
        } else if (o instanceof javacard.security.RandomData) {
            return costs.get("default.RandomData");
        } else if (o instanceof javacard.security.Checksum) {
            return lookup("Checksum", ((javacard.security.Checksum) o).getAlgorithm(), "", "Checksum");
        } else if (o instanceof Key) {
            Key k = (Key) o;
            byte type = Firewall.keyType(k);
            int[] c = costs.get("KeyBuilder:" + type);
            return c != null ? c : lookup("KeyBuilder", type, "@" + k.getSize(), "Key");
        } else if (o instanceof javacard.security.KeyPair) {
            javacard.security.KeyPair p = (javacard.security.KeyPair) o;
            Key pub = p.getPublic();
            if (pub != null && pub.getType() == javacard.security.KeyBuilder.TYPE_EC_FP_PUBLIC) {
                return lookup("KeyPair", javacard.security.KeyPair.ALG_EC_FP, "@" + pub.getSize(), "KeyPair");
            }
            return costs.get("default.KeyPair");
        }
        return null;
    }

    private int[] lookup(String kind, byte algorithm, String length, String fallback) {
        int[] c = costs.get(kind + ":" + algorithm + length);
        return c != null ? c : costs.get("default." + fallback);
    }
}
