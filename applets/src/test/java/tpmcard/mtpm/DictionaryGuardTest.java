package tpmcard.mtpm;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static tpmcard.mtpm.MtpmCard.concat;
import static tpmcard.mtpm.MtpmCard.lengthPrefixed;
import static tpmcard.mtpm.MtpmCard.selection;

import org.junit.Test;

/** Dictionary-attack protection of sealed-object and NV auth values. */
public class DictionaryGuardTest {
    static final byte[] OWNER = "owner secret".getBytes();
    static final byte[] SECRET = SealingTest.SECRET;

    static MtpmCard owned() {
        MtpmCard card = MtpmCard.installed();
        card.ok(Constants.INS_TAKE_OWNERSHIP, 0, 0, OWNER);
        return card;
    }

    /**
     * Issue 11 finding 3: on an unowned mobile TPM the owner auth is empty, so DA RESET with it
     * would lift the lockout at will. It is refused there, and no auth value can exist there.
     */
    @Test
    public void noOwnerNoResetAndNoAuthValues() {
        MtpmCard card = MtpmCard.installed();
        card.assertSw(Constants.SW_OWNER_REQUIRED, Constants.INS_DA_RESET, 0, 0, new byte[] {0});
        card.assertSw(Constants.SW_OWNER_REQUIRED, Constants.INS_SEAL, 0, 0,
                concat(selection(9), new byte[32], lengthPrefixed("pw".getBytes()), SECRET));
        card.assertSw(Constants.SW_OWNER_REQUIRED, Constants.INS_NV_DEFINE, 0, 0,
                concat(new byte[] {0}, NvTest.HANDLE, new byte[] {0, 0, 16}, lengthPrefixed("pw".getBytes())));
        // Policy-only objects need no owner.
        byte[] open = SealingTest.seal(card, selection(9), new byte[0], SECRET);
        assertArrayEquals(SECRET, SealingTest.unseal(card, new byte[0], open).data);
    }

    @Test
    public void wrongAuthValuesLockOutUntilTheOwnerResets() {
        MtpmCard card = MtpmCard.installed();
        card.ok(Constants.INS_TAKE_OWNERSHIP, 0, 0, OWNER);
        byte[] blob = SealingTest.seal(card, selection(9), "pw".getBytes(), SECRET);
        for (int i = 0; i < Constants.DA_MAX_TRIES; i++) {
            card.assertSw(Constants.SW_AUTH_FAILED, Constants.INS_UNSEAL, 0, 0,
                    concat(lengthPrefixed(("guess" + i).getBytes()), blob));
        }
        // Locked: even the right value is refused, and without a plaintext.
        MtpmCard.Result locked = SealingTest.unseal(card, "pw".getBytes(), blob);
        assertEquals(Constants.SW_AUTH_BLOCKED, (short) locked.sw);
        assertEquals(0, locked.data.length);
        // The lockout survives a card reset (the counter is persistent).
        card.reset();
        assertEquals(Constants.SW_AUTH_BLOCKED, (short) SealingTest.unseal(card, "pw".getBytes(), blob).sw);
        // DA RESET needs the owner auth; then the right value works again.
        card.assertSw(Constants.SW_OWNER_AUTH_FAILED | 7, Constants.INS_DA_RESET, 0, 0, lengthPrefixed("bad".getBytes()));
        card.ok(Constants.INS_DA_RESET, 0, 0, lengthPrefixed(OWNER));
        assertArrayEquals(SECRET, SealingTest.unseal(card, "pw".getBytes(), blob).data);
    }

    @Test
    public void aRightValueGivesTheTriesBack() {
        MtpmCard card = owned();
        byte[] blob = SealingTest.seal(card, selection(9), "pw".getBytes(), SECRET);
        for (int round = 0; round < 3; round++) {
            for (int i = 0; i < Constants.DA_MAX_TRIES - 1; i++) {
                card.assertSw(Constants.SW_AUTH_FAILED, Constants.INS_UNSEAL, 0, 0,
                        concat(lengthPrefixed("nope".getBytes()), blob));
            }
            assertArrayEquals(SECRET, SealingTest.unseal(card, "pw".getBytes(), blob).data);
        }
    }

    @Test
    public void objectsWithoutAnAuthValueAreExempt() {
        MtpmCard card = owned();
        byte[] open = SealingTest.seal(card, selection(9), new byte[0], SECRET);
        byte[] guarded = SealingTest.seal(card, selection(9), "pw".getBytes(), SECRET);
        for (int i = 0; i < Constants.DA_MAX_TRIES; i++) {
            card.assertSw(Constants.SW_AUTH_FAILED, Constants.INS_UNSEAL, 0, 0,
                    concat(lengthPrefixed("x".getBytes()), guarded));
        }
        // Locked for auth values, but a policy-only object still opens.
        assertArrayEquals(SECRET, SealingTest.unseal(card, new byte[0], open).data);
        assertEquals(Constants.SW_AUTH_BLOCKED, (short) SealingTest.unseal(card, "pw".getBytes(), guarded).sw);
    }

    @Test
    public void clearResetsTheCounter() {
        MtpmCard card = MtpmCard.installed();
        card.ok(Constants.INS_TAKE_OWNERSHIP, 0, 0, OWNER);
        byte[] blob = SealingTest.seal(card, selection(9), "pw".getBytes(), SECRET);
        for (int i = 0; i < Constants.DA_MAX_TRIES; i++) {
            card.assertSw(Constants.SW_AUTH_FAILED, Constants.INS_UNSEAL, 0, 0,
                    concat(lengthPrefixed("x".getBytes()), blob));
        }
        card.ok(Constants.INS_CLEAR, 0, 0, lengthPrefixed(OWNER));
        card.assertSw(Constants.SW_OWNER_REQUIRED, Constants.INS_DA_RESET, 0, 0, new byte[] {0});
        card.ok(Constants.INS_TAKE_OWNERSHIP, 0, 0, OWNER);
        byte[] fresh = SealingTest.seal(card, selection(9), "pw".getBytes(), SECRET);
        assertArrayEquals(SECRET, SealingTest.unseal(card, "pw".getBytes(), fresh).data);
    }

    @Test
    public void nvAuthValuesShareTheGuard() {
        MtpmCard card = owned();
        NvTest.define(card, OWNER, NvTest.HANDLE, 0, 16, "nvpw".getBytes());
        NvTest.define(card, OWNER, NvTest.COUNTER, 0, 16, new byte[0]);
        for (int i = 0; i < Constants.DA_MAX_TRIES; i++) {
            card.assertSw(Constants.SW_AUTH_FAILED, Constants.INS_NV_READ, 0, 0,
                    concat(NvTest.HANDLE, new byte[] {0, 0, 0, 1}, lengthPrefixed(("g" + i).getBytes())));
        }
        card.assertSw(Constants.SW_AUTH_BLOCKED, Constants.INS_NV_READ, 0, 0,
                concat(NvTest.HANDLE, new byte[] {0, 0, 0, 1}, lengthPrefixed("nvpw".getBytes())));
        // An index without an auth value is exempt.
        assertArrayEquals(new byte[16], NvTest.read(card, NvTest.COUNTER, 0, 16, new byte[0]));
    }
}
