package tpmcard.sim;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
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
        /** The package's manifest name (or its Java package when it has none). */
        final String packageName;
        /** The package declares the card's optional int support ("int_support": true, converted with -i). */
        final boolean intSupport;

        AppletEntry(String className, String aid, String packageName, boolean intSupport) {
            this.className = className;
            this.aid = aid;
            this.packageName = packageName;
            this.intSupport = intSupport;
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
            Map<String, Object> root = (Map<String, Object>) Json.parse(text);
            for (Object p : (List<Object>) root.get("packages")) {
                Map<String, Object> pkg = (Map<String, Object>) p;
                boolean intSupport = Boolean.TRUE.equals(pkg.get("int_support"));
                for (Object a : (List<Object>) pkg.get("applets")) {
                    Map<String, Object> applet = (Map<String, Object>) a;
                    String cls = (String) applet.get("class");
                    String aid = ((String) applet.get("aid")).toUpperCase(java.util.Locale.ROOT);
                    if (cls == null || !aid.matches("([0-9A-F]{2}){5,16}")) {
                        throw new IllegalArgumentException("applet entry needs \"class\" and a 5..16-byte hex \"aid\"");
                    }
                    Object name = pkg.get("name");
                    String packageName = name instanceof String ? (String) name : cls.substring(0, Math.max(0, cls.lastIndexOf('.')));
                    out.add(new AppletEntry(cls, aid, packageName, intSupport));
                }
            }
        } catch (RuntimeException e) {
            throw new SimCardException(SimCardException.Kind.MANIFEST, "the suite manifest " + path
                    + " is malformed: " + e.getMessage(), e);
        }
        return out;
    }
}
