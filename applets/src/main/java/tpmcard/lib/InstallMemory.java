package tpmcard.lib;

import javacard.framework.ISOException;
import javacard.framework.JCSystem;

/**
 * Install-time memory rules every applet of the suite follows (docs/core-applet.md "Transient
 * RAM"): check that the card has the transient RAM the applet will take before allocating any of
 * it, so a card too small fails at install, loudly (6A84), and not in the middle of a command;
 * and after install, ask the card to free what install made and dropped.
 */
public final class InstallMemory {
    /** ISO 7816-4 "not enough memory space in the file". */
    public static final short SW_NOT_ENOUGH_MEMORY = (short) 0x6A84;

    private InstallMemory() {}

    /**
     * Throws 6A84 when less than {@code bytes} of transient RAM (CLEAR_ON_RESET; on a JCOP the
     * CLEAR_ON_DESELECT pool is the same memory) is free. {@code bytes} is the least the applet
     * takes on any card the suite supports: arrays, and crypto objects at JCAlgTest's per-object
     * figures of the card that charges least for them (they differ: a SHA-256 takes 112 bytes on a
     * J3R180 and 1 on a J3H145, whose engines work in the system's own RAM). The card charges the
     * rest as install makes the objects, so a card short of it still fails during install
     * (SystemException NO_TRANSIENT_SPACE), never in a command.
     */
    public static void requireTransient(short bytes) {
        if (JCSystem.getAvailableMemory(JCSystem.MEMORY_TYPE_TRANSIENT_RESET) < bytes) {
            ISOException.throwIt(SW_NOT_ENOUGH_MEMORY);
        }
    }

    /** End of install: objects made only for it (key derivation) are garbage; free them. */
    public static void releaseInstallGarbage() {
        if (JCSystem.isObjectDeletionSupported()) {
            JCSystem.requestObjectDeletion();
        }
    }
}
