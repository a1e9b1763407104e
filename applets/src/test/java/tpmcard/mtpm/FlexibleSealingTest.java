package tpmcard.mtpm;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static tpmcard.mtpm.MtpmCard.concat;
import static tpmcard.mtpm.MtpmCard.lengthPrefixed;
import static tpmcard.mtpm.MtpmCard.selection;

import java.lang.reflect.Field;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.Signature;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import javacard.framework.ISOException;
import javacard.security.ECPrivateKey;
import javacard.security.KeyBuilder;
import org.junit.Test;
import tpmcard.lib.P256;
import tpmcard.sim.Json;

/**
 * Flexible sealing and unbinding (docs/flexible-sealing.md) on the card, against the known answers
 * of tests/vectors/flexible_sealing.json (which tests/unit/test_flexible_vectors.py checks the host
 * against): an approval signed over the documented statement opens an authorized blob, a revoke
 * statement raises the floor, the card's ECIES decryption gives the vectors' Z and messages. Then
 * the commands' refusals: states outside the group, the 24-state limit, classic UNSEAL and
 * MIGRATE EXPORT of a flexible blob, the authority table's limit.
 */
public class FlexibleSealingTest {
    private static final HexFormat HEX = HexFormat.of();
    private static final byte[] SECRET = SealingTest.SECRET;

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> vectors(String kind) throws Exception {
        Path file = Path.of(System.getProperty("tpmcard.vectors"), "flexible_sealing.json");
        Map<String, Object> root = (Map<String, Object>) Json.parse(Files.readString(file, StandardCharsets.UTF_8));
        return (List<Map<String, Object>>) (Object) root.get(kind);
    }

    private static byte[] hex(Map<String, Object> v, String field) {
        return HEX.parseHex((String) v.get(field));
    }

    private static byte[] epoch(long value) {
        byte[] out = new byte[8];
        for (int i = 0; i < 8; i++) {
            out[7 - i] = (byte) (value >>> (8 * i));
        }
        return out;
    }

    private static long number(Map<String, Object> v, String field) {
        return ((Number) v.get(field)).longValue();
    }

    /** A card whose PCR 0 (host) and 16 (card) hold the vectors' configuration. */
    private static MtpmCard vectorCard(Map<String, Object> v) {
        MtpmCard card = MtpmCard.installed();
        System.arraycopy(hex(v, "pcr0"), 0, card.hostPcrs, 0, 32);
        assertArrayEquals(hex(v, "pcr16"), card.ok(Constants.INS_PCR_EXTEND, 16, 0, hex(v, "extend16")));
        return card;
    }

    private static byte[] sealAuthorized(MtpmCard card, byte[] authorityHash, byte[] ref) {
        return card.ok(Constants.INS_SEAL_FLEXIBLE, Constants.P1_POLICY_AUTHORIZED, 0,
                concat(authorityHash, lengthPrefixed(ref), SECRET));
    }

    private static byte[] approval(Map<String, Object> v, byte[] epoch, byte[] signature) {
        return concat(selection(0, 16), hex(v, "authority_point"), epoch, signature);
    }

    private static MtpmCard.Result unseal(MtpmCard card, byte[] approval, byte[] blob) {
        return card.invoke(Constants.INS_UNSEAL_FLEXIBLE, 0, 0, concat(lengthPrefixed(approval), blob));
    }

    @Test
    public void theVectorsApprovalsOpenAnAuthorizedBlob() throws Exception {
        for (Map<String, Object> v : vectors("approve")) {
            MtpmCard card = vectorCard(v);
            byte[] blob = sealAuthorized(card, hex(v, "authority_hash"), hex(v, "policy_ref"));
            byte[] epoch = epoch(number(v, "epoch"));
            byte[] good = approval(v, epoch, hex(v, "signature"));
            assertArrayEquals((String) v.get("name"), SECRET, card.ok(Constants.INS_UNSEAL_FLEXIBLE, 0, 0,
                    concat(lengthPrefixed(good), blob)));
            // Another epoch, another PCR 0, another PCR 16: not what was signed.
            assertEquals(Constants.SW_POLICY_MISMATCH, unseal(card, approval(v, epoch(number(v, "epoch") + 1),
                    hex(v, "signature")), blob).sw);
            card.hostPcrs[0] ^= 1;
            assertEquals(Constants.SW_POLICY_MISMATCH, unseal(card, good, blob).sw);
            card.hostPcrs[0] ^= 1;
            card.ok(Constants.INS_PCR_EXTEND, 16, 0, new byte[32]);
            assertEquals(Constants.SW_POLICY_MISMATCH, unseal(card, good, blob).sw);
            // A blob naming another authority (or policyRef) refuses this approval.
            card.ok(Constants.INS_PCR_RESET, 16, 0, new byte[0]);
            card.ok(Constants.INS_PCR_EXTEND, 16, 0, hex(v, "extend16"));
            assertArrayEquals(SECRET, unseal(card, good, blob).data);
            byte[] other = sealAuthorized(card, Crypto.sha256(hex(v, "authority_hash")), hex(v, "policy_ref"));
            assertEquals(Constants.SW_UNTRUSTED_AUTHORITY, unseal(card, good, other).sw);
            byte[] otherRef = sealAuthorized(card, hex(v, "authority_hash"), "x".getBytes());
            assertEquals(Constants.SW_POLICY_MISMATCH, unseal(card, good, otherRef).sw);
        }
    }

