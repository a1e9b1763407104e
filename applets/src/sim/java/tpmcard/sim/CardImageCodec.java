package tpmcard.sim;

import com.licel.jcardsim.bouncycastle.crypto.Digest;
import com.licel.jcardsim.bouncycastle.crypto.Signer;
import com.licel.jcardsim.bouncycastle.math.ec.ECCurve;
import com.licel.jcardsim.bouncycastle.math.ec.ECPoint;
import com.licel.jcardsim.bouncycastle.crypto.prng.RandomGenerator;
import com.licel.jcardsim.crypto.ByteContainer;
import com.licel.jcardsim.esotericsoftware.kryo.Kryo;
import com.licel.jcardsim.esotericsoftware.kryo.KryoException;
import com.licel.jcardsim.esotericsoftware.kryo.Registration;
import com.licel.jcardsim.esotericsoftware.kryo.Serializer;
import com.licel.jcardsim.esotericsoftware.kryo.SerializerFactory;
import com.licel.jcardsim.esotericsoftware.kryo.io.Input;
import com.licel.jcardsim.esotericsoftware.kryo.io.Output;
import com.licel.jcardsim.esotericsoftware.kryo.serializers.DefaultArraySerializers;
import com.licel.jcardsim.esotericsoftware.kryo.serializers.FieldSerializer;
import com.licel.jcardsim.esotericsoftware.kryo.util.DefaultClassResolver;
import com.licel.jcardsim.esotericsoftware.kryo.util.DefaultInstantiatorStrategy;
import com.licel.jcardsim.esotericsoftware.kryo.util.MapReferenceResolver;
import com.licel.jcardsim.objenesis.instantiator.ObjectInstantiator;
import com.licel.jcardsim.objenesis.strategy.InstantiatorStrategy;
import com.licel.jcardsim.objenesis.strategy.StdInstantiatorStrategy;
import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.lang.reflect.InaccessibleObjectException;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javacard.framework.AID;
import javacard.framework.Applet;
import javacard.framework.JCSystem;
import tpmcard.sim.enforce.CardRandom;

/**
 * Turns the card's applet instances into bytes and back: one kryo object graph for all applets,
 * so references shared between applets stay shared.
 *
 * <p>What a real card keeps in RAM never reaches the bytes (JC 3.0.5 API, JCSystem and the
 * Cipher/Signature/Key class notes on tear and reset):
 * <ul>
 *   <li>transient arrays (JCSystem.makeTransient*Array) are written as (type, length, clear event)
 *       and come back zeroed, registered with the same clear event, as at power-on;</li>
 *   <li>keys with transient key data come back uninitialized ("a key with transient key data sets
 *       its initialized state to false on the associated clear events");</li>
 *   <li>symmetric Cipher/MAC/AEAD objects and message digests come back as freshly built objects of
 *       the same algorithm: their engines hold expanded session keys and partial hashes, and
 *       jCardSim does not record which key initialised them;</li>
 *   <li>asymmetric Signature and KeyAgreement objects keep their initialisation only when their key
 *       is persistent (the spec's "state it was in when previously initialized").</li>
 * </ul>
 */
final class CardImageCodec {
    /** The classes a store mentions by name, with their field-layout fingerprints (0: not field-based). */
    static final class Encoded {
        final byte[] buffer;
        final int length;
        final Map<String, Integer> classes;

        Encoded(byte[] buffer, int length, Map<String, Integer> classes) {
            this.buffer = buffer;
            this.length = length;
            this.classes = classes;
        }
    }

    private final SimRuntime runtime;
    private final RecordingClassResolver classResolver = new RecordingClassResolver();
    private final Kryo kryo;
    private final Output output = new Output(64 * 1024, -1);

