package tpmcard.mtpm;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static tpmcard.mtpm.MtpmCard.concat;
import static tpmcard.mtpm.MtpmCard.lengthPrefixed;
import static tpmcard.mtpm.MtpmCard.selection;

import java.nio.ByteBuffer;
import java.util.Arrays;
import org.junit.Test;

/** MIGRATE EXPORT / IMPORT of sealed objects and NV indices from card A to card B. */
public class MigrationTest {
    static final byte[] OWNER_A = "owner A".getBytes();
    static final byte[] OWNER_B = "owner B".getBytes();

    static byte[] migrationPoint(MtpmCard card) {
        return Crypto.point(card.ok(Constants.INS_GET_PUBLIC, Constants.KEY_MIGRATION, 0, new byte[0]));
    }

    static MtpmCard[] cards() {
        MtpmCard a = MtpmCard.installed(new byte[] {0x0A});
        MtpmCard b = MtpmCard.installed(new byte[] {0x0B});
        a.ok(Constants.INS_TAKE_OWNERSHIP, 0, 0, OWNER_A);
        b.ok(Constants.INS_TAKE_OWNERSHIP, 0, 0, OWNER_B);
        return new MtpmCard[] {a, b};
    }

    @Test
    public void sealedObjectCopyAndMove() {
        MtpmCard[] ab = cards();
        MtpmCard a = ab[0];
        MtpmCard b = ab[1];
        byte[] blob = SealingTest.seal(a, selection(9, 10), "pw".getBytes(), SealingTest.SECRET);
        byte[] target = migrationPoint(b);

        byte[] copy = a.ok(Constants.INS_MIGRATE_EXPORT, Constants.P1_MIGRATE_COPY, Constants.P2_OBJECT_SEALED,
                concat(lengthPrefixed(OWNER_A), target, blob));
        byte[] onB = b.ok(Constants.INS_MIGRATE_IMPORT, 0, Constants.P2_OBJECT_SEALED, concat(lengthPrefixed(OWNER_B), copy));
        assertArrayEquals(SealingTest.SECRET, SealingTest.unseal(b, "pw".getBytes(), onB).data);
        assertArrayEquals(SealingTest.SECRET, SealingTest.unseal(a, "pw".getBytes(), blob).data);  // copy: A keeps it
        // The policy travels: on B the PCRs must match too.
        b.ok(Constants.INS_PCR_EXTEND, 10, 0, new byte[32]);
        assertEquals(Constants.SW_POLICY_MISMATCH, SealingTest.unseal(b, "pw".getBytes(), onB).sw);

        byte[] moved = a.ok(Constants.INS_MIGRATE_EXPORT, Constants.P1_MIGRATE_MOVE, Constants.P2_OBJECT_SEALED,
                concat(lengthPrefixed(OWNER_A), target, blob));
        assertEquals(Constants.SW_OBJECT_INVALID, SealingTest.unseal(a, "pw".getBytes(), blob).sw);
        a.assertSw(Constants.SW_OBJECT_INVALID, Constants.INS_MIGRATE_EXPORT, Constants.P1_MIGRATE_COPY,
                Constants.P2_OBJECT_SEALED, concat(lengthPrefixed(OWNER_A), target, blob));
        b.reset();
        byte[] movedOnB = b.ok(Constants.INS_MIGRATE_IMPORT, 0, Constants.P2_OBJECT_SEALED,
                concat(lengthPrefixed(OWNER_B), moved));
        assertArrayEquals(SealingTest.SECRET, SealingTest.unseal(b, "pw".getBytes(), movedOnB).data);
    }

