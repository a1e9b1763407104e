package tpmcard.mtpm;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.junit.Test;
import tpmcard.sim.Json;

/**
 * The closure engine against tests/vectors/closures.json (which tests/closures/test_vectors.py
 * runs over both transports too): each program sealed on the card and run with an image, or
 * loaded and run by name; its output or status word; and after every stop the card answers the
 * next command. Plus the engine's 32-bit helpers on their edges.
 */
public class ClosureEngineTest {
    private static final HexFormat HEX = HexFormat.of();

    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> vectors() throws Exception {
        Path file = Path.of(System.getProperty("tpmcard.vectors"), "closures.json");
        Map<String, Object> root = (Map<String, Object>) Json.parse(Files.readString(file, StandardCharsets.UTF_8));
        return (List<Map<String, Object>>) (Object) root.get("vectors");
    }

    static byte[] seal(MtpmCard card, byte[] plain) {
        return card.ok(ClosureConstants.INS_CLOSURE_SEAL, 0, 0, plain);
    }

    static MtpmCard.Result runImage(MtpmCard card, byte[] sealed, byte[] args) {
        return card.invoke(ClosureConstants.INS_CLOSURE_RUN, ClosureConstants.P1_RUN_IMAGE, 0,
                MtpmCard.concat(new byte[] {(byte) args.length}, args, sealed));
    }

    static MtpmCard.Result runByName(MtpmCard card, String name, byte[] args) {
        return card.invoke(ClosureConstants.INS_CLOSURE_RUN, ClosureConstants.P1_RUN_BY_NAME, 0,
                MtpmCard.concat(name(name), args));
    }

    static byte[] name(String name) {
        byte[] out = new byte[ClosureConstants.NAME_LENGTH];
        byte[] ascii = name.getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(ascii, 0, out, 0, ascii.length);
        return out;
    }

    static void load(MtpmCard card, byte[] sealed) {
        card.ok(ClosureConstants.INS_CLOSURE_LOAD, 0, 0, MtpmCard.concat(new byte[] {0}, sealed));
    }

    @Test
    @SuppressWarnings("unchecked")
    public void vectorsGiveTheirOutputsAndStatusWords() throws Exception {
        MtpmCard card = MtpmCard.installed();
        List<Map<String, Object>> vectors = vectors();
        assertTrue(vectors.size() >= 20);
        for (Map<String, Object> v : vectors) {
            String name = (String) v.get("name");
            byte[] sealed = seal(card, HEX.parseHex((String) v.get("image")));
            boolean loaded = (Boolean) v.get("load");
            if (loaded) {
                load(card, sealed);
            }
            for (Map<String, Object> r : (List<Map<String, Object>>) (Object) v.get("runs")) {
                byte[] args = HEX.parseHex((String) r.get("args"));
                MtpmCard.Result result = loaded ? runByName(card, name, args) : runImage(card, sealed, args);
                if (r.containsKey("output")) {
                    assertEquals(name + " SW", 0x9000, result.sw);
                    assertArrayEquals(name, HEX.parseHex((String) r.get("output")), result.data);
                } else {
                    assertEquals(name + " SW", Integer.parseInt((String) r.get("sw"), 16), result.sw);
                    assertEquals(name, 0, result.data.length);
                }
                // The card stays usable after any stop.
                card.ok(Constants.INS_GET_STATUS, 0, 0, new byte[0]);
            }
        }
    }

    @Test
    public void div32AndAdd32OnTheirEdges() {
        byte[] w = HEX.parseHex("FFFFFFFF");
        assertEquals((short) (0xFFFFFFFFL % 32767), ClosureMath.div32(w, (short) 0, (short) 32767));
        assertArrayEquals(HEX.parseHex(String.format("%08X", 0xFFFFFFFFL / 32767)), w);
        byte[] one = HEX.parseHex("00000001");
        assertEquals(1, ClosureMath.div32(one, (short) 0, (short) 2));
        assertArrayEquals(new byte[4], one);
        byte[] x = HEX.parseHex("0000FFFF");
        assertEquals(0, ClosureMath.add32(x, (short) 0, (short) 1));
        assertArrayEquals(HEX.parseHex("00010000"), x);
        byte[] y = HEX.parseHex("FFFFFF00");
        assertEquals(1, ClosureMath.add32(y, (short) 0, (short) 0xFFFF));
        assertArrayEquals(HEX.parseHex("0000FEFF"), y);
        assertEquals((short) 0x0001, ClosureMath.shr((short) 0x8000, (short) 15));
        assertEquals((short) 0x7FFF, ClosureMath.shr((short) -1, (short) 1));
        assertEquals((short) -1, ClosureMath.shr((short) -1, (short) 0));
    }
}
