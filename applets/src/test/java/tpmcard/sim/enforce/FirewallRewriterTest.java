package tpmcard.sim.enforce;

import static org.junit.Assert.assertEquals;

import java.io.InputStream;
import java.util.List;
import org.junit.Test;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.tree.AbstractInsnNode;
import org.objectweb.asm.tree.ClassNode;
import org.objectweb.asm.tree.MethodInsnNode;
import org.objectweb.asm.tree.MethodNode;

/** What FirewallRewriter inserts, read back from the rewritten bytecode. */
public class FirewallRewriterTest {
    private static ClassNode rewritten(Class<?> type) throws Exception {
        String name = type.getName().replace('.', '/');
        byte[] original;
        try (InputStream in = type.getClassLoader().getResourceAsStream(name + ".class")) {
            original = in.readAllBytes();
        }
        byte[] out = CardInstrumentation.rewrite(name, original, List.of(new FirewallRewriter()));
        ClassNode node = new ClassNode();
        new ClassReader(out).accept(node, 0);
        return node;
    }

    private static int hooks(ClassNode node, String method, String hook) {
        int n = 0;
        for (MethodNode m : node.methods) {
            if (!m.name.equals(method)) {
                continue;
            }
            for (AbstractInsnNode i : m.instructions) {
                if (i instanceof MethodInsnNode && ((MethodInsnNode) i).owner.equals("tpmcard/sim/enforce/Firewall")
                        && ((MethodInsnNode) i).name.equals(hook)) {
                    n++;
                }
            }
        }
        return n;
    }

    @Test
    public void classInitialisersAllocateUnownedArrays() throws Exception {
        ClassNode table = rewritten(tpmcard.testcard.shared.SharedTable.class);
        assertEquals(0, hooks(table, "<clinit>", "newArray"));
        assertEquals("the stores that fill it are still checked", 4, hooks(table, "<clinit>", "write"));
        ClassNode server = rewritten(tpmcard.testcard.server.ServerApplet.class);
        assertEquals("persistent and scalar arrays of the constructor", 2, hooks(server, "<init>", "newArray"));
    }

    @Test
    public void entryPointsEnterAndLeaveTheirContext() throws Exception {
        ClassNode server = rewritten(tpmcard.testcard.server.ServerApplet.class);
        assertEquals(1, hooks(server, "process", "enter"));
        assertEquals(1, hooks(server, "install", "enterStatic"));
        assertEquals("Shareable method", 1, hooks(server, "peek", "enter"));
        assertEquals("on return and in the handler for a throw", 2, hooks(server, "peek", "exit"));
        assertEquals(0, hooks(server, "<init>", "enter"));
    }
}
