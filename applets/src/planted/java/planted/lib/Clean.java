package planted.lib;

/** Passes: a public library class, usable from any package; its table is built in the constructor. */
public class Clean {
    public final byte[] table;

    public Clean() {
        table = new byte[] {1, 2, 3};
    }

    public static short twice(short v) {
        return (short) (v * 2);
    }
}
