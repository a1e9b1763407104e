package tpmcard.core;

import java.util.Arrays;

/** A response APDU: data and status word. */
final class Response {
    final byte[] data;
    final short sw;

    Response(byte[] raw) {
        if (raw.length < 2) {
            throw new IllegalArgumentException("response shorter than a status word");
        }
        this.data = Arrays.copyOf(raw, raw.length - 2);
        this.sw = (short) (((raw[raw.length - 2] & 0xFF) << 8) | (raw[raw.length - 1] & 0xFF));
    }

    int sw1() {
        return (sw >> 8) & 0xFF;
    }

    int sw2() {
        return sw & 0xFF;
    }

    @Override
    public String toString() {
        return Hex.encode(data) + " " + String.format("%04X", sw & 0xFFFF);
    }
}
