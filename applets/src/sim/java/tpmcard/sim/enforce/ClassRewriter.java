package tpmcard.sim.enforce;

import org.objectweb.asm.ClassVisitor;

/**
 * One bytecode rewrite applied to every card class as it is loaded (see {@link CardInstrumentation}).
 *
 * <p>The extension point of the simulator's enforcement: the firewall, the RAM budget and the
 * persistent-write hooks (transactions, power loss) are each one rewriter. Contract:
 * <ul>
 *   <li>{@link #wrap} returns a visitor that forwards to {@code next}, or {@code next} itself when
 *       the class needs nothing from this rewriter;</li>
 *   <li>the class writer recomputes max stack and locals (COMPUTE_MAXS) but not stack map frames:
 *       a rewriter keeps the frames valid (replace an instruction by a call with the same stack
 *       effect, or emit explicit frames for any branch or handler it adds);</li>
 *   <li>a rewriter must not add fields (the card store fingerprints field layouts) and must not
 *       load classes while rewriting (it runs inside class loading).</li>
 * </ul>
 */
public interface ClassRewriter {
    /**
     * @param next the visitor to forward to (the next rewriter, or the class writer)
     * @param className internal name of the class being rewritten, e.g. {@code tpmcard/core/CoreApplet}
     */
    ClassVisitor wrap(ClassVisitor next, String className);
}