    CardImageCodec(SimRuntime runtime, ClassLoader loader) {
        this.runtime = runtime;
        kryo = new Kryo(classResolver, new MapReferenceResolver());
        kryo.setClassLoader(loader);
        kryo.setRegistrationRequired(false);
        kryo.setReferences(true);
        // JDK classes: run a no-arg constructor where one exists (collections need theirs).
        // Everything else (applets, jCardSim's crypto objects): allocate without a constructor,
        // as jCardSim's PersistentSimulatorRuntime does. Kryo's constructor path generates
        // accessor classes in another class loader, which cannot reach jCardSim's
        // package-private classes (IllegalAccessError on KeyAgreementImpl$ECDHFullAgreement).
        final InstantiatorStrategy jdk = new DefaultInstantiatorStrategy(new StdInstantiatorStrategy());
        final InstantiatorStrategy plain = new StdInstantiatorStrategy();
        kryo.setInstantiatorStrategy(new InstantiatorStrategy() {
            @Override
            public <T> ObjectInstantiator<T> newInstantiatorOf(Class<T> type) {
                String name = type.getName();
                boolean fromJdk = name.startsWith("java.") || name.startsWith("javax.");
                return (fromJdk ? jdk : plain).newInstantiatorOf(type);
            }
        });
        FieldSerializer.FieldSerializerConfig config = new FieldSerializer.FieldSerializerConfig();
        config.setSerializeTransient(true);  // a snapshot of the heap, Java-transient fields too
        kryo.setDefaultSerializer(new SerializerFactory.FieldSerializerFactory(config));

        SimTransientMemory memory = runtime.memory();
        kryo.register(byte[].class, new TransientAwareArraySerializer(memory, byte[].class,
                new DefaultArraySerializers.ByteArraySerializer()));
        kryo.register(short[].class, new TransientAwareArraySerializer(memory, short[].class,
                new DefaultArraySerializers.ShortArraySerializer()));
        kryo.register(boolean[].class, new TransientAwareArraySerializer(memory, boolean[].class,
                new DefaultArraySerializers.BooleanArraySerializer()));
        kryo.register(Object[].class, new TransientAwareArraySerializer(memory, Object[].class,
                new DefaultArraySerializers.ObjectArraySerializer(kryo, Object[].class)));
        kryo.register(ByteContainer.class, new ByteContainerSerializer());

        // A plain JDK SecureRandom (BC falls back to one when given none) is not card state.
        kryo.addDefaultSerializer(SecureRandom.class, new SystemSecureRandomSerializer());
        kryo.register(jcardsimClass("com.licel.jcardsim.crypto.SecureRandomNullProvider"),
                new NullProviderSerializer());

        // BouncyCastle's EC points and curves are immutable values except for two lazily built
        // caches. Leaving the caches out keeps the store small and lets StateWatch treat the
        // whole math package as immutable (BC rebuilds both on first use).
        kryo.addDefaultSerializer(ECCurve.class, new WithoutField(config, "multiplier"));
        kryo.addDefaultSerializer(ECPoint.class, new WithoutField(config, "preCompTable"));

        String crypto = "com.licel.jcardsim.crypto.";
        for (String name : new String[] {"SymmetricCipherImpl", "SymmetricSignatureImpl",
                "AuthenticatedSymmetricCipherImpl", "AsymmetricCipherImpl", "MessageDigestImpl"}) {
            registerCrypto(crypto + name, config, null);
        }
        registerCrypto(crypto + "AsymmetricSignatureImpl", config, "key");
        Class<?> randomData = jcardsimClass(crypto + "RandomDataImpl");
        kryo.register(randomData, new ReseededOnRead(kryo, randomData, config));
        registerCrypto(crypto + "KeyAgreementImpl", config, "privateKey");
    }

    private void registerCrypto(String className, FieldSerializer.FieldSerializerConfig config,
                                String keyField) {
        Class<?> type = jcardsimClass(className);
        kryo.register(type, new CryptoObjectSerializer(kryo, type, config, keyField, runtime));
    }

