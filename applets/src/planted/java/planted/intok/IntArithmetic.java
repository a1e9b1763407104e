package planted.intok;

/** Passes the int rules: its package declares int support (converted with -i). */
public final class IntArithmetic {
    private int state;

    public int mix(int a, int b) {
        state = (a << 7 | a >>> 25) + b * 0x9E3779B9;
        return state / 3 > 0 ? state : -state;
    }
}
