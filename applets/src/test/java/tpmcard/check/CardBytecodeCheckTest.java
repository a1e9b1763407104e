package tpmcard.check;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.BeforeClass;
import org.junit.Test;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.tree.ClassNode;
import org.objectweb.asm.tree.MethodNode;
import tpmcard.check.CardBytecodeCheck.Rule;
import tpmcard.check.CardBytecodeCheck.Violation;
import tpmcard.sim.Json;

/**
 * The bytecode check (CardBytecodeCheck) passes on the card packages of applets/manifest.json and
 * refuses each construct planted in applets/src/planted: each planted class breaks one rule (its
 * comment quotes what Oracle's converter answers, where the converter is the judge), and the clean
 * planted classes pass.
 */
public class CardBytecodeCheckTest {
    private static List<Violation> planted;

    private static Path property(String name) {
        String value = System.getProperty(name);
        if (value == null) {
            throw new IllegalStateException("system property " + name + " is not set; run the tests through gradle");
        }
        return Path.of(value);
    }

    @SuppressWarnings("unchecked")
    static List<CardBytecodeCheck.Package> packages(Path manifest) throws IOException {
        Map<String, Object> root = (Map<String, Object>) Json.parse(Files.readString(manifest, StandardCharsets.UTF_8));
        List<CardBytecodeCheck.Package> out = new ArrayList<>();
        for (Object p : (List<Object>) root.get("packages")) {
            Map<String, Object> pkg = (Map<String, Object>) p;
            out.add(new CardBytecodeCheck.Package((String) pkg.get("java_package"),
                    !((List<Object>) pkg.get("applets")).isEmpty(), Boolean.TRUE.equals(pkg.get("int_support"))));
        }
        return out;
    }

    @BeforeClass
    public static void checkPlanted() throws IOException {
        planted = CardBytecodeCheck.check(property("tpmcard.plantedClasses"), packages(property("tpmcard.plantedManifest")));
    }

    private static List<Violation> of(String className) {
        String internal = className.replace('.', '/');
        return planted.stream().filter(v -> v.className.equals(internal)).collect(Collectors.toList());
    }

    private static void assertRefused(String className, Rule rule) {
        List<Violation> found = of(className);
        assertTrue(className + " should break " + rule + "; found " + found,
                found.stream().anyMatch(v -> v.rule == rule));
    }

    private static void assertPasses(String className) {
        assertEquals(className + " should pass", List.of(), of(className));
    }

    @Test
    public void cardPackagesPass() throws IOException {
        List<Violation> found = CardBytecodeCheck.check(property("tpmcard.cardClasses"), packages(property("tpmcard.manifest")));
        assertEquals("violations in the card packages:\n" + found.stream().map(Violation::toString)
                .collect(Collectors.joining("\n")), 0, found.size());
    }

    /** The manifest's order is the conversion and load order: each package after those it uses. */
    @Test
    public void manifestListsPackagesInDependencyOrder() throws IOException {
        List<CardBytecodeCheck.Package> packages = packages(property("tpmcard.manifest"));
        Map<String, java.util.Set<String>> imports = CardBytecodeCheck.imports(property("tpmcard.cardClasses"), packages);
        List<String> seen = new ArrayList<>();
        for (CardBytecodeCheck.Package p : packages) {
            for (String used : imports.getOrDefault(p.name, java.util.Set.of())) {
                assertTrue(p.name + " uses " + used + ", which the manifest lists after it", seen.contains(used));
            }
            seen.add(p.name);
        }
        assertTrue(imports.get("tpmcard/core").contains("tpmcard/algorithms"));   // the order this fixed
        assertTrue(imports.get("tpmcard/mtpm").contains("tpmcard/lib"));
    }

    @Test
    public void staticInitialisers() {
        assertRefused("planted.lib.StaticArray", Rule.STATIC_ARRAY_IN_LIBRARY);
        assertRefused("planted.lib.ClinitCall", Rule.CALL_IN_CLINIT);
        assertEquals(1, of("planted.lib.ClinitCall").size());   // not also an allocation
        assertPasses("planted.lib.Clean");
        assertPasses("planted.app.PlantedApplet");              // a static array in an applet package
    }

    @Test
    public void references() {
        assertRefused("planted.user.UsesHelper", Rule.FOREIGN_REFERENCE);
        assertRefused("planted.user.ExtendsHelper", Rule.FOREIGN_REFERENCE);
        assertPasses("planted.user.UserApplet");   // a Shareable interface and a public library class
        assertPasses("planted.lib.HiddenUser");    // a non-public class of its own package
        assertPasses("planted.app.Helper");
    }

    @Test
    public void stringLongFloatDouble() {
        assertRefused("planted.misc.StringUse", Rule.STRING);
        assertRefused("planted.misc.LongUse", Rule.LONG_FLOAT_DOUBLE);
        assertRefused("planted.intok.LongInIntPackage", Rule.LONG_FLOAT_DOUBLE);
        List<Violation> floats = of("planted.misc.FloatUse");
        assertTrue(floats.toString(), floats.stream().anyMatch(v -> v.member.startsWith("half(")
                && v.rule == Rule.LONG_FLOAT_DOUBLE));
        assertTrue(floats.toString(), floats.stream().anyMatch(v -> v.member.startsWith("third(")
                && v.rule == Rule.LONG_FLOAT_DOUBLE));
    }

    @Test
    public void intTypes() {
        List<Violation> found = of("planted.misc.IntField");
        assertTrue(found.toString(), found.stream().anyMatch(v -> v.member.equals("counter") && v.rule == Rule.INT_TYPE));
        assertTrue(found.toString(), found.stream().anyMatch(v -> v.member.equals("table") && v.rule == Rule.INT_TYPE));
        assertPasses("planted.intok.IntArithmetic");   // its package declares int support
    }

    /** Each method of IntRefused was refused by Oracle's converter on its own, each of IntAccepted converted. */
    @Test
    public void intArithmeticAgreesWithTheConverter() throws IOException {
        List<String> refused = methods("planted.ints.IntRefused");
        assertTrue(refused.size() >= 15);
        for (String method : refused) {
            List<Violation> found = of("planted.ints.IntRefused").stream()
                    .filter(v -> v.member.equals(method)).collect(Collectors.toList());
            assertFalse(method + " should be refused", found.isEmpty());
            for (Violation v : found) {
                assertTrue(v.toString(), v.rule == Rule.INT_ARITHMETIC || v.rule == Rule.INT_CONSTANT);
            }
        }
        assertTrue(methods("planted.ints.IntAccepted").size() >= 40);
        assertPasses("planted.ints.IntAccepted");
    }

    @Test
    public void allocationOnlyAtInstall() {
        List<Violation> found = of("planted.alloc.AllocApplet");
        List<String> members = found.stream().filter(v -> v.rule == Rule.ALLOCATION_AFTER_INSTALL)
                .map(v -> v.member.substring(0, v.member.indexOf('('))).sorted().collect(Collectors.toList());
        assertEquals(List.of("cryptoObject", "key", "newArray", "newObject", "reused", "transientArray"), members);
        assertEquals(members.size(), found.size());
    }

    /** The names and descriptors of a planted class's static methods. */
    private static List<String> methods(String className) throws IOException {
        Path file = property("tpmcard.plantedClasses").resolve(className.replace('.', '/') + ".class");
        ClassNode node = new ClassNode();
        new ClassReader(Files.readAllBytes(file)).accept(node, 0);
        List<String> out = new ArrayList<>();
        for (MethodNode m : node.methods) {
            if (!m.name.startsWith("<")) {
                out.add(m.name + m.desc);
            }
        }
        return out;
    }
}
