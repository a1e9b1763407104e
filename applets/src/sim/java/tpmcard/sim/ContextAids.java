package tpmcard.sim;

import com.licel.jcardsim.base.SimulatorRuntime;
import java.util.Map;
import javacard.framework.AID;
import javacard.framework.Applet;
import tpmcard.sim.enforce.Firewall;

/**
 * The AIDs the JCRE names the calling context by, which jCardSim 3.0.6.0 takes from the selected
 * applet instead: the client AID of getShareableInterfaceObject (JCRE spec 3.0.5 §6.2.7.2) and
 * JCSystem.getPreviousContextAID. Contexts are the {@link Firewall}'s (packages); a runtime
 * (SimRuntime, the JUnit harnesses' own) asks here with its applet table.
 */
public final class ContextAids {
    private ContextAids() {}

    /** The client AID for a Shareable lookup made now: the active context's applet, or {@code selected}. */
    public static AID client(Map<AID, SimulatorRuntime.ApplicationInstance> applets, AID selected) {
        AID client = appletOf(applets, Firewall.activeContext());
        return client != null ? client : selected;
    }

    /** The applet of the context that called the active one, or null outside such a call. */
    public static AID previous(Map<AID, SimulatorRuntime.ApplicationInstance> applets) {
        return appletOf(applets, Firewall.previousContext());
    }

    /** The AID of the first applet instance whose class is in package {@code context}, or null. */
    static AID appletOf(Map<AID, SimulatorRuntime.ApplicationInstance> applets, String context) {
        if (context == null) {
            return null;
        }
        for (Map.Entry<AID, SimulatorRuntime.ApplicationInstance> entry : applets.entrySet()) {
            Applet applet = entry.getValue().getApplet();
            Package p = applet == null ? null : applet.getClass().getPackage();
            if (p != null && p.getName().equals(context)) {
                return entry.getKey();
            }
        }
        return null;
    }
}
