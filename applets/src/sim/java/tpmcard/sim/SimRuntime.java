package tpmcard.sim;

import com.licel.jcardsim.base.SimulatorRuntime;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import javacard.framework.AID;
import javacard.framework.Applet;

/**
 * jCardSim's runtime with the hooks the card store needs: the applet table and the transient
 * memory of this runtime (never the JVM-wide default runtime).
 */
final class SimRuntime extends SimulatorRuntime {
    private final SimTransientMemory memory;

    SimRuntime(SimTransientMemory memory) {
        super(memory);
        this.memory = memory;
    }

    SimTransientMemory memory() {
        return memory;
    }

    /**
     * Make this runtime the one JCSystem calls reach on the current thread. jCardSim keeps the
     * current runtime in a ThreadLocal; JPype may call us from any Python thread.
     */
    void activate() {
        activateSimulatorRuntimeInstance();
    }

    /** The installed applet instances in AID order. */
    List<Map.Entry<AID, Applet>> instances() {
        List<Map.Entry<AID, Applet>> out = new ArrayList<>();
        for (Map.Entry<AID, ApplicationInstance> e : applets.entrySet()) {
            out.add(Map.entry(e.getKey(), e.getValue().getApplet()));
        }
        return out;
    }

    boolean hasInstance(AID aid) {
        return lookupApplet(aid) != null;
    }

    boolean isLoaded(AID appletAid) {
        return generatedLoadFileAIDs.containsKey(appletAid);
    }

    /** Replace every applet instance without running uninstall(): the card is being restored. */
    void replaceInstances(List<Map.Entry<AID, Applet>> instances) {
        applets.clear();
        for (Map.Entry<AID, Applet> e : instances) {
            applets.put(e.getKey(), new ApplicationInstance(e.getKey(), e.getValue()));
        }
    }

    /** Power-on state: nothing selected, no transaction, transient memory zeroed. */
    void powerOn() {
        reset();
        selecting = false;
        usingExtendedAPDUs = false;
        previousActiveObject = null;
    }
}