    /** Encode the instances. The returned buffer is reused by the next call. */
    Encoded encode(List<Map.Entry<AID, Applet>> instances) {
        classResolver.written.clear();
        output.reset();
        try {
            output.writeVarInt(instances.size(), true);
            Object[] applets = new Object[instances.size()];
            byte[] aidBytes = new byte[16];
            for (int i = 0; i < applets.length; i++) {
                AID aid = instances.get(i).getKey();
                byte n = aid.getBytes(aidBytes, (short) 0);
                output.writeByte(n);
                output.writeBytes(aidBytes, 0, n);
                applets[i] = instances.get(i).getValue();
            }
            kryo.writeClassAndObject(output, applets);
            output.flush();
        } catch (KryoException | IllegalStateException e) {
            throw notPersistable(e);
        }
        return new Encoded(output.getBuffer(), output.position(), new LinkedHashMap<>(classResolver.written));
    }

    /** Check every class the store names still has the fields it had when the store was written. */
    void checkClasses(Map<String, Integer> classes) {
        for (Map.Entry<String, Integer> e : classes.entrySet()) {
            Class<?> type;
            try {
                type = Class.forName(e.getKey(), false, kryo.getClassLoader());
            } catch (ClassNotFoundException | LinkageError ex) {
                throw new SimCardException(SimCardException.Kind.INCOMPATIBLE,
                        "the card store needs class " + e.getKey() + ", which this build does not have");
            }
            if (e.getValue() != 0 && ClassLayout.fingerprint(type) != e.getValue()) {
                throw new SimCardException(SimCardException.Kind.INCOMPATIBLE,
                        "class " + e.getKey() + " has other fields than when the card store was written");
            }
        }
    }

