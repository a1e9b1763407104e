package tpmcard.sim.enforce;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import javacard.security.CryptoException;
import javacard.security.KeyAgreement;
import javacard.security.KeyBuilder;
import javacard.security.KeyPair;
import javacard.security.MessageDigest;
import javacard.security.Signature;
import javacard.framework.SystemException;
import javacardx.crypto.AEADCipher;
import javacardx.crypto.Cipher;
import org.junit.After;
import org.junit.Before;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import tpmcard.sim.SimCard;
import tpmcard.sim.SimCardException;

/**
 * Card profiles (profiles.json): on a profile, what the card lacks is NO_SUCH_ALGORITHM from
 * getInstance / buildKey; the RAM budget and int support follow the profile; RAM is freed on
 * object deletion and applet deletion; a card keeps the profile it was made with.
 */
public class CardProfileTest {
    static final String PROBE = "F074706D63FE0001";
    static final String PRESENT = "00";
    static final String ABSENT = "01" + String.format("%04X", CryptoException.NO_SUCH_ALGORITHM);
    static final String NO_SPACE = "02" + String.format("%04X", SystemException.NO_TRANSIENT_SPACE);

    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();
    private String saved;

    @Before
    public void ignoreTheEnvironmentsProfile() {
        saved = System.getProperty(CardProfile.PROFILE_PROPERTY);
        System.setProperty(CardProfile.PROFILE_PROPERTY, "");  // set but empty: not $TPMCARD_SIM_PROFILE
    }

    @After
    public void restore() {
        if (saved == null) {
            System.clearProperty(CardProfile.PROFILE_PROPERTY);
        } else {
            System.setProperty(CardProfile.PROFILE_PROPERTY, saved);
        }
    }

    private String manifest(boolean intSupport) throws Exception {
        Path m = tmp.getRoot().toPath().resolve(intSupport ? "int.json" : "manifest.json");
        Files.writeString(m, "{\"packages\": [{\"name\": \"probe\", " + (intSupport ? "\"int_support\": true, " : "")
                + "\"applets\": [{\"class\": \"tpmcard.testcard.probe.ProfileProbeApplet\", \"aid\": \"" + PROBE + "\"}]}]}");
        return m.toString();
    }

    private SimCard card(String profile, String rules) throws Exception {
        return SimCard.open(tmp.newFolder().toString(), manifest(false), "CardProfileTest", rules, profile);
    }

    private static String send(SimCard card, String apdu) {
        byte[] r = card.transmit(HexFormat.of().parseHex(apdu));
        String hex = HexFormat.of().withUpperCase().formatHex(r);
        assertTrue(apdu + " -> " + hex, hex.endsWith("9000"));
        return hex.substring(0, hex.length() - 4);
    }

    private static String select(SimCard card) {
        return send(card, "00A4040008" + PROBE);
    }

    private static String ask(SimCard card, int kind, byte algorithm) {
        return send(card, String.format("8010%02X%02X020000", kind, algorithm & 0xFF));
    }

    private static String key(SimCard card, byte type, int bits) {
        return send(card, String.format("801005%02X02%04X", type & 0xFF, bits));
    }

    private static String pair(SimCard card, byte alg, int bits) {
        return send(card, String.format("801006%02X02%04X", alg & 0xFF, bits));
    }

    private static String keep(SimCard card, int bytes) {
        return send(card, String.format("80200000%02X%04X", 2, bytes));
    }

