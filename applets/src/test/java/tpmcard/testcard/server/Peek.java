package tpmcard.testcard.server;

import javacard.framework.Shareable;

/** A test-only service: each method does one thing the applet firewall allows or forbids. */
public interface Peek extends Shareable {
    /** Read buf[offset] in the server's context. */
    byte peek(byte[] buf, short offset);

    /** Hash with the server's digest made with externalAccess = false (or true). */
    short hash(boolean external, byte[] apduBuffer);

    /** Read the server's own CLEAR_ON_DESELECT array. */
    byte readOwnDeselect();

    /** Read the server's own persistent array. */
    byte readOwnPersistent();

    /** ECDSA-SHA-256 over apduBuffer[5..9) with a fixed key; the DER signature at 0, its length returned. */
    short sign(byte[] apduBuffer);

    /** Draw 16 random bytes into the APDU buffer. */
    void random(byte[] apduBuffer);
}
