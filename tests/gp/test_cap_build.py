"""`gradle cap` (gradle/cap.gradle) on a throwaway two-package suite, through both converter
routes, with stand-in converters.

Neither real converter can run here: Oracle's SDK is in no registry, and
name.velikodniy:javacard-express-converter is not in the Maven Central this project reaches
(docs/deployment.md). The stand-ins take the same command line (Oracle's
com.sun.javacard.converter.Main) and the same library API (the express converter's builder) and
write CAP files laid out as JCVM 3.0.5 §6 says, importing every package whose export file they
were given. What this proves: the build reads the manifest, converts packages in order, hands a
package the export files of the packages before it, copies the CAPs where
host/tpmcard/services/gp/capfile.py
looks, and capCheck reads them with capfile. Real linking needs a real converter."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from capfiles import CORE_AID, CORE_APPLET, PROVIDER_AID, PROVIDER_APPLET
from tpmcard import paths
from tpmcard.manifest import AppletEntry, PackageEntry, SuiteManifest
from tpmcard.services import gp

# A throwaway suite: the core exports a Shareable interface, the provider package uses it.
SUITE_SOURCES = {
    "tpmcard/core/AlgorithmHost.java": """
package tpmcard.core;
import javacard.framework.Shareable;
public interface AlgorithmHost extends Shareable {
    short version();
}
""",
    "tpmcard/core/CoreApplet.java": """
package tpmcard.core;
import javacard.framework.*;
public class CoreApplet extends Applet implements AlgorithmHost {
    public static void install(byte[] b, short o, byte l) { new CoreApplet().register(); }
    public short version() { return (short) 0x0100; }
    public Shareable getShareableInterfaceObject(AID client, byte parameter) { return this; }
    public void process(APDU apdu) { }
}
""",
    "tpmcard/provider/DigestApplet.java": """
package tpmcard.provider;
import javacard.framework.*;
import tpmcard.core.AlgorithmHost;
public class DigestApplet extends Applet {
    private static final byte[] CORE = {(byte) 0xF0, 0x74, 0x70, 0x6D, 0x63, 0x01, 0x00, 0x01};
    public static void install(byte[] b, short o, byte l) { new DigestApplet().register(); }
    public void process(APDU apdu) {
        AID core = JCSystem.lookupAID(CORE, (short) 0, (byte) CORE.length);
        AlgorithmHost host =
                (AlgorithmHost) JCSystem.getAppletShareableInterfaceObject(core, (byte) 0);
        if (host == null || host.version() != (short) 0x0100) {
            ISOException.throwIt(ISO7816.SW_CONDITIONS_NOT_SATISFIED);
        }
    }
}
""",
}

SUITE_MANIFEST: dict[str, Any] = {
    "rid": "F074706D63",
    "packages": [
        {
            "name": "core",
            "java_package": "tpmcard.core",
            "aid": CORE_AID.hex().upper(),
            "version": "1.0",
            "applets": [
                {
                    "name": "core",
                    "class": "tpmcard.core.CoreApplet",
                    "aid": CORE_APPLET.hex().upper(),
                }
            ],
        },
        {
            "name": "provider",
            "java_package": "tpmcard.provider",
            "aid": PROVIDER_AID.hex().upper(),
            "version": "1.2",
            "applets": [
                {
                    "name": "digest",
                    "class": "tpmcard.provider.DigestApplet",
                    "aid": PROVIDER_APPLET.hex().upper(),
                }
            ],
        },
    ],
}

# Writes a CAP of the components a card manager reads (JCVM 3.0.5 §6.3-6.6) and a stand-in
# export file ("AID major minor"), importing the package of every export file it is given.
FAKE_CAP_WRITER = r"""
package fake;

import java.io.*;
import java.nio.file.*;
import java.util.*;
import java.util.zip.*;

