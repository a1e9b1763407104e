"""Running gptool (GlobalPlatformPro): its classpath, its argument file, its result."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tpmcard import paths
from tpmcard.services.gp.errors import GpError, GpToolError, GpToolMissingError
from tpmcard.services.gp.plans import GpInvocation

GPTOOL_MAIN = "pro.javacard.gp.GPTool"
GP_CLASSPATH_ENV = "TPMCARD_GP_CLASSPATH"
GP_JAR_ENV = "TPMCARD_GP_JAR"
#: Debian's pcsc-lite, for the JDK's java.smartcardio (gptool's PC/SC access).
_PCSCLITE = Path("/usr/lib/x86_64-linux-gnu/libpcsclite.so.1")


def gp_classpath_file() -> Path:
    """Written by ``gradle gpClasspath``: gptool and its dependency jars, one per line."""
    return paths.build_dir() / "gp-classpath.txt"


def _quote_argfile(arg: str) -> str:
    # The java launcher's @argfile syntax: a double-quoted token may hold spaces and '#';
    # backslash escapes inside quotes. Line breaks cannot be part of an argument there.
    if "\n" in arg or "\r" in arg:
        raise GpError("a gptool argument may not contain a line break")
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class GpResult:
    purpose: str
    returncode: int
    output: str


class GpTool:
    """GlobalPlatformPro in a child JVM, given its arguments through a private channel.

    gptool 19.06.16 reads keys only from its command line (``--key``...) or from the variables
    ``GP_KEY_ENC``/``_MAC``/``_DEK``, and install parameters only from ``--params``: a command line
    every user of the machine can read (``ps``, ``/proc/PID/cmdline``). So the main class and all
    its arguments go through a java launcher argument file (``java -cp CP @FILE``, JDK 9+) that
    is a named pipe in a directory only we can open: the child's argv shows ``@<path>`` only, the
    arguments never touch a disk, and the pipe is gone when gptool runs. What remains: the JVM
    holds the keys in its memory while it runs, like any tool that uses them.
    """

    def __init__(
        self,
        classpath: Sequence[Path],
        java: str | None = None,
        jvm_options: Sequence[str] = (),
        main_class: str = GPTOOL_MAIN,
    ) -> None:
        if not classpath:
            raise GpToolMissingError("the gptool class path is empty")
        self.classpath = tuple(classpath)
        self.java = java or _find_java()
        options = list(jvm_options)
        if _PCSCLITE.exists() and not any("smartcardio.library" in o for o in options):
            options.append(f"-Dsun.security.smartcardio.library={_PCSCLITE}")
        self.jvm_options = tuple(options)
        self.main_class = main_class

    @classmethod
    def from_build(cls, environ: Mapping[str, str] | None = None) -> GpTool:
        """gptool from ``$TPMCARD_GP_JAR`` (GlobalPlatformPro's own gp.jar), from
        ``$TPMCARD_GP_CLASSPATH``, or from the class path ``gradle gpClasspath`` resolved."""
        env = os.environ if environ is None else environ
        if env.get(GP_JAR_ENV):
            jar = Path(env[GP_JAR_ENV]).expanduser()
            if not jar.is_file():
                raise GpToolMissingError(f"{GP_JAR_ENV}={jar}: no such file")
            return cls([jar])
        if env.get(GP_CLASSPATH_ENV):
            return cls([Path(p) for p in env[GP_CLASSPATH_ENV].split(os.pathsep) if p])
        listing = gp_classpath_file()
        if not listing.is_file():
            raise GpToolMissingError(
                f"GlobalPlatformPro is not set up: run `gradle gpClasspath` (it writes {listing}), "
                f"or point {GP_JAR_ENV} at a gp.jar (docs/deployment.md)"
            )
        jars = [Path(line) for line in listing.read_text().splitlines() if line.strip()]
        missing = [str(j) for j in jars if not j.exists()]
        if missing:
            raise GpToolMissingError(
                f"{listing} names missing jars ({', '.join(missing)}); run `gradle gpClasspath`"
            )
        return cls(jars)

    def command_line(self, argfile: Path) -> list[str]:
        """The child's whole argv: nothing secret in it."""
        classpath = os.pathsep.join(str(p) for p in self.classpath)
        return [self.java, *self.jvm_options, "-cp", classpath, f"@{argfile}"]

    def child_environment(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """Our environment less the keys (ours and gptool's own variables) and gptool's reader
        and domain overrides: the plan says which reader and domain, nothing else does."""
        env = dict(os.environ if environ is None else environ)
        for name in list(env):
            if name.startswith(("TPMCARD_GP_", "GP_")):
                del env[name]
        return env

    def run(self, invocation: GpInvocation, timeout: float = 300.0) -> GpResult:
        """Run one invocation; raise :class:`GpToolError` unless gptool exits with 0."""
        result = self._run(invocation.args, invocation.purpose, timeout)
        if result.returncode != 0:
            raise GpToolError(invocation.purpose, result.returncode, result.output)
        return result

    def version(self, timeout: float = 120.0) -> str:
        """gptool's ``--version`` text (no card needed)."""
        result = self._run(("--version",), "report its version", timeout)
        if result.returncode != 0:
            raise GpToolError("report its version", result.returncode, result.output)
        return result.output.strip()

    def cap_info(self, cap: Path, timeout: float = 120.0) -> str:
        """gptool's view of a CAP file (``--cap X --info``; no card needed)."""
        result = self._run(("--cap", str(cap), "--info"), f"read {cap}", timeout)
        if result.returncode != 0:
            raise GpToolError(f"read {cap}", result.returncode, result.output)
        return result.output

    def _run(self, args: Sequence[str], purpose: str, timeout: float) -> GpResult:
        content = "\n".join(_quote_argfile(a) for a in (self.main_class, *args)) + "\n"
        workdir = Path(tempfile.mkdtemp(prefix="tpmcard-gp-"))  # mode 0700
        pipe = workdir / "args"
        try:
            os.mkfifo(pipe, 0o600)
            try:
                process = subprocess.Popen(
                    self.command_line(pipe),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    env=self.child_environment(),
                    text=True,
                )
            except FileNotFoundError:
                raise GpToolMissingError(
                    f"no Java runtime at {self.java!r}: install openjdk-17-jre-headless"
                ) from None
            output: list[str] = []
            reader = threading.Thread(
                target=lambda: output.append(process.stdout.read() if process.stdout else ""),
                daemon=True,
            )
            reader.start()
            try:
                self._feed(pipe, content.encode(), process, timeout)
                process.wait(timeout=timeout)
            except BaseException:
                process.kill()
                process.wait()
                raise
            finally:
                reader.join(timeout=10)
            return GpResult(purpose, process.returncode, "".join(output))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    @staticmethod
    def _feed(pipe: Path, content: bytes, process: subprocess.Popen[str], timeout: float) -> None:
        """Write the arguments into the pipe once the launcher opens it for reading.

        A non-blocking open fails with ENXIO until the reader is there; polling it lets us notice
        a JVM that died before reading (a bad class path, no Java) instead of hanging.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                fd = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError as exc:
                if exc.errno != errno.ENXIO:  # ENXIO: nobody has opened it for reading yet
                    raise
            if process.poll() is not None:
                return  # it exited without reading the arguments; its output says why
            if time.monotonic() > deadline:
                raise GpError("gptool did not start within the time limit")
            time.sleep(0.01)
        try:
            os.set_blocking(fd, True)
            view = memoryview(content)
            while view:
                written = os.write(fd, view)
                view = view[written:]
        finally:
            os.close(fd)


def _find_java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise GpToolMissingError("no `java` on PATH: install openjdk-17-jre-headless")
    return found


def execute(
    invocations: Iterable[GpInvocation],
    tool: GpTool,
    progress: Callable[[GpInvocation], None] | None = None,
) -> list[GpResult]:
    """Run a plan in order; stop at the first failure (raised as :class:`GpToolError`)."""
    results = []
    for invocation in invocations:
        if progress is not None:
            progress(invocation)
        results.append(tool.run(invocation))
    return results
