package tpmcard.mtpm;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static tpmcard.mtpm.MtpmCard.concat;
import static tpmcard.mtpm.MtpmCard.lengthPrefixed;

import java.nio.ByteBuffer;
import org.junit.Test;

/** NV indices and monotonic counters. */
public class NvTest {
    static final byte[] HANDLE = {0x01, 0x50, 0x00, 0x01};
    static final byte[] COUNTER = {0x01, 0x50, 0x00, 0x02};
    static final byte[] NO_OWNER = {0};

    static void define(MtpmCard card, byte[] ownerAuth, byte[] handle, int attributes, int size, byte[] auth) {
        card.ok(Constants.INS_NV_DEFINE, 0, 0, concat(lengthPrefixed(ownerAuth), handle,
                new byte[] {(byte) attributes, (byte) (size >> 8), (byte) size}, lengthPrefixed(auth)));
    }

    static byte[] read(MtpmCard card, byte[] handle, int offset, int length, byte[] auth) {
        return card.ok(Constants.INS_NV_READ, 0, 0, concat(handle,
                new byte[] {(byte) (offset >> 8), (byte) offset, (byte) (length >> 8), (byte) length}, lengthPrefixed(auth)));
    }

    static long increment(MtpmCard card, byte[] handle, byte[] auth) {
        return ByteBuffer.wrap(card.ok(Constants.INS_NV_INCREMENT, 0, 0, concat(handle, lengthPrefixed(auth)))).getLong();
    }

    @Test
    public void defineWriteReadUndefine() {
        MtpmCard card = MtpmCard.installed();
        // An auth value needs an owner (as for SEAL).
        card.assertSw(Constants.SW_OWNER_REQUIRED, Constants.INS_NV_DEFINE, 0, 0,
                concat(NO_OWNER, HANDLE, new byte[] {0, 0, 64}, lengthPrefixed("nvpw".getBytes())));
        card.ok(Constants.INS_TAKE_OWNERSHIP, 0, 0, "owner".getBytes());
        byte[] owner = lengthPrefixed("owner".getBytes());
        define(card, "owner".getBytes(), HANDLE, 0, 64, "nvpw".getBytes());
        card.ok(Constants.INS_NV_WRITE, 0, 0, concat(HANDLE, new byte[] {0, 10}, lengthPrefixed("nvpw".getBytes()),
                "hello".getBytes()));
        byte[] expected = new byte[64];
        System.arraycopy("hello".getBytes(), 0, expected, 10, 5);
        assertArrayEquals(expected, read(card, HANDLE, 0, 64, "nvpw".getBytes()));
        card.reset();
        assertArrayEquals("hello".getBytes(), read(card, HANDLE, 10, 5, "nvpw".getBytes()));
        assertArrayEquals(concat(HANDLE, new byte[] {0, 0, 64}), card.ok(Constants.INS_NV_LIST, 0, 0, new byte[0]));
        // Wrong auth, out of range, duplicate, unknown.
        card.assertSw(Constants.SW_AUTH_FAILED, Constants.INS_NV_READ, 0, 0,
                concat(HANDLE, new byte[] {0, 0, 0, 1}, lengthPrefixed("nope".getBytes())));
        card.assertSw(Constants.SW_OUT_OF_RANGE, Constants.INS_NV_READ, 0, 0,
                concat(HANDLE, new byte[] {0, 60, 0, 5}, lengthPrefixed("nvpw".getBytes())));
        card.assertSw(Constants.SW_OUT_OF_RANGE, Constants.INS_NV_WRITE, 0, 0,
                concat(HANDLE, new byte[] {0, 63}, lengthPrefixed("nvpw".getBytes()), new byte[2]));
        card.assertSw(Constants.SW_ALREADY_EXISTS, Constants.INS_NV_DEFINE, 0, 0,
                concat(owner, HANDLE, new byte[] {0, 0, 8, 0}));
        card.assertSw(Constants.SW_NOT_FOUND, Constants.INS_NV_READ, 0, 0,
                concat(COUNTER, new byte[] {0, 0, 0, 1, 0}));
        card.assertSw(Constants.SW_WRONG_DATA, Constants.INS_NV_DEFINE, 0, 0,
                concat(owner, new byte[] {0x02, 0, 0, 1}, new byte[] {0, 0, 8, 0}));
        card.assertSw(Constants.SW_WRONG_DATA, Constants.INS_NV_DEFINE, 0, 0,
                concat(owner, COUNTER, new byte[] {0, 1, 1, 0}));
        card.ok(Constants.INS_NV_UNDEFINE, 0, 0, concat(owner, HANDLE));
        card.assertSw(Constants.SW_NOT_FOUND, Constants.INS_NV_READ, 0, 0,
                concat(HANDLE, new byte[] {0, 0, 0, 1, 0}));
        assertEquals(0, card.ok(Constants.INS_NV_LIST, 0, 0, new byte[0]).length);
    }

    @Test
    public void slotsRunOut() {
        MtpmCard card = MtpmCard.installed();
        for (int i = 0; i < Constants.NV_SLOTS; i++) {
            define(card, new byte[0], new byte[] {1, 0, 0, (byte) i}, 0, 256, new byte[0]);
        }
        card.assertSw(Constants.SW_NOT_ENOUGH_MEMORY, Constants.INS_NV_DEFINE, 0, 0,
                concat(NO_OWNER, new byte[] {1, 0, 0, 99}, new byte[] {0, 0, 8, 0}));
    }

    @Test
    public void countersOnlyGoForwardAcrossResets() {
        MtpmCard card = MtpmCard.installed();
        define(card, new byte[0], COUNTER, Constants.NV_ATTRIBUTE_COUNTER, 8, new byte[0]);
        long last = ByteBuffer.wrap(read(card, COUNTER, 0, 8, new byte[0])).getLong();
        for (int i = 0; i < 1000; i++) {
            long value = increment(card, COUNTER, new byte[0]);
            assertEquals(last + 1, value);
            last = value;
            if (i % 97 == 0) {
                card.reset();
                assertEquals(last, ByteBuffer.wrap(read(card, COUNTER, 0, 8, new byte[0])).getLong());
            }
        }
        assertEquals(1000, last);
        card.assertSw(Constants.SW_NV_TYPE_MISMATCH, Constants.INS_NV_WRITE, 0, 0,
                concat(COUNTER, new byte[] {0, 0, 0}, new byte[8]));
        // Undefine and define again: the new counter starts where the old one was.
        card.ok(Constants.INS_NV_UNDEFINE, 0, 0, concat(NO_OWNER, COUNTER));
        define(card, new byte[0], COUNTER, Constants.NV_ATTRIBUTE_COUNTER, 8, new byte[0]);
        assertTrue(ByteBuffer.wrap(read(card, COUNTER, 0, 8, new byte[0])).getLong() >= 1000);
        assertEquals(1001, increment(card, COUNTER, new byte[0]));
        define(card, new byte[0], HANDLE, 0, 8, new byte[0]);
        card.assertSw(Constants.SW_NV_TYPE_MISMATCH, Constants.INS_NV_INCREMENT, 0, 0, concat(HANDLE, new byte[] {0}));
    }
}
