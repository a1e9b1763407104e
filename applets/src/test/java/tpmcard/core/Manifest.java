package tpmcard.core;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The package and applet AIDs from applets/manifest.json, the suite's single source of AIDs.
 * Gradle passes its path in the system property {@code tpmcard.manifest}. The JSON reader below
 * covers what the manifest uses (objects, arrays, strings, numbers, literals); no dependency.
 */
final class Manifest {
    static final String CORE_CLASS = "tpmcard.core.CoreApplet";

    final String packageAid;
    final String appletAid;

    private Manifest(String packageAid, String appletAid) {
        this.packageAid = packageAid;
        this.appletAid = appletAid;
    }

    private static Manifest core;

    /** The entry of the package holding CoreApplet. */
    static synchronized Manifest core() {
        if (core == null) {
            String path = System.getProperty("tpmcard.manifest");
            if (path == null) {
                throw new IllegalStateException("system property tpmcard.manifest is not set; run the tests through gradle");
            }
            try {
                core = parse(Files.readString(Path.of(path), StandardCharsets.UTF_8), CORE_CLASS);
            } catch (IOException e) {
                throw new IllegalStateException("cannot read the manifest " + path, e);
            }
        }
        return core;
    }

    @SuppressWarnings("unchecked")
    static Manifest parse(String json, String appletClass) {
        Map<String, Object> root = (Map<String, Object>) new Reader(json).document();
        for (Object p : (List<Object>) root.get("packages")) {
            Map<String, Object> pkg = (Map<String, Object>) p;
            for (Object a : (List<Object>) pkg.get("applets")) {
                Map<String, Object> applet = (Map<String, Object>) a;
                if (appletClass.equals(applet.get("class"))) {
                    return new Manifest((String) pkg.get("aid"), (String) applet.get("aid"));
                }
            }
        }
        throw new IllegalStateException("no applet of class " + appletClass + " in the manifest");
    }

    /** A recursive-descent JSON reader (RFC 8259), enough for configuration files. */
    static final class Reader {
        private final String text;
        private int at;

        Reader(String text) {
            this.text = text;
        }

        Object document() {
            Object value = value();
            skipSpace();
            if (at != text.length()) {
                throw error("trailing characters");
            }
            return value;
        }

        private Object value() {
            skipSpace();
            if (at >= text.length()) {
                throw error("unexpected end");
            }
            char c = text.charAt(at);
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
            Map<String, Object> map = new LinkedHashMap<>();
            at++;
            skipSpace();
            if (peek() == '}') {
                at++;
                return map;
            }
            while (true) {
                skipSpace();
                String key = string();
                skipSpace();
                expect(':');
                map.put(key, value());
                skipSpace();
                if (peek() == ',') {
                    at++;
                } else {
                    expect('}');
                    return map;
                }
            }
        }

        private List<Object> array() {
            List<Object> list = new ArrayList<>();
            at++;
            skipSpace();
            if (peek() == ']') {
                at++;
                return list;
            }
            while (true) {
                list.add(value());
                skipSpace();
                if (peek() == ',') {
                    at++;
                } else {
                    expect(']');
                    return list;
                }
            }
        }

        private String string() {
            expect('"');
            StringBuilder out = new StringBuilder();
            while (true) {
                if (at >= text.length()) {
                    throw error("unterminated string");
                }
                char c = text.charAt(at++);
                if (c == '"') {
                    return out.toString();
                }
                if (c != '\\') {
                    out.append(c);
                    continue;
                }
                char e = text.charAt(at++);
                switch (e) {
                    case '"': case '\\': case '/': out.append(e); break;
                    case 'b': out.append('\b'); break;
                    case 'f': out.append('\f'); break;
                    case 'n': out.append('\n'); break;
                    case 'r': out.append('\r'); break;
                    case 't': out.append('\t'); break;
                    case 'u':
                        out.append((char) Integer.parseInt(text.substring(at, at + 4), 16));
                        at += 4;
                        break;
                    default: throw error("bad escape");
                }
            }
        }

        private Object number() {
            int start = at;
            while (at < text.length() && "+-0123456789.eE".indexOf(text.charAt(at)) >= 0) {
                at++;
            }
            if (start == at) {
                throw error("unexpected character");
            }
            return Double.valueOf(text.substring(start, at));
        }

        private Object literal(String word, Object value) {
            if (!text.startsWith(word, at)) {
                throw error("unexpected literal");
            }
            at += word.length();
            return value;
        }

        private char peek() {
            return at < text.length() ? text.charAt(at) : '\0';
        }

        private void expect(char c) {
            if (peek() != c) {
                throw error("expected '" + c + "'");
            }
            at++;
        }

        private void skipSpace() {
            while (at < text.length() && Character.isWhitespace(text.charAt(at))) {
                at++;
            }
        }

        private IllegalArgumentException error(String what) {
            return new IllegalArgumentException("manifest JSON: " + what + " at offset " + at);
        }
    }
}
