package planted.lib;

/** Not exported (not public): no other package may use it. */
final class Hidden {
    static short value() {
        return 1;
    }
}