public final class CapWriter {
    static byte[] hex(String h) {
        h = h.replace("0x", "").replace(":", "");
        byte[] out = new byte[h.length() / 2];
        for (int i = 0; i < out.length; i++) {
            out[i] = (byte) Integer.parseInt(h.substring(2 * i, 2 * i + 2), 16);
        }
        return out;
    }
    static byte[] component(int tag, ByteArrayOutputStream body) {
        byte[] b = body.toByteArray();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(tag); out.write(b.length >> 8); out.write(b.length);
        out.write(b, 0, b.length);
        return out.toByteArray();
    }
    static void packageInfo(ByteArrayOutputStream out, byte[] aid, int major, int minor) {
        out.write(minor); out.write(major); out.write(aid.length); out.write(aid, 0, aid.length);
    }
    /** imports: each String[] {aidHex, major, minor}. Returns {cap bytes, exp bytes}. */
    public static byte[][] write(String pkg, String aidHex, String version,
            List<String> appletAids, List<String[]> imports) throws IOException {
        String[] v = version.split("\\.");
        int major = Integer.parseInt(v[0]), minor = Integer.parseInt(v[1]);
        byte[] aid = hex(aidHex);
        ByteArrayOutputStream header = new ByteArrayOutputStream();
        header.write(new byte[] {(byte) 0xDE, (byte) 0xCA, (byte) 0xFF, (byte) 0xED, 1, 2});
        header.write(0x02 | (appletAids.isEmpty() ? 0 : 0x04));
        packageInfo(header, aid, major, minor);
        ByteArrayOutputStream applets = new ByteArrayOutputStream();
        applets.write(appletAids.size());
        for (String a : appletAids) {
            byte[] b = hex(a);
            applets.write(b.length);
            applets.write(b, 0, b.length);
            applets.write(0);
            applets.write(0);
        }
        ByteArrayOutputStream imps = new ByteArrayOutputStream();
        imps.write(imports.size() + 1);
        packageInfo(imps, hex("A0000000620101"), 1, 6);
        for (String[] i : imports) {
            packageInfo(imps, hex(i[0]), Integer.parseInt(i[1]), Integer.parseInt(i[2]));
        }
        ByteArrayOutputStream zip = new ByteArrayOutputStream();
        String dir = pkg.replace('.', '/') + "/javacard/";
        try (ZipOutputStream z = new ZipOutputStream(zip)) {
            put(z, dir + "Header.cap", component(1, header));
            put(z, dir + "Directory.cap", component(2, new ByteArrayOutputStream()));
            if (!appletAids.isEmpty()) put(z, dir + "Applet.cap", component(3, applets));
            put(z, dir + "Import.cap", component(4, imps));
        }
        String plainAid = aidHex.replace("0x", "").replace(":", "");
        byte[] exp = (plainAid + " " + major + " " + minor).getBytes("UTF-8");
        return new byte[][] {zip.toByteArray(), exp};
    }
    static void put(ZipOutputStream z, String name, byte[] data) throws IOException {
        z.putNextEntry(new ZipEntry(name)); z.write(data); z.closeEntry();
    }
    public static String[] readExp(Path exp) throws IOException {
        return new String(Files.readAllBytes(exp), "UTF-8").trim().split(" ");
    }
    public static void store(Path root, String pkg, byte[][] capAndExp) throws IOException {
        String last = pkg.substring(pkg.lastIndexOf('.') + 1);
        Path dir = root.resolve(pkg.replace('.', '/')).resolve("javacard");
        Files.createDirectories(dir);
        Files.write(dir.resolve(last + ".cap"), capAndExp[0]);
        Files.write(dir.resolve(last + ".exp"), capAndExp[1]);
    }
}
"""

# Oracle's command line: -d -classdir -exportpath [-target] -out ... -applet AID CLASS ... PKG AID V
FAKE_ORACLE_MAIN = r"""
package com.sun.javacard.converter;

import java.nio.file.*;
import java.util.*;
import java.util.stream.*;

