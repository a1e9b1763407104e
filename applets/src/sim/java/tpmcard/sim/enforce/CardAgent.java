package tpmcard.sim.enforce;

import java.lang.instrument.ClassFileTransformer;
import java.lang.instrument.Instrumentation;
import java.security.ProtectionDomain;

/**
 * The Java agent that makes every JVM hosting simulated cards load card code rewritten
 * ({@code -javaagent:tpmcard-applets.jar}; the jar's manifest names this class). One mechanism for
 * every path: JUnit (gradle's test task), the host's in-process card (JPype, see
 * host/tpmcard/transport/jcardsim.py) and {@code tpmcard.sim.VpcdCard} behind PC/SC. Classes keep
 * their own class loader, so package-private access from tests, kryo's class resolution in the card
 * store and JPype's class lookup all see the one, rewritten, class.
 */
public final class CardAgent {
    private CardAgent() {}

    public static void premain(String args, Instrumentation instrumentation) {
        CardInstrumentation.activate();
        instrumentation.addTransformer(new ClassFileTransformer() {
            @Override
            public byte[] transform(ClassLoader loader, String className, Class<?> redefined,
                                    ProtectionDomain domain, byte[] bytes) {
                if (className == null || redefined != null) {
                    return null;
                }
                return CardInstrumentation.transform(className, domain, bytes);
            }
        });
    }
}