    @Test
    public void jcop4LacksGcmSha3AndHmacAndHasTheRest() throws Exception {
        try (SimCard card = card("jcop4-j3r180", "firewall")) {
            assertEquals("jcop4-j3r180", card.profile());
            select(card);
            assertEquals("GCM", ABSENT, ask(card, 1, AEADCipher.ALG_AES_GCM));
            assertEquals("SHA3-256", ABSENT, ask(card, 3, MessageDigest.ALG_SHA3_256));
            assertEquals("HMAC-SHA-256", ABSENT, ask(card, 2, Signature.ALG_HMAC_SHA_256));
            assertEquals("HMAC-SHA-512", ABSENT, ask(card, 2, Signature.ALG_HMAC_SHA_512));
            assertEquals("HMAC key", ABSENT, key(card, KeyBuilder.TYPE_HMAC_TRANSIENT_DESELECT, 256));
            assertEquals("HMAC key", ABSENT, key(card, KeyBuilder.TYPE_HMAC, 256));
            assertEquals(PRESENT, ask(card, 1, Cipher.ALG_AES_BLOCK_128_CBC_NOPAD));
            assertEquals(PRESENT, ask(card, 1, Cipher.ALG_AES_BLOCK_128_ECB_NOPAD));
            assertEquals(PRESENT, ask(card, 2, Signature.ALG_AES_CMAC_128));
            assertEquals(PRESENT, ask(card, 2, Signature.ALG_ECDSA_SHA_256));
            assertEquals(PRESENT, ask(card, 3, MessageDigest.ALG_SHA_256));
            assertEquals(PRESENT, ask(card, 3, MessageDigest.ALG_SHA_512));
            assertEquals(PRESENT, ask(card, 4, KeyAgreement.ALG_EC_SVDP_DH_PLAIN));
            assertEquals(PRESENT, ask(card, 4, KeyAgreement.ALG_EC_SVDP_DH_PLAIN_XY));
            assertEquals(PRESENT, pair(card, KeyPair.ALG_EC_FP, 256));
            assertEquals(PRESENT, key(card, KeyBuilder.TYPE_AES, 128));
            assertEquals("transient EC private key (stand-in)", PRESENT,
                    key(card, KeyBuilder.TYPE_EC_FP_PRIVATE_TRANSIENT_DESELECT, 256));
        }
    }

    @Test
    public void j3h145AlsoLacksCmacAndTransientEcPrivateKeys() throws Exception {
        try (SimCard card = card("j3h145", "firewall")) {
            select(card);
            assertEquals("AES-CMAC", ABSENT, ask(card, 2, Signature.ALG_AES_CMAC_128));
            assertEquals(ABSENT, key(card, KeyBuilder.TYPE_EC_FP_PRIVATE_TRANSIENT_DESELECT, 256));
            assertEquals(ABSENT, key(card, KeyBuilder.TYPE_EC_FP_PRIVATE_TRANSIENT_RESET, 256));
            assertEquals(ABSENT, ask(card, 1, AEADCipher.ALG_AES_GCM));
            assertEquals(PRESENT, ask(card, 2, Signature.ALG_ECDSA_SHA_256));
            assertEquals(PRESENT, key(card, KeyBuilder.TYPE_EC_FP_PRIVATE, 256));
        }
    }

    @Test
    public void fullHasWhatJCardSimHas() throws Exception {
        try (SimCard card = card("full", "firewall")) {
            select(card);
            assertEquals(PRESENT, ask(card, 1, AEADCipher.ALG_AES_GCM));
            assertEquals(PRESENT, ask(card, 3, MessageDigest.ALG_SHA3_256));
            assertEquals(PRESENT, ask(card, 2, Signature.ALG_HMAC_SHA_256));
            assertEquals(PRESENT, key(card, KeyBuilder.TYPE_HMAC_TRANSIENT_DESELECT, 256));
        }
    }

    @Test
    public void theRamBudgetIsTheProfiles() throws Exception {
        try (SimCard card = card("jcop4-j3r180", "ram")) {
            assertEquals(4150, card.ramBudget());
            select(card);
            assertEquals("getAvailableMemory: the budget", "1036", send(card, "80300000020000"));
            assertEquals(PRESENT, keep(card, 4000));
            assertEquals("getAvailableMemory: what is left", "0096", send(card, "80300000020000"));
            assertEquals(NO_SPACE, keep(card, 151));
            assertEquals(PRESENT, keep(card, 150));
        }
        try (SimCard card = card("j3h145", "ram")) {
            assertEquals(1993, card.ramBudget());
            select(card);
            assertEquals(NO_SPACE, keep(card, 2000));
            assertEquals(PRESENT, keep(card, 1993));
        }
        try (SimCard card = card("full", "ram")) {
            select(card);
            assertEquals(PRESENT, keep(card, 8000));
        }
        try (SimCard card = card("j3h145", "firewall")) {
            select(card);
            assertEquals("without the RAM rule: jCardSim's unlimited answer", "7FFF", send(card, "80300000020000"));
            assertEquals(PRESENT, keep(card, 8000));
        }
    }