public final class Main {
    public static void main(String[] args) throws Exception {
        Path out = null; String exportPath = ""; List<String> applets = new ArrayList<>();
        int i = 0;
        for (; i < args.length && args[i].startsWith("-"); i++) {
            switch (args[i]) {
                case "-d": out = Paths.get(args[++i]); break;
                case "-classdir": case "-target": i++; break;
                case "-exportpath": exportPath = args[++i]; break;
                case "-applet": applets.add(args[++i]); i++; break;
                case "-out":
                    while (i + 1 < args.length && args[i + 1].matches("CAP|EXP|JCA")) i++;
                    break;
                default: break;
            }
        }
        String pkg = args[i], aid = args[i + 1], version = args[i + 2];
        List<String[]> imports = new ArrayList<>();
        for (String dir : exportPath.split(java.io.File.pathSeparator)) {
            Path root = Paths.get(dir);
            if (!Files.isDirectory(root)) continue;
            try (Stream<Path> s = Files.walk(root)) {
                List<Path> exps = s.filter(p -> p.toString().endsWith(".exp"))
                        .collect(Collectors.toList());
                for (Path p : exps) imports.add(fake.CapWriter.readExp(p));
            }
        }
        fake.CapWriter.store(out, pkg, fake.CapWriter.write(pkg, aid, version, applets, imports));
        Path log = out.resolve(pkg.replace('.', '/')).resolve("javacard")
                .resolve("converter-args.txt");
        Files.write(log, String.join("\n", args).getBytes("UTF-8"));
    }
}
"""

# The express converter's library API, as far as gp/tools/JcxConvert.java uses it.
FAKE_JCX = {
    "name/velikodniy/jcexpress/converter/JavaCardVersion.java": """
package name.velikodniy.jcexpress.converter;
public enum JavaCardVersion { V3_0_4, V3_0_5 }
""",
    "name/velikodniy/jcexpress/converter/ConverterResult.java": """
package name.velikodniy.jcexpress.converter;
public final class ConverterResult {
    private final byte[] cap, exp;
    ConverterResult(byte[] cap, byte[] exp) { this.cap = cap; this.exp = exp; }
    public byte[] capFile() { return cap; }
    public byte[] exportFile() { return exp; }
    public java.util.List<String> warnings() { return java.util.Collections.emptyList(); }
}
""",
    "name/velikodniy/jcexpress/converter/Converter.java": """
