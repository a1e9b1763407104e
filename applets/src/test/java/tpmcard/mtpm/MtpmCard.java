package tpmcard.mtpm;

import static org.junit.Assert.assertEquals;

import com.licel.jcardsim.base.Simulator;
import com.licel.jcardsim.base.SimulatorRuntime;
import com.licel.jcardsim.utils.AIDUtil;
import java.io.ByteArrayOutputStream;
import java.util.Arrays;
import javacard.framework.AID;
import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import tpmcard.core.CoreApplet;
import tpmcard.core.HostPcrs;
import tpmcard.core.SuiteService;
import tpmcard.sim.enforce.Journal;

/**
 * One simulated card with the core applet and the mobile TPM, and a stand-in for the core
 * applet's INS_INVOKE: it looks the service up through the Shareable interface as the core applet
 * will (JCSystem.getAppletShareableInterfaceObject with the core applet selected, so the service
 * sees the core applet as its client) and calls invoke with host PCRs of the test's choosing.
 * Like the core applet, it aborts an open transaction when the service throws.
 */
final class MtpmCard {
    // applets/manifest.json (checked by tests/mtpm/test_constants.py).
    static final String CORE_AID = "F074706D63010001";
    static final String MTPM_AID = "F074706D63020001";

    static final class Result {
        final int sw;
        final byte[] data;

        Result(int sw, byte[] data) {
            this.sw = sw;
            this.data = data;
        }
    }

    /** A runtime whose activation the harness controls (several cards in one test). */
    static final class Runtime extends SimulatorRuntime {
        void activate() {
            activateSimulatorRuntimeInstance();
        }

        javacard.framework.Applet applet(AID aid) {
            return getApplet(aid);
        }

        /** The calling context's AIDs, as a card names them (tpmcard.sim.ContextAids). */
        @Override
        public javacard.framework.Shareable getSharedObject(AID serverAid, byte parameter) {
            javacard.framework.Applet server = getApplet(serverAid);
            return server == null ? null
                    : server.getShareableInterfaceObject(tpmcard.sim.ContextAids.client(applets, getAID()), parameter);
        }

        @Override
        public AID getPreviousContextAID() {
            return tpmcard.sim.ContextAids.previous(applets);
        }
    }

    final Runtime runtime = new Runtime();
    final Simulator simulator = new Simulator(runtime);
    final AID coreAid = AIDUtil.create(CORE_AID);
    final AID mtpmAid = AIDUtil.create(MTPM_AID);
    final byte[] hostPcrs = new byte[SuiteService.HOST_PCR_BLOCK_LENGTH];
    /** The test's TPMS_CLOCK_INFO for the session (clock 8, resetCount 4, restartCount 4, safe 1). */
    final byte[] clockInfo = new byte[HostPcrs.CLOCK_INFO_LENGTH];
    /** Stands in for the core applet's HostPcrs: the test's host PCRs, one at a time, and clock. */
    final HostPcrs pcrSource = new HostPcrs() {
        @Override
        public void copyHostPcr(short index, byte[] buffer, short offset) {
            System.arraycopy(hostPcrs, index * 32, buffer, offset, 32);
        }

        @Override
        public void copyClock(byte[] buffer, short offset) {
            System.arraycopy(clockInfo, 0, buffer, offset, clockInfo.length);
        }

        @Override
        public void requireEnabledProvider(byte[] buffer, short offset, byte length) {
            // No registry beside this harness: every provider counts as enabled (the registry's
            // refusal is tested through the real core, tests/closures/test_providers.py).
        }
    };
    short sessionId = 1;

    static MtpmCard installed(byte[] entropy) {
        MtpmCard card = new MtpmCard();
        byte[] core = installParameters(card.coreAid, entropy);
        card.simulator.installApplet(card.coreAid, CoreApplet.class, core, (short) 0, (byte) core.length);
        byte[] params = installParameters(card.mtpmAid, entropy);
        card.simulator.installApplet(card.mtpmAid, MtpmApplet.class, params, (short) 0, (byte) params.length);
        card.simulator.selectApplet(card.coreAid);
        return card;
    }

    static MtpmCard installed() {
        return installed(new byte[] {1, 2, 3});
    }

    static byte[] installParameters(AID aid, byte[] entropy) {
        byte[] aidBytes = new byte[16];
        byte aidLength = aid.getBytes(aidBytes, (short) 0);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(aidLength);
        out.write(aidBytes, 0, aidLength);
        out.write(0);
        out.write(entropy.length);
        out.writeBytes(entropy);
        return out.toByteArray();
    }

    /** Card reset (power cycle): RAM cleared; the core applet selected again. */
    void reset() {
        simulator.reset();
        simulator.selectApplet(coreAid);
        sessionId++;
    }

    Result invoke(int ins, int p1, int p2, byte[] data) {
        runtime.activate();
        SuiteService service = (SuiteService) runtime.getSharedObject(mtpmAid, SuiteService.SERVICE_PARAMETER);
        // The SuiteService contract: data at DATA_OFFSET of the (APDU) buffer, the answer after it.
        // This stand-in's buffer is larger than a card's, so the handlers' own limits are tested;
        // the window itself is tested through the core applet (InvokeTest, tests/mtpm).
        byte[] buffer = new byte[SuiteService.DATA_OFFSET + 4096];
        Journal.of(runtime).hostArray(buffer);  // the APDU buffer's stand-in: RAM, not persistent
        System.arraycopy(data, 0, buffer, SuiteService.DATA_OFFSET, data.length);
        short outOffset = (short) (SuiteService.DATA_OFFSET + data.length);
        try {
            short n = service.invoke((byte) ins, (byte) p1, (byte) p2, buffer, SuiteService.DATA_OFFSET,
                    (short) data.length, outOffset, (short) buffer.length, pcrSource, sessionId);
            return new Result(0x9000, Arrays.copyOfRange(buffer, outOffset, outOffset + n));
        } catch (ISOException e) {
            abortOpenTransaction();
            return new Result(e.getReason() & 0xFFFF, new byte[0]);
        } catch (RuntimeException e) {
            // The core applet answers an unexpected exception 6F00 (docs/core-applet.md).
            abortOpenTransaction();
            return new Result(0x6F00, new byte[0]);
        }
    }

    private void abortOpenTransaction() {
        if (JCSystem.getTransactionDepth() != 0) {
            Journal.abortTransaction();  // as the core applet's (rewritten) call: rolls back
        }
    }

    byte[] ok(int ins, int p1, int p2, byte[] data) {
        Result r = invoke(ins, p1, p2, data);
        assertEquals(String.format("INS %02X SW", ins), 0x9000, r.sw);
        return r.data;
    }

    void assertSw(int sw, int ins, int p1, int p2, byte[] data) {
        assertEquals(String.format("INS %02X SW", ins), sw, invoke(ins, p1, p2, data).sw);
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    static byte[] selection(int... indices) {
        byte[] s = new byte[3];
        for (int i : indices) {
            s[i / 8] |= (byte) (1 << (i % 8));
        }
        return s;
    }

    static byte[] lengthPrefixed(byte[] value) {
        return concat(new byte[] {(byte) value.length}, value);
    }
}
