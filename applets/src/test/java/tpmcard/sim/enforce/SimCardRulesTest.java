package tpmcard.sim.enforce;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import tpmcard.sim.SimCard;

/**
 * A SimCard (the host's card) enforces the rules it was opened with, and keeps enforcing them
 * after a power cycle and after another process restores it from its store: the owner of every
 * array and crypto object travels with the store.
 */
public class SimCardRulesTest {
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    private Path manifest() throws Exception {
        Path m = tmp.getRoot().toPath().resolve("manifest.json");
        Files.writeString(m, "{\"packages\": ["
                + "{\"applets\": [{\"class\": \"tpmcard.testcard.server.ServerApplet\", \"aid\": \"" + FirewallTest.SERVER + "\"}]},"
                + "{\"applets\": [{\"class\": \"tpmcard.testcard.client.ClientApplet\", \"aid\": \"" + FirewallTest.CLIENT + "\"}]}]}");
        return m;
    }

    private static int call(SimCard card, String apdu) {
        byte[] r = card.transmit(HexFormat.of().parseHex(apdu));
        return ((r[r.length - 2] & 0xFF) << 8) | (r[r.length - 1] & 0xFF);
    }

    private static void assertFirewall(SimCard card) {
        assertEquals(0x9000, call(card, "00A4040008" + FirewallTest.CLIENT));
        assertEquals("client's transient array read by the server", 0x6999, call(card, "800100000401020304"));
        assertEquals("server's non-external digest", 0x6999, call(card, "800400000401020304"));
        assertEquals("server's CoD array", 0x6999, call(card, "800600000401020304"));
        assertEquals("externalAccess = true", 0x9000, call(card, "800500000401020304"));
        assertEquals("APDU buffer", 0x9000, call(card, "800300000401020304"));
        assertEquals("global array", 0x9000, call(card, "800B00000401020304"));
    }

    @Test
    public void rulesHoldAfterPowerCycleAndRestore() throws Exception {
        String state = tmp.newFolder("state").toString();
        String m = manifest().toString();
        try (SimCard card = SimCard.open(state, m, "SimCardRulesTest", "all")) {
            assertEquals("firewall,ram", card.enforcedRules());
            assertFirewall(card);
            card.reset();
            assertFirewall(card);
            String report = card.memoryReport();
            assertNotNull(report);
            assertTrue(report, report.contains("\"class\": \"tpmcard.testcard.server.ServerApplet\", "
                    + "\"transient_reset\": 0, \"transient_deselect\": 8, \"crypto_ram\": 336, \"transient\": 344"));
        }
        try (SimCard card = SimCard.open(state, m, "SimCardRulesTest", "all")) {
            assertFirewall(card);
        }
        try (SimCard card = SimCard.open(state, m, "SimCardRulesTest", "none")) {
            assertEquals(0x9000, call(card, "00A4040008" + FirewallTest.CLIENT));
            assertEquals(0x9000, call(card, "800100000401020304"));
        }
    }

    @Test
    public void aSuiteOverTheBudgetDoesNotInstall() throws Exception {
        String state = tmp.newFolder("state").toString();
        System.setProperty(CardRules.RAM_BUDGET_PROPERTY, "300");
        try {
            SimCard.open(state, manifest().toString(), "SimCardRulesTest", "ram").close();
            throw new AssertionError("installed over the RAM budget");
        } catch (tpmcard.sim.SimCardException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("NO_TRANSIENT_SPACE"));
        } finally {
            System.clearProperty(CardRules.RAM_BUDGET_PROPERTY);
        }
    }
}
