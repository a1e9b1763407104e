package tpmcard.mtpm;

import static org.junit.Assert.assertArrayEquals;
import static tpmcard.mtpm.MtpmCard.selection;

import java.util.Arrays;
import org.junit.Test;

/** PCR READ / EXTEND / RESET over the combined view: host PCRs 0..8, card PCRs 9..23. */
public class PcrTest {
    private static byte[] digest(int seed) {
        byte[] d = new byte[32];
        Arrays.fill(d, (byte) seed);
        return d;
    }

    @Test
    public void hostPcrsComeFromTheSession() {
        MtpmCard card = MtpmCard.installed();
        for (int i = 0; i < card.hostPcrs.length; i++) {
            card.hostPcrs[i] = (byte) (i * 3);
        }
        byte[] values = card.ok(Constants.INS_PCR_READ, 0, 0, selection(0, 1, 2, 3, 4, 5, 6, 7, 8));
        assertArrayEquals(card.hostPcrs, values);
        assertArrayEquals(Arrays.copyOfRange(card.hostPcrs, 8 * 32, 9 * 32),
                card.ok(Constants.INS_PCR_READ, 0, 0, selection(8)));
    }

    @Test
    public void cardPcrsStartAtZeroAndExtendLikeATpm() {
        MtpmCard card = MtpmCard.installed();
        byte[] all = card.ok(Constants.INS_PCR_READ, 0, 0, new byte[] {(byte) 0xFF, (byte) 0xFF, (byte) 0xFF});
        assertArrayEquals(new byte[24 * 32], all);
        byte[] expected = Crypto.sha256(new byte[32], digest(1));
        assertArrayEquals(expected, card.ok(Constants.INS_PCR_EXTEND, 10, 0, digest(1)));
        expected = Crypto.sha256(expected, digest(2));
        assertArrayEquals(expected, card.ok(Constants.INS_PCR_EXTEND, 10, 0, digest(2)));
        assertArrayEquals(expected, card.ok(Constants.INS_PCR_READ, 0, 0, selection(10)));
        // Selection order is index order, whatever the bits.
        assertArrayEquals(MtpmCard.concat(new byte[32], expected, new byte[32]),
                card.ok(Constants.INS_PCR_READ, 0, 0, selection(23, 10, 9)));
    }

    @Test
    public void cardPcrsAreZeroAfterACardReset() {
        MtpmCard card = MtpmCard.installed();
        card.ok(Constants.INS_PCR_EXTEND, 9, 0, digest(7));
        card.ok(Constants.INS_PCR_EXTEND, 23, 0, digest(7));
        card.reset();
        assertArrayEquals(new byte[64], card.ok(Constants.INS_PCR_READ, 0, 0, selection(9, 23)));
    }

    @Test
    public void hostPcrsAreReadOnly() {
        MtpmCard card = MtpmCard.installed();
        for (int i = 0; i <= 8; i++) {
            card.assertSw(Constants.SW_HOST_PCR_READ_ONLY, Constants.INS_PCR_EXTEND, i, 0, digest(1));
            card.assertSw(Constants.SW_HOST_PCR_READ_ONLY, Constants.INS_PCR_RESET, i, 0, new byte[0]);
        }
    }

    @Test
    public void onlyPcr16And23Reset() {
        MtpmCard card = MtpmCard.installed();
        for (int i = 9; i < 24; i++) {
            card.ok(Constants.INS_PCR_EXTEND, i, 0, digest(i));
        }
        card.ok(Constants.INS_PCR_RESET, 16, 0, new byte[0]);
        card.ok(Constants.INS_PCR_RESET, 23, 0, new byte[0]);
        assertArrayEquals(new byte[64], card.ok(Constants.INS_PCR_READ, 0, 0, selection(16, 23)));
        for (int i = 9; i < 24; i++) {
            if (i != 16 && i != 23) {
                card.assertSw(Constants.SW_PCR_NOT_RESETTABLE, Constants.INS_PCR_RESET, i, 0, new byte[0]);
            }
        }
    }

    @Test
    public void badInputIsRefused() {
        MtpmCard card = MtpmCard.installed();
        card.assertSw(Constants.SW_INCORRECT_P1P2, Constants.INS_PCR_EXTEND, 24, 0, digest(1));
        card.assertSw(Constants.SW_INCORRECT_P1P2, Constants.INS_PCR_EXTEND, 0xFF, 0, digest(1));
        card.assertSw(Constants.SW_WRONG_LENGTH, Constants.INS_PCR_EXTEND, 10, 0, new byte[31]);
        card.assertSw(Constants.SW_WRONG_LENGTH, Constants.INS_PCR_READ, 0, 0, new byte[4]);
        card.assertSw(Constants.SW_WRONG_LENGTH, Constants.INS_PCR_RESET, 16, 0, new byte[1]);
        card.assertSw(Constants.SW_INS_NOT_SUPPORTED, 0x7F, 0, 0, new byte[0]);
    }
}
