package tpmcard.mtpm;

import static org.junit.Assert.assertArrayEquals;
import static tpmcard.mtpm.MtpmCard.concat;
import static tpmcard.mtpm.MtpmCard.lengthPrefixed;
import static tpmcard.mtpm.MtpmCard.selection;

import java.util.Arrays;
import org.junit.Test;

/** SEAL / UNSEAL to the combined 24-PCR view, with and without an auth value. */
public class SealingTest {
    static final byte[] SECRET = "the disk key, 32 bytes long.....".getBytes();

    static byte[] seal(MtpmCard card, byte[] sel, byte[] auth, byte[] secret) {
        byte[] digest = Crypto.sha256(card.ok(Constants.INS_PCR_READ, 0, 0, sel));
        return card.ok(Constants.INS_SEAL, 0, 0, concat(sel, digest, lengthPrefixed(auth), secret));
    }

    static MtpmCard.Result unseal(MtpmCard card, byte[] auth, byte[] blob) {
        return card.invoke(Constants.INS_UNSEAL, 0, 0, concat(lengthPrefixed(auth), blob));
    }

    /** Serials come from blocks reserved in EEPROM: unique and rising across card resets. */
    @Test
    public void serialsAreUniqueAcrossResets() {
        MtpmCard card = MtpmCard.installed();
        long last = 0;
        for (int i = 0; i < 40; i++) {
            if (i % 10 == 9) {
                card.reset();
            }
            byte[] blob = seal(card, selection(9), new byte[0], SECRET);
            long serial = java.nio.ByteBuffer.wrap(blob, 17, 8).getLong();
            org.junit.Assert.assertTrue(serial + " after " + last, serial > last);
            last = serial;
            assertArrayEquals(SECRET, card.ok(Constants.INS_UNSEAL, 0, 0, concat(new byte[] {0}, blob)));
        }
    }

    @Test
    public void unsealsWhileThePcrsMatch() {
        MtpmCard card = MtpmCard.installed();
        Arrays.fill(card.hostPcrs, (byte) 0x42);
        card.ok(Constants.INS_PCR_EXTEND, 12, 0, new byte[32]);
        byte[] blob = seal(card, selection(0, 7, 12), new byte[0], SECRET);
        assertArrayEquals(SECRET, card.ok(Constants.INS_UNSEAL, 0, 0, concat(new byte[] {0}, blob)));
        // A card PCR changes: refused; a host PCR changes: refused.
        card.ok(Constants.INS_PCR_EXTEND, 12, 0, new byte[32]);
        card.assertSw(Constants.SW_POLICY_MISMATCH, Constants.INS_UNSEAL, 0, 0, concat(new byte[] {0}, blob));
        MtpmCard other = MtpmCard.installed();
        blob = seal(other, selection(0, 9), new byte[0], SECRET);
        other.hostPcrs[0] ^= 1;
        other.assertSw(Constants.SW_POLICY_MISMATCH, Constants.INS_UNSEAL, 0, 0, concat(new byte[] {0}, blob));
        other.hostPcrs[0] ^= 1;
        assertArrayEquals(SECRET, other.ok(Constants.INS_UNSEAL, 0, 0, concat(new byte[] {0}, blob)));
    }

    @Test
    public void cardPcrsResetToZeroSoABlobSealedToZeroOpensAfterReset() {
        MtpmCard card = MtpmCard.installed();
        byte[] blob = seal(card, selection(9), new byte[0], SECRET);
        card.ok(Constants.INS_PCR_EXTEND, 9, 0, new byte[32]);
        card.assertSw(Constants.SW_POLICY_MISMATCH, Constants.INS_UNSEAL, 0, 0, concat(new byte[] {0}, blob));
        card.reset();
        assertArrayEquals(SECRET, unseal(card, new byte[0], blob).data);
    }

