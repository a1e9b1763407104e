package tpmcard.mtpm;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotEquals;
import static org.junit.Assert.assertTrue;
import static tpmcard.mtpm.MtpmCard.selection;

import java.nio.ByteBuffer;
import java.security.PublicKey;
import java.util.Arrays;
import java.util.HexFormat;
import org.junit.Test;

/** QUOTE, CERTIFY and the keys: TPMS_ATTEST layout, signatures, names, clock, distinct cards. */
public class AttestationTest {
    private static final byte[] NONCE = HexFormat.of().parseHex("00112233445566778899aabbccddeeff");

    @Test
    public void publicAreasAreTpmtPublicOfP256Keys() {
        MtpmCard card = MtpmCard.installed();
        byte[] ak = card.ok(Constants.INS_GET_PUBLIC, Constants.KEY_AK, 0, new byte[0]);
        assertEquals(88, ak.length);
        assertEquals("0023000b00050072000000100018000b000300100020",
                HexFormat.of().formatHex(Arrays.copyOf(ak, 22)));
        byte[] mk = card.ok(Constants.INS_GET_PUBLIC, Constants.KEY_MIGRATION, 0, new byte[0]);
        assertEquals("0023000b00020072000000100019000b000300100020",
                HexFormat.of().formatHex(Arrays.copyOf(mk, 22)));
        card.assertSw(Constants.SW_INCORRECT_P1P2, Constants.INS_GET_PUBLIC, 4, 0, new byte[0]);
    }

    @Test
    public void quoteIsATpmsAttestSignedByTheAk() {
        MtpmCard card = MtpmCard.installed();
        Arrays.fill(card.hostPcrs, 0, 32, (byte) 0x11);
        card.ok(Constants.INS_PCR_EXTEND, 9, 0, new byte[32]);
        byte[] ak = card.ok(Constants.INS_GET_PUBLIC, Constants.KEY_AK, 0, new byte[0]);
        byte[] sel = selection(0, 1, 8, 9, 10);
        byte[][] q = Crypto.splitAttestation(card.ok(Constants.INS_QUOTE, 0, 0, MtpmCard.concat(sel, NONCE)));
        byte[] attest = q[0];
        assertTrue("signature", Crypto.verify(Crypto.publicKey(ak), attest, q[1]));
        ByteBuffer b = ByteBuffer.wrap(attest);
        assertEquals(0xFF544347, b.getInt());
        assertEquals((short) 0x8018, b.getShort());
        byte[] signer = new byte[b.getShort()];
        b.get(signer);
        assertArrayEquals(Crypto.qualifiedName(ak), signer);
        byte[] extra = new byte[b.getShort()];
        b.get(extra);
        assertArrayEquals(NONCE, extra);
        long clock = b.getLong();
        assertTrue(clock >= 1);
        assertEquals(1, b.getInt());   // resetCount: the first command since install
        assertEquals(0, b.getInt());   // restartCount
        assertEquals(1, b.get());      // safe
        assertEquals(0x0001000000000000L, b.getLong());
        assertEquals(1, b.getInt());
        assertEquals((short) 0x000B, b.getShort());
        assertEquals(3, b.get());
        byte[] bitmap = new byte[3];
        b.get(bitmap);
        assertArrayEquals(sel, bitmap);
        assertEquals(32, b.getShort());
        byte[] pcrDigest = new byte[32];
        b.get(pcrDigest);
        assertFalse(b.hasRemaining());
        byte[] values = card.ok(Constants.INS_PCR_READ, 0, 0, sel);
        assertArrayEquals(Crypto.sha256(values), pcrDigest);
    }

    @Test
    public void clockAdvancesAndResetCountCountsResets() {
        MtpmCard card = MtpmCard.installed();
        byte[] a = Crypto.splitAttestation(card.ok(Constants.INS_QUOTE, 0, 0, selection(9)))[0];
        byte[] b = Crypto.splitAttestation(card.ok(Constants.INS_QUOTE, 0, 0, selection(9)))[0];
        card.reset();
        byte[] c = Crypto.splitAttestation(card.ok(Constants.INS_QUOTE, 0, 0, selection(9)))[0];
        // Empty nonce: clock at 44 (magic 4, type 2, signer 2+34, extra 2+0), resetCount at 52.
        long clockA = ByteBuffer.wrap(a, 44, 8).getLong();
        long clockB = ByteBuffer.wrap(b, 44, 8).getLong();
        long clockC = ByteBuffer.wrap(c, 44, 8).getLong();
        assertTrue(clockA < clockB && clockB < clockC);
        assertEquals(1, ByteBuffer.wrap(b, 52, 4).getInt());
        assertEquals(2, ByteBuffer.wrap(c, 52, 4).getInt());
    }

    /**
     * The clock is handed out from blocks reserved in EEPROM: across 300 quotes (past a block of
     * 256) and card resets it only goes up, GET STATUS reports the last value quoted, and CLEAR
     * starts it again at 1.
     */
    @Test
    public void clockFromReservedBlocksOnlyGoesUp() {
        MtpmCard card = MtpmCard.installed();
        long last = 0;
        for (int i = 0; i < 300; i++) {
            if (i == 100 || i == 101 || i == 280) {
                card.reset();
            }
            byte[] attest = Crypto.splitAttestation(card.ok(Constants.INS_QUOTE, 0, 0, selection(9)))[0];
            long clock = ByteBuffer.wrap(attest, 44, 8).getLong();
            assertTrue(clock + " after " + last, clock > last);
            if (i > 0 && i != 100 && i != 101 && i != 280) {
                assertEquals(last + 1, clock);  // consecutive within a power cycle
            }
            last = clock;
            byte[] status = card.ok(Constants.INS_GET_STATUS, 0, 0, new byte[0]);
            assertEquals(last, ByteBuffer.wrap(status, 2, 8).getLong());
        }
        card.ok(Constants.INS_CLEAR, 0, 0, new byte[] {0});
        byte[] attest = Crypto.splitAttestation(card.ok(Constants.INS_QUOTE, 0, 0, selection(9)))[0];
        assertEquals(1, ByteBuffer.wrap(attest, 44, 8).getLong());
    }

