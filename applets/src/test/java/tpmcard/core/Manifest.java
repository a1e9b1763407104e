package tpmcard.core;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import tpmcard.sim.Json;

/**
 * The package and applet AIDs from applets/manifest.json, the suite's single source of AIDs.
 * Gradle passes its path in the system property {@code tpmcard.manifest}; parsed with the
 * simulator's {@link Json}.
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
        Map<String, Object> root = (Map<String, Object>) Json.parse(json);
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
}