    /** Decode instances written by {@link #encode}; transient arrays come back zeroed. */
    List<Map.Entry<AID, Applet>> decode(byte[] payload) {
        runtime.activate();
        try (Input input = new Input(payload)) {
            int n = input.readVarInt(true);
            List<AID> aids = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                int len = input.readByte();
                aids.add(new AID(input.readBytes(len), (short) 0, (byte) len));
            }
            Object[] applets = (Object[]) kryo.readClassAndObject(input);
            if (applets == null || applets.length != n) {
                throw new SimCardException(SimCardException.Kind.CORRUPT, "applet table and instances disagree");
            }
            List<Map.Entry<AID, Applet>> out = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                out.add(Map.entry(aids.get(i), (Applet) applets[i]));
            }
            return out;
        } catch (KryoException | ClassCastException | IndexOutOfBoundsException e) {
            throw new SimCardException(SimCardException.Kind.CORRUPT,
                    "the card store's object graph cannot be read (" + rootMessage(e) + ")", e);
        }
    }

    private static SimCardException notPersistable(RuntimeException e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof InaccessibleObjectException) {
                // "... module java.base does not "opens java.util" to unnamed module ..."
                String m = String.valueOf(t.getMessage());
                String hint = "";
                int i = m.indexOf("does not \"opens ");
                if (i >= 0) {
                    int j = m.indexOf('"', i + 16);
                    String[] parts = m.substring(i + 16, j).split(" ");
                    int mod = m.indexOf("module ");
                    String module = mod >= 0 ? m.substring(mod + 7, m.indexOf(' ', mod + 7)) : "java.base";
                    hint = "; add --add-opens " + module + "/" + parts[parts.length - 1]
                            + "=ALL-UNNAMED to SimCard.requiredJvmArgs()";
                }
                return new SimCardException(SimCardException.Kind.NOT_PERSISTABLE,
                        "the card's state holds a JDK object the store cannot reach (" + m + ")" + hint, e);
            }
        }
        return new SimCardException(SimCardException.Kind.NOT_PERSISTABLE,
                "the card's state cannot be serialised (" + rootMessage(e) + ")", e);
    }

    static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        String m = t.getMessage();
        return t.getClass().getSimpleName() + (m == null ? "" : ": " + m.lines().findFirst().orElse(""));
    }

    static Class<?> jcardsimClass(String name) {
        try {
            return Class.forName(name, false, CardImageCodec.class.getClassLoader());
        } catch (ClassNotFoundException e) {
            throw new SimCardException(SimCardException.Kind.INCOMPATIBLE,
                    "jCardSim class " + name + " is missing: the card store supports jCardSim 3.0.6.0", e);
        }
    }

    static Field field(Class<?> type, String name) {
        for (Class<?> c = type; c != null; c = c.getSuperclass()) {
            try {
                Field f = c.getDeclaredField(name);
                f.setAccessible(true);
                return f;
            } catch (NoSuchFieldException e) {
                // look in the superclass
            }
        }
        throw new SimCardException(SimCardException.Kind.INCOMPATIBLE,
                type.getName() + "." + name + " is missing: the card store supports jCardSim 3.0.6.0");
    }

    /** A field serializer that leaves one cache field out (it comes back null). */
    private static final class WithoutField extends SerializerFactory.BaseSerializerFactory<FieldSerializer<?>> {
        private final FieldSerializer.FieldSerializerConfig config;
        private final String field;

        WithoutField(FieldSerializer.FieldSerializerConfig config, String field) {
            this.config = config;
            this.field = field;
        }

        @Override
        @SuppressWarnings({"rawtypes", "unchecked"})
        public FieldSerializer<?> newSerializer(Kryo kryo, Class type) {
            FieldSerializer<?> s = new FieldSerializer(kryo, type, config);
            s.removeField(field);
            return s;
        }
    }

    /** Records every class kryo names in the stream, with its layout fingerprint. */
    private static final class RecordingClassResolver extends DefaultClassResolver {
        final Map<String, Integer> written = new LinkedHashMap<>();

        @Override
        @SuppressWarnings("rawtypes")  // kryo's signature
        protected void writeName(Output output, Class type, Registration registration) {
            if (!written.containsKey(type.getName())) {
                boolean fieldBased = registration.getSerializer() instanceof FieldSerializer
                        || registration.getSerializer() instanceof ByteContainerSerializer;
                written.put(type.getName(), fieldBased ? ClassLayout.fingerprint(type) : 0);
            }
            super.writeName(output, type, registration);
        }
    }

    /** Primitive and Object arrays: content only when persistent, else (event, length). */
    private static final class TransientAwareArraySerializer extends Serializer<Object> {
        private final SimTransientMemory memory;
        private final Class<?> type;
        @SuppressWarnings("rawtypes")
        private final Serializer plain;

        @SuppressWarnings("rawtypes")
        TransientAwareArraySerializer(SimTransientMemory memory, Class<?> type, Serializer plain) {
            this.memory = memory;
            this.type = type;
            this.plain = plain;
        }

        @Override
        @SuppressWarnings("unchecked")
        public void write(Kryo kryo, Output output, Object array) {
            byte event = memory.eventOf(array);
            output.writeByte(event);
            if (event != JCSystem.NOT_A_TRANSIENT_OBJECT) {
                output.writeVarInt(java.lang.reflect.Array.getLength(array), true);
            } else {
                plain.write(kryo, output, array);
            }
        }

        @Override
        @SuppressWarnings("unchecked")
        public Object read(Kryo kryo, Input input, Class<?> ignored) {
            byte event = input.readByte();
            if (event == JCSystem.NOT_A_TRANSIENT_OBJECT) {
                return plain.read(kryo, input, type);
            }
            if (event != JCSystem.CLEAR_ON_RESET && event != JCSystem.CLEAR_ON_DESELECT) {
                throw new KryoException("bad transient event " + event);
            }
            int length = input.readVarInt(true);
            if (type == byte[].class) {
                return memory.makeByteArray(length, event);
            } else if (type == short[].class) {
                return memory.makeShortArray((short) length, event);
            } else if (type == boolean[].class) {
                return memory.makeBooleanArray((short) length, event);
            }
            return memory.makeObjectArray((short) length, event);
        }
    }

    /** jCardSim key data: a container of transient memory comes back empty (key uninitialized). */
    private static final class ByteContainerSerializer extends Serializer<ByteContainer> {
        private static final Field DATA = field(ByteContainer.class, "data");
        private static final Field MEMORY_TYPE = field(ByteContainer.class, "memoryType");
        private static final Field LENGTH = field(ByteContainer.class, "length");

        @Override
        public void write(Kryo kryo, Output output, ByteContainer container) {
            try {
                byte memoryType = MEMORY_TYPE.getByte(container);
                output.writeByte(memoryType);
                output.writeShort(memoryType == JCSystem.MEMORY_TYPE_PERSISTENT ? LENGTH.getShort(container) : 0);
                kryo.writeObjectOrNull(output, DATA.get(container), byte[].class);
            } catch (IllegalAccessException e) {
                throw new KryoException(e);
            }
        }

        @Override
        public ByteContainer read(Kryo kryo, Input input, Class<? extends ByteContainer> type) {
            byte memoryType = input.readByte();
            short length = input.readShort();
            ByteContainer container = new ByteContainer(memoryType);
            kryo.reference(container);
            try {
                LENGTH.setShort(container, length);
                DATA.set(container, kryo.readObjectOrNull(input, byte[].class));
            } catch (IllegalAccessException e) {
                throw new KryoException(e);
            }
            return container;
        }
    }

    /**
     * jCardSim's deterministic SecureRandom: only the generator inside its service provider is
     * state. Reached through Unsafe so that no --add-opens java.base/java.security is needed.
     */
    private static final class NullProviderSerializer extends Serializer<SecureRandom> {
        private static final Field SPI = jdkField(SecureRandom.class, "secureRandomSpi");
        private final Class<?> type = jcardsimClass("com.licel.jcardsim.crypto.SecureRandomNullProvider");
        private final Constructor<?> constructor;
        private final Field engine = field(jcardsimClass("com.licel.jcardsim.crypto.SecureRandomNullProvider$1"), "engine");

        NullProviderSerializer() {
            try {
                constructor = type.getDeclaredConstructor();
                constructor.setAccessible(true);
            } catch (NoSuchMethodException e) {
                throw new SimCardException(SimCardException.Kind.INCOMPATIBLE, "unexpected jCardSim SecureRandom", e);
            }
        }

        @Override
        public void write(Kryo kryo, Output output, SecureRandom random) {
            try {
                kryo.writeClassAndObject(output, engine.get(Unsafe.getObject(random, SPI)));
            } catch (IllegalAccessException e) {
                throw new KryoException(e);
            }
        }

        @Override
        public SecureRandom read(Kryo kryo, Input input, Class<? extends SecureRandom> ignored) {
            try {
                SecureRandom random = (SecureRandom) constructor.newInstance();
                kryo.reference(random);
                Object generator = kryo.readClassAndObject(input);
                engine.set(Unsafe.getObject(random, SPI), generator);
                // Two processes restoring one store must not replay the same bytes: fresh seed.
                CardRandom.seed((RandomGenerator) generator);
                return random;
            } catch (ReflectiveOperationException e) {
                throw new KryoException(e);
            }
        }

        private static Field jdkField(Class<?> type, String name) {
            try {
                return type.getDeclaredField(name);  // read through Unsafe, never setAccessible
            } catch (NoSuchFieldException e) {
                throw new ExceptionInInitializerError(e);
            }
        }
    }

    /** RandomData: its generator state is kept, and fresh seed added on restore (see CardRandom). */
    private static final class ReseededOnRead extends FieldSerializer<Object> {
        private final Field engine;

        ReseededOnRead(Kryo kryo, Class<?> type, FieldSerializerConfig config) {
            super(kryo, type, config);
            engine = field(type, "engine");
        }

        @Override
        public Object read(Kryo kryo, Input input, Class<?> type) {
            Object object = super.read(kryo, input, type);
            try {
                CardRandom.seed((RandomGenerator) engine.get(object));
            } catch (IllegalAccessException e) {
                throw new KryoException(e);
            }
            return object;
        }
    }

    /** Any other SecureRandom: the platform's, reseeded by the OS; nothing to keep. */
    private static final class SystemSecureRandomSerializer extends Serializer<SecureRandom> {
        @Override
        public void write(Kryo kryo, Output output, SecureRandom random) {
            // nothing: a fresh platform generator is created on restore
        }

        @Override
        public SecureRandom read(Kryo kryo, Input input, Class<? extends SecureRandom> type) {
            return new SecureRandom();
        }
    }

    /**
     * jCardSim crypto objects. Written either field by field or as "a fresh object of algorithm
     * A" (see the class comment for which).
     */
    private static final class CryptoObjectSerializer extends FieldSerializer<Object> {
        private final Field algorithm;
        private final Field key;              // null: always written fresh
        private final Constructor<?> constructor;
        private final SimRuntime runtime;
        private final Field signerEngine;     // AsymmetricSignatureImpl: reset on restore
        private final Field signerDigest;

        CryptoObjectSerializer(Kryo kryo, Class<?> type, FieldSerializerConfig config, String keyField,
                               SimRuntime runtime) {
            super(kryo, type, config);
            this.runtime = runtime;
            this.algorithm = field(type, "algorithm");
            this.key = keyField == null ? null : field(type, keyField);
            boolean signature = type.getSimpleName().equals("AsymmetricSignatureImpl");
            this.signerEngine = signature ? field(type, "engine") : null;
            this.signerDigest = signature ? field(type, "digest") : null;
            try {
                this.constructor = type.getConstructor(byte.class);
            } catch (NoSuchMethodException e) {
                throw new SimCardException(SimCardException.Kind.INCOMPATIBLE,
                        type.getName() + "(byte) is missing: the card store supports jCardSim 3.0.6.0", e);
            }
        }

        @Override
        public void write(Kryo kryo, Output output, Object object) {
            boolean fresh;
            try {
                fresh = key == null || KeyData.isTransient(key.get(object));
                output.writeBoolean(fresh);
                if (fresh) {
                    output.writeByte(algorithm.getByte(object));
                    return;
                }
            } catch (IllegalAccessException e) {
                throw new KryoException(e);
            }
            super.write(kryo, output, object);
        }

        @Override
        public Object read(Kryo kryo, Input input, Class<?> type) {
            if (input.readBoolean()) {
                byte alg = input.readByte();
                runtime.activate();  // constructors may allocate transient arrays
                try {
                    return constructor.newInstance(alg);
                } catch (ReflectiveOperationException e) {
                    throw new KryoException("cannot rebuild " + type.getName() + " for algorithm " + alg, e);
                }
            }
            Object object = super.read(kryo, input, type);
            if (signerEngine != null) {
                // JC 3.0.5 Signature: a tear or reset returns it to the state right after init().
                try {
                    Object engine = signerEngine.get(object);
                    if (engine instanceof Signer) {
                        ((Signer) engine).reset();
                    }
                    Object digest = signerDigest.get(object);
                    if (digest instanceof Digest) {
                        ((Digest) digest).reset();
                    }
                } catch (IllegalAccessException e) {
                    throw new KryoException(e);
                }
            }
            return object;
        }
    }

    /** Whether a jCardSim key keeps its data in transient memory. */
    static final class KeyData {
        private static final Map<Class<?>, Field[]> CONTAINERS = new java.util.concurrent.ConcurrentHashMap<>();
        private static final Field MEMORY_TYPE = field(ByteContainer.class, "memoryType");

        private KeyData() {}

        static boolean isTransient(Object key) throws IllegalAccessException {
            if (key == null) {
                return false;
            }
            for (Field f : CONTAINERS.computeIfAbsent(key.getClass(), KeyData::containerFields)) {
                Object c = f.get(key);
                if (c != null && MEMORY_TYPE.getByte(c) != JCSystem.MEMORY_TYPE_PERSISTENT) {
                    return true;
                }
            }
            return false;
        }

        private static Field[] containerFields(Class<?> type) {
            List<Field> out = new ArrayList<>();
            for (Field f : ClassLayout.instanceFields(type)) {
                if (f.getType() == ByteContainer.class) {
                    f.setAccessible(true);
                    out.add(f);
                }
            }
            return out.toArray(new Field[0]);
        }
    }

    static byte[] copy(Encoded e) {
        return Arrays.copyOf(e.buffer, e.length);
    }
}
