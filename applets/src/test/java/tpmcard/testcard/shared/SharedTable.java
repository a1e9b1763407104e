package tpmcard.testcard.shared;

/**
 * Test-only card code: static data of a package, first touched inside the server's install. On a
 * card the JCRE sets static data at load time; the simulator leaves it unowned, readable from
 * every context (the client reads it).
 */
public final class SharedTable {
    public static final byte[] TABLE = {1, 2, 3, 4};

    private SharedTable() {}
}