package name.velikodniy.jcexpress.converter;
import java.nio.file.Path;
import java.util.*;
public final class Converter {
    private final Builder b;
    private Converter(Builder b) { this.b = b; }
    public static Builder builder() { return new Builder(); }
    public ConverterResult convert() throws Exception {
        List<String[]> imports = new ArrayList<>();
        for (Path p : b.exps) imports.add(fake.CapWriter.readExp(p));
        String version = b.major + "." + b.minor;
        byte[][] r = fake.CapWriter.write(b.name, b.aid, version, b.applets, imports);
        return new ConverterResult(r[0], b.export ? r[1] : new byte[0]);
    }
    public static final class Builder {
        String name, aid; int major, minor; boolean export; JavaCardVersion version;
        List<String> applets = new ArrayList<>(); List<Path> exps = new ArrayList<>();
        public Builder classesDirectory(Path p) { return this; }
        public Builder packageName(String n) { name = n; return this; }
        public Builder packageAid(String a) { aid = a; return this; }
        public Builder packageVersion(int ma, int mi) { major = ma; minor = mi; return this; }
        public Builder applet(String cls, String a) { applets.add(a); return this; }
        public Builder importExportFile(Path p) { exps.add(p); return this; }
        public Builder generateExport(boolean f) { export = f; return this; }
        public Builder javaCardVersion(JavaCardVersion v) { version = v; return this; }
        public Converter build() { return new Converter(this); }
    }
}
""",
}


def javac_jar(sources: dict[str, str], work: Path, jar: Path, extra: dict[str, str] = {}) -> Path:  # noqa: B006
    src, classes = work / "src", work / "classes"
    for name, text in {"fake/CapWriter.java": FAKE_CAP_WRITER, **sources}.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    files = [str(p) for p in src.rglob("*.java")]
    subprocess.run(["javac", "--release", "8", "-nowarn", "-d", str(classes), *files],
                   check=True, timeout=120, capture_output=True)  # fmt: skip
    for name, text in extra.items():
        (classes / name).parent.mkdir(parents=True, exist_ok=True)
        (classes / name).write_text(text)
    jar.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["jar", "cf", str(jar), "-C", str(classes), "."], check=True, timeout=120)
    return jar


@pytest.fixture(scope="module")
def suite_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the build with the throwaway suite in place of applets/."""
    root = tmp_path_factory.mktemp("suite")
    for name in (
        "build.gradle",
        "settings.gradle",
        "gradle/cap.gradle",
        "gp/tools/JcxConvert.java",
    ):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(paths.SOURCE_ROOT / name, root / name)
    (root / "applets").mkdir()
    (root / "applets/manifest.json").write_text(json.dumps(SUITE_MANIFEST))
    for name, text in SUITE_SOURCES.items():
        path = root / "applets/src/main/java" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def gradle(project: Path, *args: str) -> str:
    result = subprocess.run(
        ["gradle", "--console=plain", "-q", *args],
        cwd=project, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def suite_manifest() -> SuiteManifest:
    return SuiteManifest(
        rid=bytes.fromhex(SUITE_MANIFEST["rid"]),
        packages=tuple(
            PackageEntry(
                p["name"],
                p["java_package"],
                bytes.fromhex(p["aid"]),
                p["version"],
                tuple(
                    AppletEntry(a["name"], a["class"], bytes.fromhex(a["aid"]))
                    for a in p["applets"]
                ),
            )
            for p in SUITE_MANIFEST["packages"]
        ),
    )


def check_suite_caps(project: Path) -> None:
    profile = gp.parse_profile({}, "suite", suite_manifest())
    caps = gp.read_suite_caps(profile, lambda name: project / "applets/build/cap" / f"{name}.cap")
    assert [r.aid for r in caps["core"].imports] == [bytes.fromhex("A0000000620101")]
    assert gp.PackageRef(CORE_AID, 1, 0) in caps["provider"].imports
    assert gp.dependents(profile, caps, "core") == ["provider"]


def test_oracle_route(suite_project: Path, tmp_path: Path) -> None:
    kit = tmp_path / "jc-kit"
    javac_jar(
        {"com/sun/javacard/converter/Main.java": FAKE_ORACLE_MAIN},
        tmp_path / "oracle-build",
        kit / "lib" / "tools.jar",
        extra={"com/sun/javacard/toolsversion.properties": "converter.version=25.0\n"},
    )
    out = gradle(suite_project, "cap", f"-PJC_HOME={kit}", "-PoffCardVerifier=false")
    check_suite_caps(suite_project)
    work = suite_project / "applets/build/javacard"
    args = (work / "tpmcard/provider/javacard/converter-args.txt").read_text().splitlines()
    assert args[args.index("-exportpath") + 1] == str(work)  # finds core's export file there
    assert args[args.index("-target") + 1] == "3.0.5"
    assert args[args.index("-applet") + 1 : args.index("-applet") + 3] == [
        "0xF0:0x74:0x70:0x6D:0x63:0x02:0x00:0x01",
        "tpmcard.provider.DigestApplet",
    ]
    assert args[-3:] == ["tpmcard.provider", "0xF0:0x74:0x70:0x6D:0x63:0x02:0x00", "1.2"]
    assert "Package: tpmcard.provider F074706D630200 v1.2" in out  # capCheck, through capfile


def test_express_route(suite_project: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    coordinates = repo / "name/velikodniy/javacard-express-converter/0.4.0"
    javac_jar(
        FAKE_JCX, tmp_path / "jcx-build", coordinates / "javacard-express-converter-0.4.0.jar"
    )
    (coordinates / "javacard-express-converter-0.4.0.pom").write_text(
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        "<groupId>name.velikodniy</groupId><artifactId>javacard-express-converter</artifactId>"
        "<version>0.4.0</version></project>"
    )
    # The stand-in is Java 8 code, so the build's own Java stands in for the Java 25 runtime.
    java = shutil.which("java")
    assert java
    out = gradle(suite_project, "cap", f"-PextraRepo={repo}", f"-Pjava25={java}")
    check_suite_caps(suite_project)
    assert "Package: tpmcard.core F074706D630100 v1.0" in out
    assert "Oracle's off-card verifier not run" in out