    @Test
    public void theVectorsRevocationRaisesTheFloorForGood() throws Exception {
        Map<String, Object> low = vectors("approve").get(0);   // epoch 5
        Map<String, Object> high = vectors("approve").get(1);  // epoch 7, policyRef vm-image
        Map<String, Object> revoke = vectors("revoke").get(0); // epoch 6
        MtpmCard card = vectorCard(low);
        byte[] blob = sealAuthorized(card, hex(low, "authority_hash"), new byte[0]);
        byte[] blobHigh = sealAuthorized(card, hex(high, "authority_hash"), hex(high, "policy_ref"));
        byte[] lowApproval = approval(low, epoch(5), hex(low, "signature"));
        assertArrayEquals(SECRET, unseal(card, lowApproval, blob).data);
        byte[] statement = concat(hex(revoke, "authority_point"), epoch(6), hex(revoke, "signature"));
        assertArrayEquals(epoch(6), card.ok(Constants.INS_REVOKE_APPROVALS, 0, 0, statement));
        assertEquals(Constants.SW_APPROVAL_REVOKED, unseal(card, lowApproval, blob).sw);
        assertArrayEquals(SECRET, unseal(card, approval(high, epoch(7), hex(high, "signature")), blobHigh).data);
        card.reset();  // persistent: a card reset does not bring epoch 5 back
        System.arraycopy(hex(low, "pcr0"), 0, card.hostPcrs, 0, 32);
        card.ok(Constants.INS_PCR_EXTEND, 16, 0, hex(low, "extend16"));
        assertEquals(Constants.SW_APPROVAL_REVOKED, unseal(card, lowApproval, blob).sw);
        // The same statement again, or one altered: the floor stays.
        assertArrayEquals(epoch(6), card.ok(Constants.INS_REVOKE_APPROVALS, 0, 0, statement));
        byte[] altered = concat(hex(revoke, "authority_point"), epoch(60), hex(revoke, "signature"));
        card.assertSw(Constants.SW_POLICY_MISMATCH, Constants.INS_REVOKE_APPROVALS, 0, 0, altered);
        card.assertSw(Constants.SW_WRONG_LENGTH, Constants.INS_REVOKE_APPROVALS, 0, 0,
                Arrays.copyOf(statement, 80));
    }

    private static Flexible flexible(MtpmCard card) throws Exception {
        Field field = MtpmApplet.class.getDeclaredField("flexible");
        field.setAccessible(true);
        return (Flexible) field.get(card.runtime.applet(card.mtpmAid));
    }

