package tpmcard.sim.enforce;

/**
 * The simulated card lost power in the middle of a command (see {@link Journal#cutPowerAt}).
 *
 * <p>An {@code Error}, so that card code (which catches {@code Exception}s, ISOException and
 * CardRuntimeException) does not swallow it, and thrown again by every later persistent write and
 * transaction call of the same command: after the cut, nothing the card code still runs (a
 * finally block, jCardSim's catch-all) can change persistent memory. jCardSim's transmitCommand
 * turns it into 6F00; {@code SimCard} then discards that response and powers the card up again.
 */
public final class PowerLoss extends Error {
    private static final long serialVersionUID = 1L;

    PowerLoss(String message) {
        super(message, null, false, false);
    }
}
