package tpmcard.sim;

import com.licel.jcardsim.base.SimulatorRuntime;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import javacard.framework.AID;
import javacard.framework.Applet;
import javacard.framework.Shareable;
import tpmcard.sim.enforce.Journal;

/**
 * jCardSim's runtime with the hooks the card store needs: the applet table and the transient
 * memory of this runtime (never the JVM-wide default runtime).
 */
final class SimRuntime extends SimulatorRuntime {
    private final SimTransientMemory memory;
    private StateWatch watch;

    SimRuntime(SimTransientMemory memory) {
        super(memory);
        this.memory = memory;
    }

    /** Report to {@code watch} every applet instance that card code runs in (see {@link StateWatch}). */
    void setWatch(StateWatch watch) {
        this.watch = watch;
    }

    /*
     * The entry points of card code. jCardSim 3.0.6.0 finds the applet whose select() or process()
     * it calls (the selected one, or the one a SELECT picks) and the server of a Shareable lookup
     * (getSharedObject) through getApplet; deselect() is called through deselect. Every applet
     * returned or deselected here is reported as touched by the current command.
     */

    @Override
    protected Applet getApplet(AID aid) {
        Applet applet = super.getApplet(aid);
        if (watch != null) {
            watch.touch(applet);
        }
        return applet;
    }

    @Override
    protected void deselect(ApplicationInstance instance) {
        if (watch != null && instance != null) {
            watch.touch(instance.getApplet());
        }
        super.deselect(instance);
    }

    /**
     * The JCRE hands the server the AID of the calling context's applet (JCRE spec 3.0.5 §6.2.7.2);
     * jCardSim 3.0.6.0 hands it the selected applet's, which is wrong when a Shareable call made
     * by another applet (the mobile TPM, called by the core) looks a server up.
     */
    @Override
    public Shareable getSharedObject(AID serverAid, byte parameter) {
        Applet server = getApplet(serverAid);  // touches the server
        if (server == null) {
            return null;
        }
        Shareable shared = server.getShareableInterfaceObject(ContextAids.client(applets, getAID()), parameter);
        if (watch != null) {
            watch.touchShared(shared);  // and the applets whose graphs hold the object handed out
        }
        return shared;
    }

    /**
     * JCSystem.getPreviousContextAID: the applet of the context that called the active one
     * (jCardSim 3.0.6.0 answers the previously selected applet's), null outside such a call.
     */
    @Override
    public AID getPreviousContextAID() {
        return ContextAids.previous(applets);
    }

    /**
     * The JCRE aborts a transaction that is still open when a command ends (JCRE spec 3.0.5
     * §7.6.2), e.g. after an uncaught exception; jCardSim 3.0.6.0 leaves it open.
     */
    @Override
    public byte[] transmitCommand(byte[] command) {
        try {
            return super.transmitCommand(command);
        } finally {
            Journal.of(this).endOfCommand();
        }
    }

    /** An abort from outside card code (whose calls go to {@link Journal}) rolls back too. */
    @Override
    public void abortTransaction() {
        super.abortTransaction();
        Journal.of(this).endOfCommand();
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
        Journal.of(this).powerUp();
        reset();
        selecting = false;
        usingExtendedAPDUs = false;
        previousActiveObject = null;
    }
}
