package tpmcard.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.lang.reflect.Field;
import javacard.framework.AID;
import javacard.framework.ISO7816;
import org.junit.Test;
import tpmcard.mtpm.ClosureConstants;

/**
 * A staged command that stops with an error leaves nothing of its data in the mobile TPM's
 * staging array once the next command comes (docs/mtpm.md "Service window and staging"): here a
 * host-held closure image, whose code STAGE RUN decrypted in place there, then FAILed.
 */
public class StagingWipeTest {
    /** pushb 1; fail (docs/closures.md), with a 32-byte header: stack 2, memory 0, steps 10. */
    private static final byte[] FAILING = Hex.decode(
            "6661696c0000000000000002000000000000000a000300000000000000000000" + "110101");

    @Test
    public void aStagedRunThatStopsLeavesNoPlaintextBehind() throws Exception {
        ServiceCard card = ServiceCard.installed(new byte[] {0x51});
        card.openSession(new byte[SuiteService.HOST_PCR_BLOCK_LENGTH]);
        Response sealed = card.invoke(ServiceCard.MTPM_AID, ClosureConstants.INS_CLOSURE_SEAL, 0, 0, FAILING);
        assertEquals(ISO7816.SW_NO_ERROR, sealed.sw);
        byte[] data = ServiceCard.concat(new byte[] {0}, sealed.data);
        assertEquals(ISO7816.SW_NO_ERROR, card.invoke(ServiceCard.MTPM_AID, 0x70, 0, 0, data).sw);
        Response run = card.invoke(ServiceCard.MTPM_AID, 0x72, 0, 0,
                new byte[] {ClosureConstants.INS_CLOSURE_RUN, ClosureConstants.P1_RUN_IMAGE, 0});
        assertEquals((short) 0x6401, run.sw);
        byte[] staged = stagedIn(card);
        assertTrue("the decrypted code (PUSHB) is there until the next command",
                staged[1 + ClosureConstants.SEALED_PREFIX] == ClosureConstants.OP_PUSHB);
        assertEquals((short) 0x6A83, card.invoke(ServiceCard.MTPM_AID, 0x72, 0, 0,
                new byte[] {ClosureConstants.INS_CLOSURE_RUN, ClosureConstants.P1_RUN_IMAGE, 0}).sw);  // one run
        assertEquals(ISO7816.SW_NO_ERROR, card.invoke(ServiceCard.MTPM_AID, 0x54, 0, 0, new byte[0]).sw);
        for (byte b : stagedIn(card)) {
            assertEquals(0, b);
        }
    }

    private static byte[] stagedIn(ServiceCard card) throws Exception {
        Object mtpm = card.runtime.applet(new AID(Hex.decode(ServiceCard.MTPM_AID), (short) 0, (byte) 8));
        Field f = mtpm.getClass().getDeclaredField("stagedIn");
        f.setAccessible(true);
        return (byte[]) f.get(mtpm);
    }
}