    @Test
    public void duplicatesAreBoundToTheTargetAndAuthenticated() {
        MtpmCard[] ab = cards();
        MtpmCard a = ab[0];
        MtpmCard b = ab[1];
        MtpmCard c = MtpmCard.installed(new byte[] {0x0C});
        byte[] blob = SealingTest.seal(a, selection(9), new byte[0], SealingTest.SECRET);
        byte[] dup = a.ok(Constants.INS_MIGRATE_EXPORT, 0, Constants.P2_OBJECT_SEALED,
                concat(lengthPrefixed(OWNER_A), migrationPoint(b), blob));
        c.assertSw(Constants.SW_OBJECT_INVALID, Constants.INS_MIGRATE_IMPORT, 0, Constants.P2_OBJECT_SEALED,
                concat(new byte[] {0}, dup));
        for (int i : new int[] {2, 9, 20, 80, dup.length - 20, dup.length - 1}) {
            byte[] bad = dup.clone();
            bad[i] ^= 1;
            int sw = b.invoke(Constants.INS_MIGRATE_IMPORT, 0, Constants.P2_OBJECT_SEALED,
                    concat(lengthPrefixed(OWNER_B), bad)).sw;
            org.junit.Assert.assertTrue("byte " + i + " SW " + Integer.toHexString(sw),
                    sw == Constants.SW_OBJECT_INVALID || sw == 0x6F00 || sw == Constants.SW_WRONG_DATA);
        }
        // Owner authorisation on both sides.
        a.assertSw(Constants.SW_OWNER_AUTH_FAILED | 7, Constants.INS_MIGRATE_EXPORT, 0, Constants.P2_OBJECT_SEALED,
                concat(lengthPrefixed(OWNER_B), migrationPoint(b), blob));
        b.assertSw(Constants.SW_OWNER_AUTH_FAILED | 7, Constants.INS_MIGRATE_IMPORT, 0, Constants.P2_OBJECT_SEALED,
                concat(lengthPrefixed(OWNER_A), dup));
        b.assertSw(Constants.SW_WRONG_DATA, Constants.INS_MIGRATE_IMPORT, 0, Constants.P2_OBJECT_NV,
                concat(lengthPrefixed(OWNER_B), dup));
    }

    @Test
    public void nvIndexAndCounterMove() {
        MtpmCard[] ab = cards();
        MtpmCard a = ab[0];
        MtpmCard b = ab[1];
        NvTest.define(a, OWNER_A, NvTest.HANDLE, 0, 32, "nv".getBytes());
        a.ok(Constants.INS_NV_WRITE, 0, 0, concat(NvTest.HANDLE, new byte[] {0, 0}, lengthPrefixed("nv".getBytes()),
                "payload".getBytes()));
        NvTest.define(a, OWNER_A, NvTest.COUNTER, Constants.NV_ATTRIBUTE_COUNTER, 8, new byte[0]);
        for (int i = 0; i < 7; i++) {
            NvTest.increment(a, NvTest.COUNTER, new byte[0]);
        }
        byte[] target = migrationPoint(b);
        for (byte[] handle : new byte[][] {NvTest.HANDLE, NvTest.COUNTER}) {
            byte[] dup = a.ok(Constants.INS_MIGRATE_EXPORT, Constants.P1_MIGRATE_MOVE, Constants.P2_OBJECT_NV,
                    concat(lengthPrefixed(OWNER_A), target, handle));
            assertEquals(0, b.ok(Constants.INS_MIGRATE_IMPORT, 0, Constants.P2_OBJECT_NV,
                    concat(lengthPrefixed(OWNER_B), dup)).length);
            a.assertSw(Constants.SW_NOT_FOUND, Constants.INS_NV_READ, 0, 0, concat(handle, new byte[] {0, 0, 0, 1, 0}));
        }
        assertArrayEquals("payload".getBytes(), Arrays.copyOf(NvTest.read(b, NvTest.HANDLE, 0, 7, "nv".getBytes()), 7));
        assertEquals(8, NvTest.increment(b, NvTest.COUNTER, new byte[0]));
        // B's own high-water mark followed the imported counter.
        b.ok(Constants.INS_NV_UNDEFINE, 0, 0, concat(lengthPrefixed(OWNER_B), NvTest.COUNTER));
        NvTest.define(b, OWNER_B, NvTest.COUNTER, Constants.NV_ATTRIBUTE_COUNTER, 8, new byte[0]);
        assertEquals(8, ByteBuffer.wrap(NvTest.read(b, NvTest.COUNTER, 0, 8, new byte[0])).getLong());
    }
}
