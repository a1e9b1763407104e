package tpmcard.sim.enforce;

import java.io.File;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.CodeSource;
import java.security.ProtectionDomain;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.ClassVisitor;
import org.objectweb.asm.ClassWriter;

/**
 * Which classes are card code, and the ordered list of {@link ClassRewriter}s applied to them as
 * they are loaded (by {@link CardAgent}).
 *
 * <p>Card code: every class of a {@code tpmcard.*} package except {@code tpmcard.sim.*} (the
 * simulator) and except host code: classes whose code source is listed in the system property
 * {@code tpmcard.sim.hostCode} (path-separated; gradle's test task lists the test classes). Test-only
 * card code (applets planted by tests) lives in {@code tpmcard.testcard.*} and is card code wherever
 * it comes from.
 *
 * <p>Order: the first rewriter of {@link #rewriters()} sees the original bytecode, its output goes
 * to the second, and so on; the last one's output goes to the class writer.
 */
public final class CardInstrumentation {
    private static final List<ClassRewriter> REWRITERS = new CopyOnWriteArrayList<>(defaultRewriters());
    private static final Set<String> REWRITTEN = ConcurrentHashMap.newKeySet();
    private static final List<String> FAILURES = new CopyOnWriteArrayList<>();
    private static final List<Path> HOST_CODE = hostCode();
    private static volatile boolean active;

    private CardInstrumentation() {}

    /**
     * The rewriters of every card class, in order. Add a rewriter here (one line per rewriter);
     * its position decides what it sees (see the class comment).
     */
    private static List<ClassRewriter> defaultRewriters() {
        List<ClassRewriter> list = new ArrayList<>();
        list.add(new FirewallRewriter());  // firewall, ownership, RAM charges, crypto factories
        return list;
    }

    /** The rewriters in the order they apply (a snapshot). */
    public static List<ClassRewriter> rewriters() {
        return Collections.unmodifiableList(new ArrayList<>(REWRITERS));
    }

    /** Whether the agent is installed in this JVM (card classes loaded from now on are rewritten). */
    public static boolean isActive() {
        return active;
    }

    static void activate() {
        active = true;
    }

    /** Whether {@code type} was loaded through the rewriters. */
    public static boolean isRewritten(Class<?> type) {
        return REWRITTEN.contains(type.getName().replace('.', '/'));
    }

    /** Card classes whose rewriting failed (they were loaded unchanged), with the reason. */
    public static List<String> failures() {
        return Collections.unmodifiableList(new ArrayList<>(FAILURES));
    }

    /**
     * Check that {@code type} (an applet about to be installed) runs rewritten.
     *
     * @throws IllegalStateException naming the missing JVM option or the failed rewrite
     */
    public static void requireRewritten(Class<?> type) {
        if (isRewritten(type) || type.getName().startsWith("tpmcard.sim.")) {
            return;  // the simulator's own probe applets are not card code
        }
        if (!active) {
            throw new IllegalStateException("card class " + type.getName() + " is not instrumented: start the JVM "
                    + "with -javaagent:<tpmcard-applets.jar> (docs/simulator.md)");
        }
        throw new IllegalStateException("card class " + type.getName() + " was not rewritten"
                + (FAILURES.isEmpty() ? " (loaded before the agent, or from host code)" : ": " + FAILURES));
    }

    /** Whether the class {@code internalName} from {@code domain} is card code. */
    public static boolean isCardClass(String internalName, ProtectionDomain domain) {
        if (!internalName.startsWith("tpmcard/") || internalName.startsWith("tpmcard/sim/")) {
            return false;
        }
        if (internalName.startsWith("tpmcard/testcard/")) {
            return true;
        }
        return !isHostCode(domain);
    }

    private static boolean isHostCode(ProtectionDomain domain) {
        if (HOST_CODE.isEmpty() || domain == null) {
            return false;
        }
        CodeSource source = domain.getCodeSource();
        if (source == null || source.getLocation() == null) {
            return false;
        }
        try {
            Path p = Paths.get(source.getLocation().toURI()).toAbsolutePath().normalize();
            return HOST_CODE.contains(p);
        } catch (URISyntaxException | IllegalArgumentException e) {
            return false;
        }
    }

    private static List<Path> hostCode() {
        String s = System.getProperty("tpmcard.sim.hostCode", "");
        List<Path> out = new ArrayList<>();
        for (String e : s.split(File.pathSeparator)) {
            if (!e.isEmpty()) {
                out.add(Paths.get(e).toAbsolutePath().normalize());
            }
        }
        return out;
    }

    /** Rewrite {@code bytes} if the class is card code; null (unchanged) otherwise. */
    static byte[] transform(String internalName, ProtectionDomain domain, byte[] bytes) {
        try {
            if (isCardClass(internalName, domain)) {
                byte[] out = rewrite(internalName, bytes, REWRITERS);
                REWRITTEN.add(internalName);
                return out;
            }
            return SimulatorPatches.transform(internalName, bytes);
        } catch (RuntimeException | LinkageError e) {
            FAILURES.add(internalName + ": " + e);
            e.printStackTrace();
            return null;
        }
    }

    /** Apply {@code rewriters} in order to one class file. */
    public static byte[] rewrite(String internalName, byte[] bytes, List<ClassRewriter> rewriters) {
        ClassReader reader = new ClassReader(bytes);
        ClassWriter writer = new ClassWriter(reader, ClassWriter.COMPUTE_MAXS);
        ClassVisitor cv = writer;
        for (int i = rewriters.size() - 1; i >= 0; i--) {
            cv = rewriters.get(i).wrap(cv, internalName);
        }
        reader.accept(cv, 0);
        return writer.toByteArray();
    }
}