    @Test
    public void theCardDecryptsTheVectorsCiphertexts() throws Exception {
        MtpmCard card = MtpmCard.installed();
        Flexible flexible = flexible(card);
        card.runtime.activate();
        for (Map<String, Object> v : vectors("bind")) {
            String name = (String) v.get("name");
            ECPrivateKey key = (ECPrivateKey) KeyBuilder.buildKey(KeyBuilder.TYPE_EC_FP_PRIVATE, P256.KEY_LENGTH, false);
            new P256().setDomainParameters(key);
            key.setS(hex(v, "bind_private"), (short) 0, (short) 32);
            byte[] point = hex(v, "bind_point");
            byte[] ct = hex(v, "ciphertext");
            short header = (short) number(v, "header_length");
            byte[] scratch = new byte[160];
            short ctLength = flexible.verifyBound(key, point, ct, (short) 0, (short) ct.length, header, scratch);
            assertArrayEquals(name, hex(v, "z"), Arrays.copyOfRange(scratch, 4, 36));
            byte[] pt = new byte[160];
            short plainLength = flexible.decryptBound(point, ct, (short) 0, header, ctLength, pt, (short) 0, scratch);
            byte[] message = hex(v, "message");
            assertEquals(name, message.length, ((pt[0] & 0xFF) << 8) | (pt[1] & 0xFF));
            assertArrayEquals(name, message, Arrays.copyOfRange(pt, 2, 2 + message.length));
            assertEquals(name, (message.length + 2 + 15) / 16 * 16, plainLength);
            assertTrue(name, Arrays.equals(new byte[72], Arrays.copyOf(scratch, 72)));  // Z and keys wiped
            // One altered byte anywhere (header, ciphertext, MAC): refused before any decryption.
            for (int at : new int[] {1, 74, header - 1, header, ct.length - 17, ct.length - 1}) {
                if (at < 9 || at > 73) {  // not the point (off the curve: jCardSim answers 6F00)
                    byte[] bad = ct.clone();
                    bad[at] ^= 0x10;
                    try {
                        flexible.verifyBound(key, point, bad, (short) 0, (short) bad.length, header, scratch);
                        throw new AssertionError(name + ": altered byte " + at + " accepted");
                    } catch (ISOException e) {
                        assertEquals(Constants.SW_OBJECT_INVALID, e.getReason());
                    }
                }
            }
        }
    }

    @Test
    public void anyOfOpensInEachListedStateOnly() {
        MtpmCard card = MtpmCard.installed();
        byte[] sel = selection(3, 12);
        byte[] now = Crypto.sha256(card.ok(Constants.INS_PCR_READ, 0, 0, sel));
        byte[] event = Crypto.sha256("update".getBytes());
        byte[] pcr12 = Crypto.sha256(new byte[32], event);
        byte[] later = Crypto.sha256(new byte[32], pcr12);  // PCR 3 (host) zero, PCR 12 extended once
        byte[][] states = new byte[24][];
        for (int i = 0; i < 24; i++) {
            states[i] = Crypto.sha256(new byte[] {(byte) i});
        }
        states[5] = now;
        states[23] = later;
        byte[] policy = concat(sel, new byte[] {24}, concat(states));
        byte[] blob = card.ok(Constants.INS_SEAL_FLEXIBLE, Constants.P1_POLICY_ANY_OF, 0, concat(policy, SECRET));
        assertEquals(26 + 4 + 24 * 32 + 48 + 16, blob.length);
        assertArrayEquals(SECRET, unseal(card, new byte[0], blob).data);
        card.ok(Constants.INS_PCR_EXTEND, 12, 0, event);
        assertArrayEquals(SECRET, unseal(card, new byte[0], blob).data);
        card.ok(Constants.INS_PCR_EXTEND, 12, 0, event);
        assertEquals(Constants.SW_POLICY_MISMATCH, unseal(card, new byte[0], blob).sw);
        card.hostPcrs[3 * 32] = 1;
        assertEquals(Constants.SW_POLICY_MISMATCH, unseal(card, new byte[0], blob).sw);
        // 25 states, none, an empty selection, an approval for an any-of blob, a truncated blob.
        byte[] tooMany = concat(sel, new byte[] {25}, concat(states), new byte[32], SECRET);
        card.assertSw(Constants.SW_WRONG_DATA, Constants.INS_SEAL_FLEXIBLE, Constants.P1_POLICY_ANY_OF, 0, tooMany);
        card.assertSw(Constants.SW_WRONG_DATA, Constants.INS_SEAL_FLEXIBLE, Constants.P1_POLICY_ANY_OF, 0,
                concat(sel, new byte[] {0}, SECRET));
        card.assertSw(Constants.SW_WRONG_DATA, Constants.INS_SEAL_FLEXIBLE, Constants.P1_POLICY_ANY_OF, 0,
                concat(new byte[3], new byte[] {1}, now, SECRET));
        card.assertSw(Constants.SW_INCORRECT_P1P2, Constants.INS_SEAL_FLEXIBLE, Constants.P1_POLICY_NONE, 0, SECRET);
        assertEquals(Constants.SW_WRONG_DATA, unseal(card, new byte[80], blob).sw);
        assertEquals(Constants.SW_OBJECT_INVALID, unseal(card, new byte[0], Arrays.copyOf(blob, 60)).sw);
        // Another card (or after CLEAR) does not know the key id.
        MtpmCard other = MtpmCard.installed(new byte[] {9});
        assertEquals(Constants.SW_NOT_FOUND, unseal(other, new byte[0], blob).sw);
    }