    @Test
    public void reservedCounterArithmetic() {
        byte[] v = {0, 0, 0, 0, 0, 0, 0x01, (byte) 0xFF};
        Marshal.add(v, (short) 0, (short) 8, (short) 0x0101);
        assertArrayEquals(new byte[] {0, 0, 0, 0, 0, 0, 0x03, 0x00}, v);
        Marshal.subtract(v, (short) 0, (short) 8, (short) 0x0101);
        assertArrayEquals(new byte[] {0, 0, 0, 0, 0, 0, 0x01, (byte) 0xFF}, v);
        byte[] w = {0, 0x01, 0, 0, 0, 0, 0, 0};
        Marshal.subtract(w, (short) 0, (short) 8, (short) 1);
        assertArrayEquals(new byte[] {0, 0, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF,
            (byte) 0xFF}, w);
        Marshal.add(w, (short) 0, (short) 8, (short) 0x7FFF);
        assertArrayEquals(new byte[] {0, 0x01, 0, 0, 0, 0, 0x7F, (byte) 0xFE}, w);
    }

    @Test
    public void quoteInputIsChecked() {
        MtpmCard card = MtpmCard.installed();
        card.assertSw(Constants.SW_WRONG_DATA, Constants.INS_QUOTE, 0, 0, new byte[3]);
        card.assertSw(Constants.SW_WRONG_LENGTH, Constants.INS_QUOTE, 0, 0, new byte[2]);
        card.assertSw(Constants.SW_WRONG_LENGTH, Constants.INS_QUOTE, 0, 0, MtpmCard.concat(selection(1), new byte[65]));
        card.ok(Constants.INS_QUOTE, 0, 0, MtpmCard.concat(selection(1), new byte[64]));
    }

    @Test
    public void ekCertifiesTheAkAndTheMigrationKey() {
        MtpmCard card = MtpmCard.installed();
        byte[] ek = card.ok(Constants.INS_GET_PUBLIC, Constants.KEY_EK, 0, new byte[0]);
        PublicKey ekKey = Crypto.publicKey(ek);
        for (byte key : new byte[] {Constants.KEY_AK, Constants.KEY_MIGRATION}) {
            byte[] pub = card.ok(Constants.INS_GET_PUBLIC, key, 0, new byte[0]);
            byte[][] c = Crypto.splitAttestation(card.ok(Constants.INS_CERTIFY, key, 0, NONCE));
            assertTrue(Crypto.verify(ekKey, c[0], c[1]));
            assertEquals((short) 0x8017, ByteBuffer.wrap(c[0], 4, 2).getShort());
            assertArrayEquals(Crypto.qualifiedName(ek), Arrays.copyOfRange(c[0], 8, 42));
            int end = c[0].length;
            assertArrayEquals(Crypto.name(pub), Arrays.copyOfRange(c[0], end - 70, end - 36));
            assertArrayEquals(Crypto.qualifiedName(pub), Arrays.copyOfRange(c[0], end - 34, end));
        }
        card.assertSw(Constants.SW_INCORRECT_P1P2, Constants.INS_CERTIFY, Constants.KEY_EK, 0, NONCE);
    }

    @Test
    public void installEntropyMakesCardsDiffer() {
        byte[] a = MtpmCard.installed(new byte[] {1}).ok(Constants.INS_GET_PUBLIC, Constants.KEY_AK, 0, new byte[0]);
        byte[] b = MtpmCard.installed(new byte[] {2}).ok(Constants.INS_GET_PUBLIC, Constants.KEY_AK, 0, new byte[0]);
        assertNotEquals(HexFormat.of().formatHex(a), HexFormat.of().formatHex(b));
        MtpmCard card = MtpmCard.installed(new byte[] {1});
        byte[] ek = card.ok(Constants.INS_GET_PUBLIC, Constants.KEY_EK, 0, new byte[0]);
        byte[] ak = card.ok(Constants.INS_GET_PUBLIC, Constants.KEY_AK, 0, new byte[0]);
        assertNotEquals(HexFormat.of().formatHex(ek), HexFormat.of().formatHex(ak));
    }

    @Test
    public void ekCertificateIsStoredOnce() {
        MtpmCard card = MtpmCard.installed();
        card.assertSw(Constants.SW_NOT_FOUND, Constants.INS_EK_CERT_GET, 0, 0, new byte[0]);
        byte[] cert = new byte[700];
        Arrays.fill(cert, (byte) 0x30);
        card.ok(Constants.INS_EK_CERT_SET, 0, 0, MtpmCard.concat(new byte[] {0}, cert));
        assertArrayEquals(cert, card.ok(Constants.INS_EK_CERT_GET, 0, 0, new byte[0]));
        card.reset();
        assertArrayEquals(cert, card.ok(Constants.INS_EK_CERT_GET, 0, 0, new byte[0]));
        card.ok(Constants.INS_TAKE_OWNERSHIP, 0, 0, "owner".getBytes());
        card.assertSw(Constants.SW_OWNER_AUTH_FAILED | 7, Constants.INS_EK_CERT_SET, 0, 0,
                MtpmCard.concat(new byte[] {0}, cert));
    }
}
