package tpmcard.sim;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The applets listed in applets/manifest.json (class and instance AID), in manifest order.
 * A minimal JSON reader: jCardSim ships no JSON library and this is the only JSON we read.
 */
final class SuiteManifest {
    /** One applet to install. */
    static final class AppletEntry {
        final String className;
        final String aid;

        AppletEntry(String className, String aid) {
            this.className = className;
            this.aid = aid;
        }
    }

    private SuiteManifest() {}

    @SuppressWarnings("unchecked")
    static List<AppletEntry> read(Path path) {
        String text;
        try {
            text = Files.readString(path, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new SimCardException(SimCardException.Kind.MANIFEST, "cannot read the suite manifest " + path
                    + ": " + e.getMessage(), e);
        }
        List<AppletEntry> out = new ArrayList<>();
        try {
            Map<String, Object> root = (Map<String, Object>) new Reader(text).document();
            for (Object p : (List<Object>) root.get("packages")) {
                for (Object a : (List<Object>) ((Map<String, Object>) p).get("applets")) {
                    Map<String, Object> applet = (Map<String, Object>) a;
                    String cls = (String) applet.get("class");
                    String aid = ((String) applet.get("aid")).toUpperCase(java.util.Locale.ROOT);
                    if (cls == null || !aid.matches("([0-9A-F]{2}){5,16}")) {
                        throw new IllegalArgumentException("applet entry needs \"class\" and a 5..16-byte hex \"aid\"");
                    }
                    out.add(new AppletEntry(cls, aid));
                }
            }
        } catch (RuntimeException e) {
            throw new SimCardException(SimCardException.Kind.MANIFEST, "the suite manifest " + path
                    + " is malformed: " + e.getMessage(), e);
        }
        return out;
    }

    /** Recursive-descent JSON (RFC 8259) to Map/List/String/Double/Boolean/null. */
    private static final class Reader {
        private final String s;
        private int i;

        Reader(String s) {
            this.s = s;
        }

        Object document() {
            Object v = value();
            ws();
            if (i != s.length()) {
                throw error("trailing characters");
            }
            return v;
        }

        private Object value() {
            ws();
            if (i >= s.length()) {
                throw error("unexpected end");
            }
            char c = s.charAt(i);
            switch (c) {
                case '{': return object();
                case '[': return array();
                case '"': return string();
                case 't': return literal("true", Boolean.TRUE);
                case 'f': return literal("false", Boolean.FALSE);
                case 'n': return literal("null", null);
                default: return number();
            }
        }

        private Map<String, Object> object() {
            Map<String, Object> m = new LinkedHashMap<>();
            i++;
            ws();
            if (peek() == '}') {
                i++;
                return m;
            }
            while (true) {
                ws();
                String k = string();
                ws();
                expect(':');
                m.put(k, value());
                ws();
                if (peek() == ',') {
                    i++;
                } else {
                    expect('}');
                    return m;
                }
            }
        }

        private List<Object> array() {
            List<Object> l = new ArrayList<>();
            i++;
            ws();
            if (peek() == ']') {
                i++;
                return l;
            }
            while (true) {
                l.add(value());
                ws();
                if (peek() == ',') {
                    i++;
                } else {
                    expect(']');
                    return l;
                }
            }
        }

        private String string() {
            expect('"');
            StringBuilder b = new StringBuilder();
            while (true) {
                if (i >= s.length()) {
                    throw error("unterminated string");
                }
                char c = s.charAt(i++);
                if (c == '"') {
                    return b.toString();
                }
                if (c != '\\') {
                    b.append(c);
                    continue;
                }
                char e = s.charAt(i++);
                switch (e) {
                    case 'n': b.append('\n'); break;
                    case 't': b.append('\t'); break;
                    case 'r': b.append('\r'); break;
                    case 'b': b.append('\b'); break;
                    case 'f': b.append('\f'); break;
                    case 'u': b.append((char) Integer.parseInt(s.substring(i, i + 4), 16)); i += 4; break;
                    default: b.append(e); break;
                }
            }
        }

        private Object number() {
            int start = i;
            while (i < s.length() && "+-0123456789.eE".indexOf(s.charAt(i)) >= 0) {
                i++;
            }
            if (start == i) {
                throw error("unexpected character '" + s.charAt(i) + "'");
            }
            return Double.parseDouble(s.substring(start, i));
        }

        private Object literal(String word, Object v) {
            if (!s.startsWith(word, i)) {
                throw error("bad literal");
            }
            i += word.length();
            return v;
        }

        private void ws() {
            while (i < s.length() && Character.isWhitespace(s.charAt(i))) {
                i++;
            }
        }

        private char peek() {
            return i < s.length() ? s.charAt(i) : '\0';
        }

        private void expect(char c) {
            if (peek() != c) {
                throw error("expected '" + c + "'");
            }
            i++;
        }

        private IllegalArgumentException error(String what) {
            return new IllegalArgumentException(what + " at offset " + i);
        }
    }
}
