import java.io.File;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;

/**
 * Command-line front end of the clean-room converter name.velikodniy:javacard-express-converter,
 * which has only a library API. gradle/cap.gradle compiles this class with the build's JDK
 * (release 8) and runs it on a Java 25 runtime (the converter's class files are Java 25), so the
 * converter is reached through reflection.
 *
 * <pre>
 * JcxConvert --classes DIR --package tpmcard.core --aid F074706D630100 --version 1.0
 *            [--applet tpmcard.core.CoreApplet=F074706D63010001]... [--exp FILE.exp]...
 *            [--target 3.0.5] --out DIR
 * </pre>
 *
 * Writes DIR/&lt;package path&gt;/javacard/&lt;last name&gt;.cap and .exp, the layout Oracle's
 * converter uses, so that later packages find the export file on the same export path.
 */
public final class JcxConvert {
    private static final String PKG = "name.velikodniy.jcexpress.converter.";

    private JcxConvert() {}

    public static void main(String[] args) throws Exception {
        Path classes = null;
        Path out = null;
        String packageName = null;
        String aid = null;
        String version = "1.0";
        String target = "3.0.5";
        List<String[]> applets = new ArrayList<String[]>();
        List<Path> exports = new ArrayList<Path>();
        for (int i = 0; i < args.length; i++) {
            String value = i + 1 < args.length ? args[i + 1] : null;
            if (value == null) {
                usage("missing value after " + args[i]);
            }
            switch (args[i]) {
                case "--classes": classes = Paths.get(value); break;
                case "--out": out = Paths.get(value); break;
                case "--package": packageName = value; break;
                case "--aid": aid = value; break;
                case "--version": version = value; break;
                case "--target": target = value; break;
                case "--exp": exports.add(Paths.get(value)); break;
                case "--applet": {
                    String[] parts = value.split("=", 2);
                    if (parts.length != 2) {
                        usage("--applet takes CLASS=AID");
                    }
                    applets.add(parts);
                    break;
                }
                default: usage("unknown option " + args[i]);
            }
            i++;
        }
        if (classes == null || out == null || packageName == null || aid == null) {
            usage("--classes, --package, --aid and --out are required");
        }
        String[] majorMinor = version.split("\\.");
        int major = Integer.parseInt(majorMinor[0]);
        int minor = majorMinor.length > 1 ? Integer.parseInt(majorMinor[1]) : 0;

        Object builder = Class.forName(PKG + "Converter").getMethod("builder").invoke(null);
        call(builder, "classesDirectory", new Class<?>[] {Path.class}, classes);
        call(builder, "packageName", new Class<?>[] {String.class}, packageName);
        call(builder, "packageAid", new Class<?>[] {String.class}, aid);
        call(builder, "packageVersion", new Class<?>[] {int.class, int.class}, major, minor);
        for (String[] applet : applets) {
            call(builder, "applet", new Class<?>[] {String.class, String.class}, applet[0], applet[1]);
        }
        for (Path exp : exports) {
            call(builder, "importExportFile", new Class<?>[] {Path.class}, exp);
        }
        // Export files are what other packages link against (the core's Shareable interfaces).
        call(builder, "generateExport", new Class<?>[] {boolean.class}, true);
        Class<?> versions = Class.forName(PKG + "JavaCardVersion");
        Object jcVersion = enumConstant(versions, "V" + target.replace('.', '_'));
        call(builder, "javaCardVersion", new Class<?>[] {versions}, jcVersion);

        Object converter = call(builder, "build", new Class<?>[0]);
        Object result;
        try {
            result = converter.getClass().getMethod("convert").invoke(converter);
        } catch (InvocationTargetException e) {
            Throwable cause = e.getCause();
            System.err.println("javacard-express-converter: " + cause.getMessage());
            try {
                Object violations = cause.getClass().getMethod("violations").invoke(cause);
                for (Object violation : (Iterable<?>) violations) {
                    System.err.println("  " + violation);
                }
            } catch (NoSuchMethodException ignored) {
                // Not a ConverterException with violations: the message says it all.
            }
            System.exit(1);
            return;
        }
        byte[] cap = (byte[]) result.getClass().getMethod("capFile").invoke(result);
        byte[] exp = (byte[]) result.getClass().getMethod("exportFile").invoke(result);
        String last = packageName.substring(packageName.lastIndexOf('.') + 1);
        Path dir = out.resolve(packageName.replace('.', File.separatorChar)).resolve("javacard");
        Files.createDirectories(dir);
        Files.write(dir.resolve(last + ".cap"), cap);
        if (exp != null && exp.length > 0) {
            Files.write(dir.resolve(last + ".exp"), exp);
        }
        Object warnings = result.getClass().getMethod("warnings").invoke(result);
        for (Object warning : (Iterable<?>) warnings) {
            System.err.println("warning: " + warning);
        }
        System.out.println("CAP " + dir.resolve(last + ".cap") + " (" + cap.length + " bytes)");
    }

    private static Object call(Object target, String name, Class<?>[] types, Object... args)
            throws ReflectiveOperationException {
        Method method = target.getClass().getMethod(name, types);
        return method.invoke(target, args);
    }

    private static Object enumConstant(Class<?> type, String name) {
        for (Object constant : type.getEnumConstants()) {
            if (((Enum<?>) constant).name().equals(name)) {
                return constant;
            }
        }
        usage("this converter has no Java Card version " + name);
        return null;
    }

    private static void usage(String problem) {
        System.err.println("JcxConvert: " + problem);
        System.err.println("usage: JcxConvert --classes DIR --package NAME --aid HEX --version M.N"
                + " [--applet CLASS=AID]... [--exp FILE]... [--target 3.0.5] --out DIR");
        System.exit(2);
    }
}
