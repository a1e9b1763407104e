package tpmcard.mtpm;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static tpmcard.mtpm.MtpmCard.concat;
import static tpmcard.mtpm.MtpmCard.lengthPrefixed;
import static tpmcard.mtpm.MtpmCard.selection;

import java.nio.ByteBuffer;
import java.util.Arrays;
import org.junit.Test;

/** TAKE OWNERSHIP and CLEAR. */
public class OwnershipTest {
    static final byte[] OWNER = "owner secret".getBytes();

    @Test
    public void ownershipIsTakenOnceAndGuardsOwnerCommands() {
        MtpmCard card = MtpmCard.installed();
        assertEquals(0, card.ok(Constants.INS_GET_STATUS, 0, 0, new byte[0])[0]);
        card.ok(Constants.INS_TAKE_OWNERSHIP, 0, 0, OWNER);
        assertEquals(1, card.ok(Constants.INS_GET_STATUS, 0, 0, new byte[0])[0]);
        card.assertSw(Constants.SW_ALREADY_EXISTS, Constants.INS_TAKE_OWNERSHIP, 0, 0, "x".getBytes());
        card.assertSw(Constants.SW_OWNER_AUTH_FAILED | 7, Constants.INS_NV_DEFINE, 0, 0,
                concat(new byte[] {0}, NvTest.HANDLE, new byte[] {0, 0, 8, 0}));
        card.assertSw(Constants.SW_OWNER_AUTH_FAILED | 6, Constants.INS_CLEAR, 0, 0, lengthPrefixed("wrong".getBytes()));
        NvTest.define(card, OWNER, NvTest.HANDLE, 0, 8, new byte[0]);   // a success restores the tries
        assertEquals(8, card.ok(Constants.INS_GET_STATUS, 0, 0, new byte[0])[1]);
    }

    @Test
    public void ownerAuthBlocksAfterEightFailuresEvenAcrossResets() {
        MtpmCard card = MtpmCard.installed();
        card.ok(Constants.INS_TAKE_OWNERSHIP, 0, 0, OWNER);
        for (int left = 7; left > 0; left--) {
            card.assertSw(Constants.SW_OWNER_AUTH_FAILED | left, Constants.INS_CLEAR, 0, 0, lengthPrefixed("bad".getBytes()));
            card.reset();
        }
        card.assertSw(Constants.SW_OWNER_AUTH_BLOCKED, Constants.INS_CLEAR, 0, 0, lengthPrefixed("bad".getBytes()));
        card.assertSw(Constants.SW_OWNER_AUTH_BLOCKED, Constants.INS_CLEAR, 0, 0, lengthPrefixed(OWNER));
    }

    @Test
    public void clearWipesKeysNvAndCounters() {
        MtpmCard card = MtpmCard.installed();
        card.ok(Constants.INS_TAKE_OWNERSHIP, 0, 0, OWNER);
        byte[] ak = card.ok(Constants.INS_GET_PUBLIC, Constants.KEY_AK, 0, new byte[0]);
        byte[] before = card.ok(Constants.INS_GET_STATUS, 0, 0, new byte[0]);
        byte[] blob = SealingTest.seal(card, selection(9), new byte[0], SealingTest.SECRET);
        NvTest.define(card, OWNER, NvTest.HANDLE, 0, 16, new byte[0]);
        NvTest.define(card, OWNER, NvTest.COUNTER, Constants.NV_ATTRIBUTE_COUNTER, 8, new byte[0]);
        for (int i = 0; i < 5; i++) {
            NvTest.increment(card, NvTest.COUNTER, new byte[0]);
        }
        card.ok(Constants.INS_CLEAR, 0, 0, lengthPrefixed(OWNER));

        byte[] after = card.ok(Constants.INS_GET_STATUS, 0, 0, new byte[0]);
        assertEquals(0, after[0]);
        assertFalse(Arrays.equals(Arrays.copyOfRange(before, 14, 30), Arrays.copyOfRange(after, 14, 30)));
        card.assertSw(Constants.SW_NOT_FOUND, Constants.INS_UNSEAL, 0, 0, concat(new byte[] {0}, blob));
        assertEquals(0, card.ok(Constants.INS_NV_LIST, 0, 0, new byte[0]).length);
        card.assertSw(Constants.SW_NOT_FOUND, Constants.INS_NV_INCREMENT, 0, 0, concat(NvTest.COUNTER, new byte[] {0}));
        // The endorsement side stays; the owner auth is empty again; counters never repeat a value.
        assertArrayEquals(ak, card.ok(Constants.INS_GET_PUBLIC, Constants.KEY_AK, 0, new byte[0]));
        NvTest.define(card, new byte[0], NvTest.COUNTER, Constants.NV_ATTRIBUTE_COUNTER, 8, new byte[0]);
        assertEquals(6, NvTest.increment(card, NvTest.COUNTER, new byte[0]));
        // A fresh seal works under the new keys.
        byte[] fresh = SealingTest.seal(card, selection(9), new byte[0], SealingTest.SECRET);
        assertArrayEquals(SealingTest.SECRET, SealingTest.unseal(card, new byte[0], fresh).data);
        assertEquals(0, ByteBuffer.wrap(after, 2, 8).getLong());
    }
}
