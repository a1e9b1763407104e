package tpmcard.core;

import java.io.ByteArrayOutputStream;

/** Command APDU encodings, ISO 7816-4 §5.1 (short and extended forms). NO_LE: Le field absent. */
final class Apdu {
    static final int NO_LE = -1;

    private Apdu() {}

    /** Short APDU; data of 0..255 bytes, le = NO_LE or 1..256 (256 is encoded 00). */
    static byte[] shortForm(int cla, int ins, int p1, int p2, byte[] data, int le) {
        if (data.length > 255 || le > 256) {
            throw new IllegalArgumentException("too long for a short APDU");
        }
        ByteArrayOutputStream out = header(cla, ins, p1, p2);
        if (data.length > 0) {
            out.write(data.length);
            out.writeBytes(data);
        }
        if (le != NO_LE) {
            out.write(le == 256 ? 0 : le);
        }
        return out.toByteArray();
    }

    /** Extended APDU; data of 0..65535 bytes, le = NO_LE or 1..65536 (65536 is encoded 0000). */
    static byte[] extendedForm(int cla, int ins, int p1, int p2, byte[] data, int le) {
        ByteArrayOutputStream out = header(cla, ins, p1, p2);
        out.write(0);
        if (data.length > 0) {
            out.write(data.length >> 8);
            out.write(data.length);
            out.writeBytes(data);
        }
        if (le != NO_LE) {
            out.write((le >> 8) & 0xFF);
            out.write(le & 0xFF);
        }
        return out.toByteArray();
    }

    static byte[] raw(String hex) {
        return Hex.decode(hex);
    }

    private static ByteArrayOutputStream header(int cla, int ins, int p1, int p2) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(cla);
        out.write(ins);
        out.write(p1);
        out.write(p2);
        return out;
    }
}
