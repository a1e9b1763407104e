package tpmcard.sim;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.zip.CRC32C;

/**
 * A fingerprint of the instance fields of a class and its superclasses (declaring class, name,
 * type, in declaration order). Kryo's field serializer reads fields back in the order it wrote
 * them, without names, so a store written by a build whose classes had other fields would be
 * misread silently; the store header records this fingerprint for every class it holds.
 */
final class ClassLayout {
    private static final ConcurrentHashMap<Class<?>, Integer> CACHE = new ConcurrentHashMap<>();

    private ClassLayout() {}

    static int fingerprint(Class<?> type) {
        return CACHE.computeIfAbsent(type, ClassLayout::compute);
    }

    /** Every instance field of the class and its superclasses, superclass fields first. */
    static List<Field> instanceFields(Class<?> type) {
        List<Class<?>> chain = new ArrayList<>();
        for (Class<?> c = type; c != null && c != Object.class; c = c.getSuperclass()) {
            chain.add(0, c);
        }
        List<Field> fields = new ArrayList<>();
        for (Class<?> c : chain) {
            for (Field f : c.getDeclaredFields()) {
                if (!Modifier.isStatic(f.getModifiers())) {
                    fields.add(f);
                }
            }
        }
        return fields;
    }

    private static int compute(Class<?> type) {
        StringBuilder sb = new StringBuilder(type.getName());
        if (!type.isArray()) {
            for (Field f : instanceFields(type)) {
                sb.append(';').append(f.getDeclaringClass().getName()).append('.').append(f.getName())
                        .append(':').append(f.getType().getName());
            }
        }
        CRC32C crc = new CRC32C();
        crc.update(sb.toString().getBytes(StandardCharsets.UTF_8));
        return (int) crc.getValue();
    }
}
