package planted.misc;

/**
 * Refused: an int field and an int array, outside a package with int support. Converter:
 * "unsupported array type int[]. cannot create array of type int[]".
 */
public final class IntField {
    private int counter;
    private final int[] table = new int[4];

    public void bump() {
        table[0] = counter;
    }
}