    @Test
    public void objectDeletionAndAppletDeletionFreeRam() throws Exception {
        try (SimCard card = card("jcop4-j3r180", "ram")) {
            int base = card.ramUsed();
            select(card);
            for (int i = 0; i < 50; i++) {  // 50 x 112 B of dropped digests: freed each time
                assertEquals(PRESENT, ask(card, 3, MessageDigest.ALG_SHA_256));
            }
            assertEquals(base, card.ramUsed());
            assertEquals(PRESENT, keep(card, 3000));
            assertEquals(base + 3000, card.ramUsed());
            send(card, "80210000020000");
            assertEquals(base, card.ramUsed());
            assertEquals(PRESENT, keep(card, 4000));
            card.deleteApplet(PROBE);
            assertEquals(0, card.ramUsed());
            card.createApplet(PROBE, null);
            select(card);
            assertEquals("the deleted instance's RAM is free again", PRESENT, keep(card, 4000));
        }
    }

    @Test
    public void anInstallTheProfileRefusesSaysWhatTheCardLacks() throws Exception {
        try (SimCard card = card("j3h145", "firewall")) {
            card.deleteApplet(PROBE);
            try {
                card.createApplet(PROBE, new byte[] {0x5A, Signature.ALG_AES_CMAC_128});
                fail("installed an applet that needs AES-CMAC on a j3h145");
            } catch (SimCardException e) {
                assertEquals(SimCardException.Kind.CARD, e.kind());
                assertTrue(e.getMessage(), e.getMessage().contains(
                        "the applet threw CryptoException NO_SUCH_ALGORITHM: a j3h145 card has no Signature ALG_AES_CMAC_128"));
            }
            card.createApplet(PROBE, new byte[] {0x5A, Signature.ALG_ECDSA_SHA_256});
        }
    }

    @Test
    public void aCardKeepsItsProfile() throws Exception {
        String dir = tmp.newFolder().toString();
        String m = manifest(false);
        SimCard.open(dir, m, "CardProfileTest", null, "j3h145").close();
        try (SimCard card = SimCard.open(dir, m, "CardProfileTest", null, null)) {
            assertEquals("j3h145", card.profile());
            select(card);
            assertEquals(ABSENT, ask(card, 2, Signature.ALG_AES_CMAC_128));
        }
        try {
            SimCard.open(dir, m, "CardProfileTest", null, "full").close();
            fail("opened a j3h145 card as full");
        } catch (SimCardException e) {
            assertEquals(SimCardException.Kind.PROFILE, e.kind());
            assertTrue(e.getMessage(), e.getMessage().contains("made with profile j3h145"));
        }
        try {
            SimCard.open(tmp.newFolder().toString(), m, "CardProfileTest", null, "jcop5").close();
            fail("unknown profile");
        } catch (SimCardException e) {
            assertEquals(SimCardException.Kind.PROFILE, e.kind());
            assertTrue(e.getMessage(), e.getMessage().contains("jcop4-j3r180"));
        }
    }

    @Test
    public void aPackageThatDeclaresIntDoesNotLoadWithoutIntSupport() throws Exception {
        String m = manifest(true);
        SimCard.open(tmp.newFolder().toString(), m, "CardProfileTest", null, "full").close();
        for (String profile : new String[] {"jcop4-j3r180", "j3h145"}) {
            try {
                SimCard.open(tmp.newFolder().toString(), m, "CardProfileTest", null, profile).close();
                fail("int package loaded on " + profile);
            } catch (SimCardException e) {
                assertEquals(SimCardException.Kind.PROFILE, e.kind());
                assertTrue(e.getMessage(), e.getMessage().contains("declares int support"));
            }
        }
    }

    @Test
    public void everyProfileEntryNamesAnApiConstant() {
        assertEquals(java.util.List.of("full", "jcop4-j3r180", "j3h145"), CardProfile.names());
        assertTrue(CardProfile.named("full").hasAllAlgorithms());
        assertEquals(4150, CardProfile.named("jcop4-j3r180").transientRam());
        assertEquals(1993, CardProfile.named("j3h145").transientRam());
    }
}