    @Test
    public void aFlexibleBlobNeverLeavesTheCardAndClassicUnsealRefusesIt() {
        KeyPair ca = MigrationTest.newCa();
        MtpmCard[] ab = MigrationTest.cards(ca);
        MtpmCard a = ab[0];
        byte[] sel = selection(9);
        byte[] now = Crypto.sha256(a.ok(Constants.INS_PCR_READ, 0, 0, sel));
        byte[] blob = a.ok(Constants.INS_SEAL_FLEXIBLE, Constants.P1_POLICY_ANY_OF, 0,
                concat(sel, new byte[] {1}, now, SECRET));
        byte[] target = MigrationTest.certificate(ca.getPrivate(), MigrationTest.PURPOSE,
                MigrationTest.migrationPoint(ab[1]), "card B".getBytes());
        for (byte p1 : new byte[] {Constants.P1_MIGRATE_COPY, Constants.P1_MIGRATE_MOVE}) {
            a.assertSw(Constants.SW_OBJECT_INVALID, Constants.INS_MIGRATE_EXPORT, p1, Constants.P2_OBJECT_SEALED,
                    MigrationTest.exportData(MigrationTest.OWNER_A, new byte[0], target, blob));
        }
        a.assertSw(Constants.SW_OBJECT_INVALID, Constants.INS_UNSEAL, 0, 0, concat(new byte[] {0}, blob));
        assertArrayEquals(SECRET, unseal(a, new byte[0], blob).data);
    }

    @Test
    public void theAuthorityTableRefusesANinthAuthorityInsteadOfIgnoringItsFloor() throws Exception {
        MtpmCard card = MtpmCard.installed();
        for (int i = 0; i <= Constants.AUTHORITY_SLOTS; i++) {
            KeyPair authority = MigrationTest.newCa();
            Signature ecdsa = Signature.getInstance("SHA256withECDSA");
            ecdsa.initSign(authority.getPrivate());
            ecdsa.update(concat("tpmcard-revoke-v1".getBytes(), epoch(1)));
            byte[] statement = concat(MigrationTest.caPoint(authority), epoch(1), ecdsa.sign());
            if (i < Constants.AUTHORITY_SLOTS) {
                assertArrayEquals(epoch(1), card.ok(Constants.INS_REVOKE_APPROVALS, 0, 0, statement));
            } else {
                card.assertSw(Constants.SW_NOT_ENOUGH_MEMORY, Constants.INS_REVOKE_APPROVALS, 0, 0, statement);
            }
        }
    }

    @Test
    public void theBindKeyIsCertifiedByTheEk() {
        MtpmCard card = MtpmCard.installed();
        byte[] publicArea = card.ok(Constants.INS_BIND_PUBLIC, 0, 0, new byte[0]);
        assertEquals(88, publicArea.length);
        assertEquals(0x0019, ((publicArea[12] & 0xFF) << 8) | (publicArea[13] & 0xFF));  // ECDH scheme
        byte[] nonce = "fresh".getBytes();
        byte[][] parts = Crypto.splitAttestation(card.ok(Constants.INS_BIND_CERTIFY, 0, 0, nonce));
        byte[] ek = card.ok(Constants.INS_GET_PUBLIC, Constants.KEY_EK, 0, new byte[0]);
        assertTrue(Crypto.verify(Crypto.publicKey(ek), parts[0], parts[1]));
        byte[] name = Crypto.name(publicArea);
        assertTrue(Collections.indexOf(parts[0], name) > 0);
        card.assertSw(Constants.SW_WRONG_LENGTH, Constants.INS_BIND_CERTIFY, 0, 0, new byte[65]);
        card.assertSw(Constants.SW_WRONG_LENGTH, Constants.INS_BIND_PUBLIC, 0, 0, new byte[1]);
        // Two cards, two bind keys.
        byte[] other = MtpmCard.installed(new byte[] {7}).ok(Constants.INS_BIND_PUBLIC, 0, 0, new byte[0]);
        assertTrue(!Arrays.equals(publicArea, other));
    }

    /** Where {@code part} first occurs in {@code whole}, or -1. */
    private static final class Collections {
        static int indexOf(byte[] whole, byte[] part) {
            for (int i = 0; i + part.length <= whole.length; i++) {
                if (Arrays.equals(Arrays.copyOfRange(whole, i, i + part.length), part)) {
                    return i;
                }
            }
            return -1;
        }
    }
}
