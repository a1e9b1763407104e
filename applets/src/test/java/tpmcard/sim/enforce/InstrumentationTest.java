package tpmcard.sim.enforce;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import org.junit.Test;

/** The agent is installed in the test JVM and rewrites card code, not host code. */
public class InstrumentationTest {
    @Test
    public void cardClassesAreRewrittenTestClassesAreNot() {
        assertTrue(CardInstrumentation.isActive());
        assertTrue(CardInstrumentation.isRewritten(tpmcard.core.CoreApplet.class));
        assertTrue(CardInstrumentation.isRewritten(tpmcard.lib.P256.class));
        assertFalse(CardInstrumentation.isRewritten(tpmcard.core.EchoTest.class));
        assertFalse(CardInstrumentation.isRewritten(InstrumentationTest.class));
        assertEquals(java.util.List.of(), CardInstrumentation.failures());
    }
}
