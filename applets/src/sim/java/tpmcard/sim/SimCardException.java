package tpmcard.sim;

/**
 * A simulated-card failure with a message meant for the user (no stack trace needed).
 *
 * <p>{@link #kind()} is stable and machine-readable; the Python transport maps it onto
 * {@code tpmcard.errors.SimulatorError}.
 */
public class SimCardException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** What went wrong, as a stable code. */
    public enum Kind {
        /** Another process owns the card store. */
        LOCKED,
        /** The store file is damaged (bad magic, checksum, truncated). */
        CORRUPT,
        /** The store was written by a different store format or a different build of the applets. */
        INCOMPATIBLE,
        /** The suite manifest is missing or malformed, or an applet class cannot be loaded. */
        MANIFEST,
        /** The card's object graph holds something the store cannot persist. */
        NOT_PERSISTABLE,
        /** Reading or writing the state directory failed. */
        IO,
        /** The card refused an administrative operation (install, delete, create). */
        CARD,
        /**
         * The card profile: an unknown profile, one other than the profile the card was made
         * with, or a package the profile cannot load (it declares int support, the card has none).
         */
        PROFILE,
        /**
         * The command was cut by a simulated power loss ({@code SimCard.cutPowerAtWrite}): no
         * response; the card is powered up again with the state the cut left.
         */
        POWER_LOSS
    }

    private final Kind kind;

    public SimCardException(Kind kind, String message) {
        super(message);
        this.kind = kind;
    }

    public SimCardException(Kind kind, String message, Throwable cause) {
        super(message, cause);
        this.kind = kind;
    }

    public Kind kind() {
        return kind;
    }

    /** The kind as a lower-case string, e.g. "locked" (convenient from Python). */
    public String kindName() {
        return kind.name().toLowerCase(java.util.Locale.ROOT);
    }
}
