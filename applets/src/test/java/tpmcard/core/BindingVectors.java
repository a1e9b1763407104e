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
 * tests/vectors/binding.json (written by tests/vectors/make_binding_vectors.py), read with a
 * minimal JSON parser: objects, arrays, strings without escapes beyond \" \\ \/ \n, integers,
 * booleans and null are all the file uses.
 */
final class BindingVectors {
    private static Map<String, Object> cached;

    private BindingVectors() {}

    static synchronized Map<String, Object> load() {
        if (cached == null) {
            String dir = System.getProperty("tpmcard.vectors", "tests/vectors");
            try {
                String text = new String(Files.readAllBytes(Path.of(dir, "binding.json")), StandardCharsets.UTF_8);
                cached = object(new Parser(text).value());
            } catch (IOException e) {
                throw new IllegalStateException("cannot read binding.json from " + dir, e);
            }
        }
        return cached;
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> object(Object value) {
        return (Map<String, Object>) value;
    }

    @SuppressWarnings("unchecked")
    static List<Object> list(Object value) {
        return (List<Object>) value;
    }

    static Map<String, Object> section(String name) {
        return object(load().get(name));
    }

    static byte[] bytes(Map<String, Object> map, String key) {
        return Hex.decode((String) map.get(key));
    }

    static int integer(Map<String, Object> map, String key) {
        return ((Long) map.get(key)).intValue();
    }

    private static final class Parser {
        private final String s;
        private int i;

        Parser(String s) {
            this.s = s;
        }

        Object value() {
            skip();
            char c = s.charAt(i);
            if (c == '{') {
                Map<String, Object> map = new LinkedHashMap<>();
                i++;
                skip();
                if (s.charAt(i) == '}') {
                    i++;
                    return map;
                }
                while (true) {
                    skip();
                    String key = string();
                    skip();
                    expect(':');
                    map.put(key, value());
                    skip();
                    if (s.charAt(i) == ',') {
                        i++;
                        continue;
                    }
                    expect('}');
                    return map;
                }
            }
            if (c == '[') {
                List<Object> items = new ArrayList<>();
                i++;
                skip();
                if (s.charAt(i) == ']') {
                    i++;
                    return items;
                }
                while (true) {
                    items.add(value());
                    skip();
                    if (s.charAt(i) == ',') {
                        i++;
                        continue;
                    }
                    expect(']');
                    return items;
                }
            }
            if (c == '"') {
                return string();
            }
            if (s.startsWith("true", i)) {
                i += 4;
                return Boolean.TRUE;
            }
            if (s.startsWith("false", i)) {
                i += 5;
                return Boolean.FALSE;
            }
            if (s.startsWith("null", i)) {
                i += 4;
                return null;
            }
            int start = i;
            while (i < s.length() && "-0123456789".indexOf(s.charAt(i)) >= 0) {
                i++;
            }
            return Long.parseLong(s.substring(start, i));
        }

        private String string() {
            expect('"');
            StringBuilder out = new StringBuilder();
            while (s.charAt(i) != '"') {
                char c = s.charAt(i++);
                if (c == '\\') {
                    char e = s.charAt(i++);
                    out.append(e == 'n' ? '\n' : e);
                } else {
                    out.append(c);
                }
            }
            i++;
            return out.toString();
        }

        private void expect(char c) {
            if (s.charAt(i) != c) {
                throw new IllegalArgumentException("JSON: expected " + c + " at " + i);
            }
            i++;
        }

        private void skip() {
            while (i < s.length() && Character.isWhitespace(s.charAt(i))) {
                i++;
            }
        }
    }
}
