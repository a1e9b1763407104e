package planted.lib;

/** Refused: "unsupported bytecode invokestatic in clinit method". */
public final class ClinitCall {
    public static final short VALUE = compute();

    private static short compute() {
        return (short) 3;
    }
}
