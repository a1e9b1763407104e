package tpmcard.mtpm;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static tpmcard.mtpm.MtpmCard.concat;
import static tpmcard.mtpm.MtpmCard.lengthPrefixed;
import static tpmcard.mtpm.MtpmCard.selection;

import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.interfaces.ECPublicKey;
import java.security.spec.ECGenParameterSpec;
import java.util.Arrays;
import org.junit.Test;

/**
 * MIGRATE EXPORT / IMPORT of sealed objects and NV indices from card A to card B: only objects
 * made migratable, only with the owner auth of an owned card AND the object's own authorisation
 * (PCR policy, auth value), only to a key certified by the migration CA that A's owner installed.
 */
public class MigrationTest {
    static final byte[] OWNER_A = "owner A".getBytes();
    static final byte[] OWNER_B = "owner B".getBytes();
    static final byte[] PW = "pw".getBytes();
    static final byte[] PURPOSE = "migration target".getBytes();

    static byte[] migrationPoint(MtpmCard card) {
        return Crypto.point(card.ok(Constants.INS_GET_PUBLIC, Constants.KEY_MIGRATION, 0, new byte[0]));
    }

    static KeyPair newCa() {
        try {
            KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
            generator.initialize(new ECGenParameterSpec("secp256r1"));
            return generator.generateKeyPair();
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    static byte[] caPoint(KeyPair ca) {
        ECPublicKey key = (ECPublicKey) ca.getPublic();
        return concat(new byte[] {4}, fixed(key.getW().getAffineX()), fixed(key.getW().getAffineY()));
    }

    private static byte[] fixed(BigInteger value) {
        byte[] raw = value.toByteArray();
        byte[] out = new byte[32];
        int n = Math.min(raw.length, 32);
        System.arraycopy(raw, raw.length - n, out, 32 - n, n);
        return out;
    }

    static byte[] tlv(int tag, byte[] value) {
        return concat(new byte[] {(byte) tag, (byte) value.length}, value);
    }

    /** The migration target certificate (docs/mtpm.md "Migration"), signed by {@code ca}. */
    static byte[] certificate(PrivateKey ca, byte[] purpose, byte[] point, byte[] cardId) {
        byte[] signed = concat(tlv(0x80, purpose), tlv(0x81, point), tlv(0x82, cardId));
        try {
            Signature ecdsa = Signature.getInstance("SHA256withECDSA");
            ecdsa.initSign(ca);
            ecdsa.update(signed);
            return concat(signed, tlv(0x9E, ecdsa.sign()));
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    static byte[] exportData(byte[] ownerAuth, byte[] auth, byte[] certificate, byte[] object) {
        return concat(lengthPrefixed(ownerAuth), lengthPrefixed(auth), lengthPrefixed(certificate), object);
    }

    static byte[] sealMigratable(MtpmCard card, byte[] sel, byte[] auth, byte[] secret) {
        byte[] digest = Crypto.sha256(card.ok(Constants.INS_PCR_READ, 0, 0, sel));
        return card.ok(Constants.INS_SEAL, Constants.P1_SEAL_MIGRATABLE, 0,
                concat(sel, digest, lengthPrefixed(auth), secret));
    }

    /** Owned cards A and B; A trusts {@code ca}; returns {a, b}. */
    static MtpmCard[] cards(KeyPair ca) {
        MtpmCard a = MtpmCard.installed(new byte[] {0x0A});
        MtpmCard b = MtpmCard.installed(new byte[] {0x0B});
        a.ok(Constants.INS_TAKE_OWNERSHIP, 0, 0, OWNER_A);
        b.ok(Constants.INS_TAKE_OWNERSHIP, 0, 0, OWNER_B);
        a.ok(Constants.INS_MIGRATION_ANCHOR_SET, 0, 0, concat(lengthPrefixed(OWNER_A), caPoint(ca)));
        assertArrayEquals(caPoint(ca), a.ok(Constants.INS_MIGRATION_ANCHOR_GET, 0, 0, new byte[0]));
        return new MtpmCard[] {a, b};
    }

    @Test
    public void sealedObjectCopyAndMove() {
        KeyPair ca = newCa();
        MtpmCard[] ab = cards(ca);
        MtpmCard a = ab[0];
        MtpmCard b = ab[1];
        byte[] blob = sealMigratable(a, selection(9, 10), PW, SealingTest.SECRET);
        byte[] target = certificate(ca.getPrivate(), PURPOSE, migrationPoint(b), "card B".getBytes());

        byte[] copy = a.ok(Constants.INS_MIGRATE_EXPORT, Constants.P1_MIGRATE_COPY, Constants.P2_OBJECT_SEALED,
                exportData(OWNER_A, PW, target, blob));
        byte[] onB = b.ok(Constants.INS_MIGRATE_IMPORT, 0, Constants.P2_OBJECT_SEALED, concat(lengthPrefixed(OWNER_B), copy));
        assertArrayEquals(SealingTest.SECRET, SealingTest.unseal(b, PW, onB).data);
        assertArrayEquals(SealingTest.SECRET, SealingTest.unseal(a, PW, blob).data);  // copy: A keeps it
        // The policy and the flags travel: on B the PCRs must match too, and it may move on.
        b.ok(Constants.INS_PCR_EXTEND, 10, 0, new byte[32]);
        assertEquals(Constants.SW_POLICY_MISMATCH, SealingTest.unseal(b, PW, onB).sw);
        assertEquals(1 | 2, onB[60]);

        byte[] moved = a.ok(Constants.INS_MIGRATE_EXPORT, Constants.P1_MIGRATE_MOVE, Constants.P2_OBJECT_SEALED,
                exportData(OWNER_A, PW, target, blob));
        assertEquals(Constants.SW_OBJECT_INVALID, SealingTest.unseal(a, PW, blob).sw);
        a.assertSw(Constants.SW_OBJECT_INVALID, Constants.INS_MIGRATE_EXPORT, Constants.P1_MIGRATE_COPY,
                Constants.P2_OBJECT_SEALED, exportData(OWNER_A, PW, target, blob));
        b.reset();
        byte[] movedOnB = b.ok(Constants.INS_MIGRATE_IMPORT, 0, Constants.P2_OBJECT_SEALED,
                concat(lengthPrefixed(OWNER_B), moved));
        assertArrayEquals(SealingTest.SECRET, SealingTest.unseal(b, PW, movedOnB).data);
    }

    /**
     * Issue 11 finding 2: a secret sealed to PCR 10 plus an auth value, whose UNSEAL the card
     * refuses, must not leave the card to an attacker's software key.
     */
    @Test
    public void theAttackOfIssue11IsRefused() {
        KeyPair ca = newCa();
        MtpmCard[] ab = cards(ca);
        MtpmCard a = ab[0];
        MtpmCard b = ab[1];
        byte[] locked = sealMigratable(a, selection(10), PW, SealingTest.SECRET);
        byte[] fixedToA = SealingTest.seal(a, selection(10), PW, SealingTest.SECRET);
        byte[] honest = certificate(ca.getPrivate(), PURPOSE, migrationPoint(b), "card B".getBytes());
        KeyPair attacker = newCa();  // a software key the attacker holds the private half of
        byte[] attackerPoint = caPoint(attacker);
        int sealed = Constants.P2_OBJECT_SEALED;

        // The target: a bare point, a certificate by another CA (the attacker's own), one for
        // another purpose, an altered one, one with trailing bytes: all 6A85.
        a.assertSw(Constants.SW_UNTRUSTED_TARGET, Constants.INS_MIGRATE_EXPORT, 0, sealed,
                exportData(OWNER_A, PW, attackerPoint, locked));
        a.assertSw(Constants.SW_UNTRUSTED_TARGET, Constants.INS_MIGRATE_EXPORT, 0, sealed,
                exportData(OWNER_A, PW, certificate(attacker.getPrivate(), PURPOSE, attackerPoint, new byte[] {1}),
                        locked));
        a.assertSw(Constants.SW_UNTRUSTED_TARGET, Constants.INS_MIGRATE_EXPORT, 0, sealed,
                exportData(OWNER_A, PW, certificate(ca.getPrivate(), "attestation key!".getBytes(), attackerPoint,
                        new byte[] {1}), locked));
        byte[] altered = honest.clone();
        altered[20 + 10] ^= 1;  // a byte of the certified point
        a.assertSw(Constants.SW_UNTRUSTED_TARGET, Constants.INS_MIGRATE_EXPORT, 0, sealed,
                exportData(OWNER_A, PW, altered, locked));
        a.assertSw(Constants.SW_UNTRUSTED_TARGET, Constants.INS_MIGRATE_EXPORT, 0, sealed,
                exportData(OWNER_A, PW, concat(honest, new byte[] {0}), locked));
        // Not sealed migratable: refused even with every authorisation and a certified target.
        a.assertSw(Constants.SW_NOT_MIGRATABLE, Constants.INS_MIGRATE_EXPORT, 0, sealed,
                exportData(OWNER_A, PW, honest, fixedToA));
        // The object's auth value (under the dictionary-attack guard) and its PCR policy.
        a.assertSw(Constants.SW_AUTH_FAILED, Constants.INS_MIGRATE_EXPORT, 0, sealed,
                exportData(OWNER_A, "guess".getBytes(), honest, locked));
        a.ok(Constants.INS_PCR_EXTEND, 10, 0, new byte[32]);
        assertEquals(Constants.SW_POLICY_MISMATCH, SealingTest.unseal(a, PW, locked).sw);
        a.assertSw(Constants.SW_POLICY_MISMATCH, Constants.INS_MIGRATE_EXPORT, 0, sealed,
                exportData(OWNER_A, PW, honest, locked));
        // The owner auth, and an owner at all.
        a.reset();
        a.assertSw(Constants.SW_OWNER_AUTH_FAILED | 7, Constants.INS_MIGRATE_EXPORT, 0, sealed,
                exportData(OWNER_B, PW, honest, locked));
        MtpmCard unowned = MtpmCard.installed(new byte[] {0x0C});
        unowned.assertSw(Constants.SW_OWNER_REQUIRED, Constants.INS_MIGRATE_EXPORT, 0, sealed,
                exportData(new byte[0], new byte[0], honest, locked));
        unowned.assertSw(Constants.SW_OWNER_REQUIRED, Constants.INS_MIGRATION_ANCHOR_SET, 0, 0,
                concat(new byte[] {0}, caPoint(attacker)));
        // With the right everything, after the reset: it works (to B only).
        byte[] dup = a.ok(Constants.INS_MIGRATE_EXPORT, 0, sealed, exportData(OWNER_A, PW, honest, locked));
        byte[] onB = b.ok(Constants.INS_MIGRATE_IMPORT, 0, sealed, concat(lengthPrefixed(OWNER_B), dup));
        assertArrayEquals(SealingTest.SECRET, SealingTest.unseal(b, PW, onB).data);
        // No anchor after CLEAR: the next owner installs their own.
        a.ok(Constants.INS_CLEAR, 0, 0, lengthPrefixed(OWNER_A));
        a.ok(Constants.INS_TAKE_OWNERSHIP, 0, 0, OWNER_A);
        a.assertSw(Constants.SW_NOT_FOUND, Constants.INS_MIGRATION_ANCHOR_GET, 0, 0, new byte[0]);
        byte[] fresh = sealMigratable(a, selection(9), PW, SealingTest.SECRET);
        a.assertSw(Constants.SW_UNTRUSTED_TARGET, Constants.INS_MIGRATE_EXPORT, 0, sealed,
                exportData(OWNER_A, PW, honest, fresh));
    }

    @Test
    public void duplicatesAreBoundToTheTargetAndAuthenticated() {
        KeyPair ca = newCa();
        MtpmCard[] ab = cards(ca);
        MtpmCard a = ab[0];
        MtpmCard b = ab[1];
        MtpmCard c = MtpmCard.installed(new byte[] {0x0C});
        c.ok(Constants.INS_TAKE_OWNERSHIP, 0, 0, OWNER_B);
        byte[] blob = sealMigratable(a, selection(9), new byte[0], SealingTest.SECRET);
        byte[] dup = a.ok(Constants.INS_MIGRATE_EXPORT, 0, Constants.P2_OBJECT_SEALED,
                exportData(OWNER_A, new byte[0], certificate(ca.getPrivate(), PURPOSE, migrationPoint(b),
                        "card B".getBytes()), blob));
        c.assertSw(Constants.SW_OBJECT_INVALID, Constants.INS_MIGRATE_IMPORT, 0, Constants.P2_OBJECT_SEALED,
                concat(lengthPrefixed(OWNER_B), dup));
        for (int i : new int[] {2, 9, 20, 80, dup.length - 20, dup.length - 1}) {
            byte[] bad = dup.clone();
            bad[i] ^= 1;
            int sw = b.invoke(Constants.INS_MIGRATE_IMPORT, 0, Constants.P2_OBJECT_SEALED,
                    concat(lengthPrefixed(OWNER_B), bad)).sw;
            org.junit.Assert.assertTrue("byte " + i + " SW " + Integer.toHexString(sw),
                    sw == Constants.SW_OBJECT_INVALID || sw == 0x6F00 || sw == Constants.SW_WRONG_DATA);
        }
        b.assertSw(Constants.SW_OWNER_AUTH_FAILED | 7, Constants.INS_MIGRATE_IMPORT, 0, Constants.P2_OBJECT_SEALED,
                concat(lengthPrefixed(OWNER_A), dup));
        b.assertSw(Constants.SW_WRONG_DATA, Constants.INS_MIGRATE_IMPORT, 0, Constants.P2_OBJECT_NV,
                concat(lengthPrefixed(OWNER_B), dup));
        MtpmCard unowned = MtpmCard.installed(new byte[] {0x0D});
        unowned.assertSw(Constants.SW_OWNER_REQUIRED, Constants.INS_MIGRATE_IMPORT, 0, Constants.P2_OBJECT_SEALED,
                concat(new byte[] {0}, dup));
    }

    @Test
    public void nvIndexAndCounterMoveButNeverCopy() {
        KeyPair ca = newCa();
        MtpmCard[] ab = cards(ca);
        MtpmCard a = ab[0];
        MtpmCard b = ab[1];
        byte[] fixedHandle = {0x01, 0x50, 0x00, 0x09};
        int migratable = Constants.NV_ATTRIBUTE_MIGRATABLE;
        NvTest.define(a, OWNER_A, NvTest.HANDLE, migratable, 32, "nv".getBytes());
        NvTest.define(a, OWNER_A, fixedHandle, 0, 32, new byte[0]);
        a.ok(Constants.INS_NV_WRITE, 0, 0, concat(NvTest.HANDLE, new byte[] {0, 0}, lengthPrefixed("nv".getBytes()),
                "payload".getBytes()));
        NvTest.define(a, OWNER_A, NvTest.COUNTER, Constants.NV_ATTRIBUTE_COUNTER | migratable, 8, new byte[0]);
        for (int i = 0; i < 7; i++) {
            NvTest.increment(a, NvTest.COUNTER, new byte[0]);
        }
        byte[] target = certificate(ca.getPrivate(), PURPOSE, migrationPoint(b), "card B".getBytes());
        int nv = Constants.P2_OBJECT_NV;
        a.assertSw(Constants.SW_NOT_MIGRATABLE, Constants.INS_MIGRATE_EXPORT, Constants.P1_MIGRATE_MOVE, nv,
                exportData(OWNER_A, new byte[0], target, fixedHandle));
        // A counter moves but is never copied: two cards would count the same values.
        a.assertSw(Constants.SW_NOT_MIGRATABLE, Constants.INS_MIGRATE_EXPORT, Constants.P1_MIGRATE_COPY, nv,
                exportData(OWNER_A, new byte[0], target, NvTest.COUNTER));
        a.assertSw(Constants.SW_AUTH_FAILED, Constants.INS_MIGRATE_EXPORT, Constants.P1_MIGRATE_MOVE, nv,
                exportData(OWNER_A, "nope".getBytes(), target, NvTest.HANDLE));
        byte[][] auths = {"nv".getBytes(), new byte[0]};
        byte[][] handles = {NvTest.HANDLE, NvTest.COUNTER};
        for (int k = 0; k < 2; k++) {
            byte[] dup = a.ok(Constants.INS_MIGRATE_EXPORT, Constants.P1_MIGRATE_MOVE, nv,
                    exportData(OWNER_A, auths[k], target, handles[k]));
            assertEquals(0, b.ok(Constants.INS_MIGRATE_IMPORT, 0, nv, concat(lengthPrefixed(OWNER_B), dup)).length);
            a.assertSw(Constants.SW_NOT_FOUND, Constants.INS_NV_READ, 0, 0,
                    concat(handles[k], new byte[] {0, 0, 0, 1, 0}));
        }
        assertArrayEquals("payload".getBytes(), Arrays.copyOf(NvTest.read(b, NvTest.HANDLE, 0, 7, "nv".getBytes()), 7));
        assertEquals(8, NvTest.increment(b, NvTest.COUNTER, new byte[0]));
        // B's own high-water mark followed the imported counter.
        b.ok(Constants.INS_NV_UNDEFINE, 0, 0, concat(lengthPrefixed(OWNER_B), NvTest.COUNTER));
        NvTest.define(b, OWNER_B, NvTest.COUNTER, Constants.NV_ATTRIBUTE_COUNTER, 8, new byte[0]);
        assertEquals(8, ByteBuffer.wrap(NvTest.read(b, NvTest.COUNTER, 0, 8, new byte[0])).getLong());
    }
}
