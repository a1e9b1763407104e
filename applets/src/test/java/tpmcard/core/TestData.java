package tpmcard.core;

/** Deterministic test payloads: every byte depends on its position, so shifts and drops show. */
final class TestData {
    private TestData() {}

    static byte[] pattern(int length, int seed) {
        byte[] out = new byte[length];
        int x = seed * 0x9E3779B1 + 1;
        for (int i = 0; i < length; i++) {
            x = x * 1103515245 + 12345 + i;
            out[i] = (byte) (x >>> 16);
        }
        return out;
    }
}