    @Test
    public void authValueIsRequired() {
        MtpmCard card = MtpmCard.installed();
        // An auth value needs an owner: only the owner can lift the lockout that guards it.
        card.assertSw(Constants.SW_OWNER_REQUIRED, Constants.INS_SEAL, 0, 0,
                concat(selection(9), new byte[32], lengthPrefixed("pw".getBytes()), SECRET));
        card.ok(Constants.INS_TAKE_OWNERSHIP, 0, 0, "owner".getBytes());
        byte[] blob = seal(card, selection(9), "pw".getBytes(), SECRET);
        card.assertSw(Constants.SW_AUTH_FAILED, Constants.INS_UNSEAL, 0, 0, concat(lengthPrefixed("pX".getBytes()), blob));
        card.assertSw(Constants.SW_AUTH_FAILED, Constants.INS_UNSEAL, 0, 0, concat(new byte[] {0}, blob));
        assertArrayEquals(SECRET, unseal(card, "pw".getBytes(), blob).data);
    }

    @Test
    public void everyAlteredByteIsRefused() {
        MtpmCard card = MtpmCard.installed();
        byte[] blob = seal(card, selection(9, 10), new byte[0], new byte[] {1, 2, 3});
        for (int i = 0; i < blob.length; i++) {
            byte[] bad = blob.clone();
            bad[i] ^= 0x01;
            int sw = unseal(card, new byte[0], bad).sw;
            int expected = i >= 1 && i < 17 ? Constants.SW_NOT_FOUND : Constants.SW_OBJECT_INVALID;
            org.junit.Assert.assertEquals("byte " + i, expected, sw);
        }
        card.assertSw(Constants.SW_OBJECT_INVALID, Constants.INS_UNSEAL, 0, 0,
                concat(new byte[] {0}, Arrays.copyOf(blob, blob.length - 1)));
        card.assertSw(Constants.SW_OBJECT_INVALID, Constants.INS_UNSEAL, 0, 0,
                concat(new byte[] {0}, Arrays.copyOf(blob, blob.length - 16)));
        assertArrayEquals(new byte[] {1, 2, 3}, unseal(card, new byte[0], blob).data);
    }

    @Test
    public void anotherCardRefusesTheBlob() {
        MtpmCard a = MtpmCard.installed(new byte[] {1});
        MtpmCard b = MtpmCard.installed(new byte[] {2});
        byte[] blob = seal(a, selection(9), new byte[0], SECRET);
        b.assertSw(Constants.SW_NOT_FOUND, Constants.INS_UNSEAL, 0, 0, concat(new byte[] {0}, blob));
        // Even with a's key id pasted in, b's keys do not open it.
        byte[] forged = blob.clone();
        byte[] status = b.ok(Constants.INS_GET_STATUS, 0, 0, new byte[0]);
        System.arraycopy(status, 14, forged, 1, 16);
        b.assertSw(Constants.SW_OBJECT_INVALID, Constants.INS_UNSEAL, 0, 0, concat(new byte[] {0}, forged));
    }

    @Test
    public void twoSealsOfTheSameSecretDiffer() {
        MtpmCard card = MtpmCard.installed();
        byte[] x = seal(card, selection(9), new byte[0], SECRET);
        card.reset();
        byte[] y = seal(card, selection(9), new byte[0], SECRET);
        org.junit.Assert.assertFalse(Arrays.equals(Arrays.copyOfRange(x, 61, x.length), Arrays.copyOfRange(y, 61, y.length)));
    }

    @Test
    public void badSealInputIsRefused() {
        MtpmCard card = MtpmCard.installed();
        byte[] digest = new byte[32];
        card.assertSw(Constants.SW_WRONG_LENGTH, Constants.INS_SEAL, 0, 0, concat(selection(9), digest, new byte[] {0}));
        card.assertSw(Constants.SW_WRONG_LENGTH, Constants.INS_SEAL, 0, 0,
                concat(selection(9), digest, new byte[] {0}, new byte[129]));
        card.assertSw(Constants.SW_WRONG_LENGTH, Constants.INS_SEAL, 0, 0,
                concat(selection(9), digest, new byte[] {33}, new byte[40]));
        card.assertSw(Constants.SW_WRONG_DATA, Constants.INS_SEAL, 0, 0, concat(new byte[3], digest, new byte[] {0, 1}));
        card.ok(Constants.INS_SEAL, 0, 0, concat(selection(9), digest, new byte[] {0}, new byte[128]));
    }
}
