"""Running gptool: keys and install parameters reach it, but never its argv or environment.

A stand-in ``pro.javacard.gp.GPTool`` (compiled here with the JDK's javac) reports what it got:
its arguments, its own /proc/self/cmdline (what ``ps`` shows every user) and its environment.
The real gptool is started the same way, only with another class path."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from capfiles import KEY
from tpmcard.services import gp

FAKE_GPTOOL = r"""
package pro.javacard.gp;

import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.Map;

public class GPTool {
    public static void main(String[] args) throws Exception {
        if (args.length == 1 && args[0].equals("--version")) {
            System.out.println("GlobalPlatformPro stand-in");
            return;
        }
        for (String arg : args) {
            System.out.println("ARG " + arg);
        }
        byte[] cmdline = Files.readAllBytes(Paths.get("/proc/self/cmdline"));
        System.out.println("CMDLINE " + new String(cmdline, "UTF-8").replace('\0', ' '));
        for (Map.Entry<String, String> e : System.getenv().entrySet()) {
            System.out.println("ENV " + e.getKey() + "=" + e.getValue());
        }
        for (int i = 0; i + 1 < args.length; i++) {
            if (args[i].equals("--exit")) {
                System.err.println("stand-in failing as asked");
                System.exit(Integer.parseInt(args[i + 1]));
            }
        }
    }
}
"""

READER = 'Virtual "PCD" 00\\00 #1'  # quotes, backslash, '#' and spaces survive the argument file


@pytest.fixture(scope="module")
def fake_gptool(tmp_path_factory: pytest.TempPathFactory) -> gp.GpTool:
    root = tmp_path_factory.mktemp("fake-gptool")
    source = root / "src" / "pro" / "javacard" / "gp" / "GPTool.java"
    source.parent.mkdir(parents=True)
    source.write_text(FAKE_GPTOOL)
    classes = root / "classes"
    subprocess.run(["javac", "-d", str(classes), str(source)], check=True, timeout=120)
    return gp.GpTool([classes])


def report(output: str) -> tuple[list[str], str, dict[str, str]]:
    args, cmdline, env = [], "", {}
    for line in output.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "ARG":
            args.append(rest)
        elif kind == "CMDLINE":
            cmdline = rest
        elif kind == "ENV":
            name, _, value = rest.partition("=")
            env[name] = value
    return args, cmdline, env


def test_secrets_reach_gptool_but_not_its_command_line(
    fake_gptool: gp.GpTool,
    two_package_profile: gp.DeploymentProfile,
    two_package_caps: dict[str, gp.CapInfo],
    keys: gp.CardKeys,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TPMCARD_GP_KEY", KEY.hex())
    monkeypatch.setenv("GP_KEY_ENC", KEY.hex())
    monkeypatch.setenv("GP_READER", "some other reader")
    monkeypatch.setenv("TPMCARD_KEEP_ME", "1")
    entropy = os.urandom(32)
    plan = gp.plan_install(
        two_package_profile, two_package_caps, keys, READER, lambda n: entropy[:n]
    )
    results = gp.execute(plan, fake_gptool)
    assert len(results) == 2
    for invocation, result in zip(plan, results, strict=True):
        args, cmdline, env = report(result.output)
        assert args == list(invocation.args)  # every argument intact, in order
        assert cmdline.split()[-1].startswith("@")  # the argv ends in the argument file
        assert "pro.javacard.gp.GPTool" not in cmdline
        for secret in (KEY.hex(), entropy.hex(), "c9020102"):
            assert secret not in cmdline.lower()
            assert all(secret not in value.lower() for value in env.values())
        assert not [name for name in env if name.startswith(("GP_", "TPMCARD_GP_"))]
        assert env.get("TPMCARD_KEEP_ME") == "1"
    assert KEY.hex().upper() in plan[0].args and "C920" + entropy.hex().upper() in plan[0].args


def test_argument_file_is_gone_after_the_run(fake_gptool: gp.GpTool) -> None:
    result = fake_gptool._run(("--list",), "list", timeout=60)
    _, cmdline, _ = report(result.output)
    argfile = Path(cmdline.split()[-1][1:])
    assert not argfile.exists() and not argfile.parent.exists()


def test_version(fake_gptool: gp.GpTool) -> None:
    assert fake_gptool.version() == "GlobalPlatformPro stand-in"


def test_failure_is_reported_with_its_exit_status(fake_gptool: gp.GpTool) -> None:
    invocation = gp.GpInvocation("delete package 'core'", ("--exit", "3"))
    with pytest.raises(gp.GpToolError) as raised:
        fake_gptool.run(invocation)
    assert raised.value.returncode == 3
    assert "stand-in failing as asked" in str(raised.value)
    assert "delete package 'core'" in str(raised.value)


def test_gptool_missing_from_the_class_path(tmp_path: Path) -> None:
    tool = gp.GpTool([tmp_path])
    with pytest.raises(gp.GpToolError, match="pro.javacard.gp.GPTool"):
        tool.run(gp.GpInvocation("list the card's contents", ("--list",)), timeout=60)


def test_a_process_that_never_reads_its_arguments_does_not_hang(tmp_path: Path) -> None:
    # /bin/false exits at once without opening the argument pipe: the writer must notice.
    tool = gp.GpTool([tmp_path], java="/bin/false")
    with pytest.raises(gp.GpToolError, match="exit status 1"):
        tool.run(gp.GpInvocation("list the card's contents", ("--list",)), timeout=60)


def test_no_java(tmp_path: Path) -> None:
    tool = gp.GpTool([tmp_path], java=str(tmp_path / "no-java"))
    with pytest.raises(gp.GpToolMissingError, match="no Java runtime"):
        tool.version()


def test_missing_gptool_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gp.tool, "gp_classpath_file", lambda: tmp_path / "gp-classpath.txt")
    with pytest.raises(gp.GpToolMissingError, match="gradle gpClasspath"):
        gp.GpTool.from_build({})
    with pytest.raises(gp.GpToolMissingError, match="no such file"):
        gp.GpTool.from_build({"TPMCARD_GP_JAR": str(tmp_path / "gp.jar")})
    (tmp_path / "gp-classpath.txt").write_text(f"{tmp_path / 'gone.jar'}\n")
    with pytest.raises(gp.GpToolMissingError, match="missing jars"):
        gp.GpTool.from_build({})
    jar = tmp_path / "gp.jar"
    jar.write_bytes(b"")
    assert gp.GpTool.from_build({"TPMCARD_GP_JAR": str(jar)}).classpath == (jar,)


def test_line_breaks_cannot_be_smuggled_into_arguments(fake_gptool: gp.GpTool) -> None:
    with pytest.raises(gp.GpError, match="line break"):
        fake_gptool.run(gp.GpInvocation("list", ("--reader", "a\n--delete")))
