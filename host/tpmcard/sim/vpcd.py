"""The PC/SC simulator stack: pcscd with vsmartcard's vpcd driver, and the simulated card.

::

    PcscConnection --pyscard--> pcscd --libifdvpcd (TCP server on 127.0.0.1:port)--> VpcdCard (JVM)

vpcd is a pcscd reader driver that listens on a TCP port per virtual reader; the card side
(``tpmcard.sim.VpcdCard``, a :class:`~tpmcard.transport.jcardsim` SimCard with the same card
store) connects to it. Debian's vsmartcard-vpcd configures two readers, "Virtual PCD 00 00" on
port 35963 and "Virtual PCD 00 01" on 35964.

:func:`serve` backs ``tpmcard sim serve``: it uses the system pcscd (starting ``pcscd
--foreground`` itself when none answers and it runs as root) so that every PC/SC application
sees the card. :func:`start_private_pcscd` runs a pcscd only the caller sees (own mount
namespace, own socket, own vpcd ports), for test suites that must not meet other users' cards.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tpmcard import paths
from tpmcard.errors import SimulatorError, TransportError
from tpmcard.lifetime import Closeable
from tpmcard.transport import jcardsim, pcsc

#: vsmartcard's default port: reader "Virtual PCD 00 00"; the next port is "Virtual PCD 00 01".
VPCD_PORT = 35963
VPCD_FRIENDLY_NAME = "Virtual PCD"
VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
SYSTEM_READER_CONF = Path("/etc/reader.conf.d")
SYSTEM_SOCKET = Path("/run/pcscd/pcscd.comm")
SOCKET_ENV = "PCSCLITE_CSOCK_NAME"


def vpcd_reader_name(slot: int = 0, friendly_name: str = VPCD_FRIENDLY_NAME) -> str:
    """The PC/SC name of the vpcd reader ``slot`` (0 for the base port, 1 for base port + 1)."""
    return f"{friendly_name} 00 {slot:02X}"


def _log_file(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except FileNotFoundError:
        return ""
    return "\n".join(text[-lines:])


def _stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> int:
    """SIGTERM, then SIGKILL after ``timeout``; returns the exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def pcscd_answers() -> bool:
    """Whether a pcscd answers on this process's PC/SC socket."""
    try:
        pcsc.list_readers()
    except TransportError:
        return False
    return True


def wait_for_readers(names: list[str], timeout: float) -> list[str]:
    """Wait until pcscd lists every reader in ``names``; returns the readers it lists."""
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while True:
        with contextlib.suppress(TransportError):
            seen = pcsc.list_readers()
            if all(n in seen for n in names):
                return seen
        if time.monotonic() > deadline:
            raise TransportError(
                f"pcscd did not show the readers {names} within {timeout:.0f} s (it lists {seen}); "
                "is vsmartcard-vpcd installed (apt install vsmartcard-vpcd)?"
            )
        time.sleep(0.05)


def wait_for_card(reader: str, *, present: bool = True, timeout: float = 20.0) -> None:
    """Wait until the reader reports a card (or, with ``present=False``, none)."""
    from smartcard import scard

    deadline = time.monotonic() + timeout
    state = 0
    while True:
        hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hresult == scard.SCARD_S_SUCCESS:
            try:
                hresult, states = scard.SCardGetStatusChange(
                    context, 0, [(reader, scard.SCARD_STATE_UNAWARE)]
                )
                if hresult == scard.SCARD_S_SUCCESS:
                    state = states[0][1]
                    if bool(state & scard.SCARD_STATE_PRESENT) == present and not (
                        state & scard.SCARD_STATE_MUTE
                    ):
                        return
            finally:
                scard.SCardReleaseContext(context)
        if time.monotonic() > deadline:
            raise TransportError(
                f"the reader {reader!r} did not {'get' if present else 'lose'} a card within "
                f"{timeout:.0f} s (state 0x{state:X})"
            )
        time.sleep(0.05)


@dataclass
class PcscdProcess:
    """A pcscd this process started (``process`` None: the system's, not ours to stop)."""

    process: subprocess.Popen[bytes] | None
    base_port: int
    socket_path: Path
    log: Path | None = None
    #: Environment a client needs to reach this pcscd (PCSCLITE_CSOCK_NAME for a private one).
    client_env: dict[str, str] = field(default_factory=dict)

    @property
    def readers(self) -> list[str]:
        return [vpcd_reader_name(0), vpcd_reader_name(1)]

    def stop(self) -> None:
        if self.process is not None:
            _stop_process(self.process)
            self.process = None


def ensure_pcscd(
    *, may_start: bool = True, log: Path | None = None, timeout: float = 10.0
) -> PcscdProcess:
    """The system pcscd with the vpcd readers; started (``pcscd --foreground``) if none answers.

    Raises :class:`TransportError` with what to do when it is missing and cannot be started.
    """
    if pcscd_answers():
        readers = pcsc.list_readers()
        if vpcd_reader_name(0) not in readers:
            raise TransportError(
                f"pcscd runs without the vpcd driver (its readers: {readers}): install "
                "vsmartcard-vpcd and restart pcscd (sudo systemctl restart pcscd)"
            )
        return PcscdProcess(None, VPCD_PORT, SYSTEM_SOCKET)
    if os.environ.get(SOCKET_ENV):
        raise TransportError(
            f"no pcscd answers on ${SOCKET_ENV}={os.environ[SOCKET_ENV]}; start that pcscd first"
        )
    if not VPCD_DRIVER.exists() or not (SYSTEM_READER_CONF / "vpcd").exists():
        raise TransportError("the vpcd reader driver is missing: apt install vsmartcard-vpcd")
    binary = shutil.which("pcscd") or "/usr/sbin/pcscd"
    if not may_start or not Path(binary).exists() or os.geteuid() != 0:
        raise TransportError(f"the PC/SC service pcscd is not running: {pcsc.PCSCD_HINT}")
    stderr = _log_file(log) if log else subprocess.DEVNULL
    try:
        process = subprocess.Popen(  # noqa: S603 - fixed argv
            [binary, "--foreground"],
            stdin=subprocess.DEVNULL,
            stdout=stderr,
            stderr=stderr,
            start_new_session=True,
        )
    finally:
        if log:
            os.close(stderr)  # type: ignore[arg-type]
    handle = PcscdProcess(process, VPCD_PORT, SYSTEM_SOCKET, log)
    try:
        _wait_started(handle, timeout)
    except BaseException:
        handle.stop()
        raise
    return handle


def _wait_started(handle: PcscdProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not pcscd_answers():
        if handle.process is not None and handle.process.poll() is not None:
            raise TransportError(
                f"pcscd exited with status {handle.process.returncode}"
                + (f":\n{_tail(handle.log)}" if handle.log else "")
            )
        if time.monotonic() > deadline:
            raise TransportError(f"pcscd did not answer within {timeout:.0f} s")
        time.sleep(0.05)
    wait_for_readers(handle.readers, timeout)


def free_port_pair() -> int:
    """A port P on 127.0.0.1 such that P and P + 1 are both free now."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port >= 65535:
            continue
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
        except OSError:
            continue
        return port
    raise TransportError("no two adjacent free TCP ports on 127.0.0.1")


def start_private_pcscd(
    workdir: Path, *, base_port: int | None = None, timeout: float = 10.0
) -> PcscdProcess:
    """A pcscd that only sees two vpcd readers on ``base_port`` and ``base_port + 1``.

    pcsc-lite 1.9 has a fixed socket path, so pcscd runs in its own mount namespace where
    ``workdir/run`` is mounted on /run/pcscd; clients reach it by setting ``PCSCLITE_CSOCK_NAME``
    to ``workdir/run/pcscd.comm`` before their first PC/SC call (libpcsclite reads it once).
    Needs root (CAP_SYS_ADMIN) and util-linux ``unshare``.
    """
    unshare = shutil.which("unshare")
    binary = shutil.which("pcscd") or "/usr/sbin/pcscd"
    if os.geteuid() != 0 or unshare is None or not Path(binary).exists():
        raise TransportError("a private pcscd needs root, util-linux unshare and pcscd")
    if not VPCD_DRIVER.exists():
        raise TransportError("the vpcd reader driver is missing: apt install vsmartcard-vpcd")
    port = base_port or free_port_pair()
    run = workdir / "run"
    conf = workdir / "reader.conf.d"
    run.mkdir(parents=True, exist_ok=True)
    conf.mkdir(parents=True, exist_ok=True)
    # vpcd takes its port from DEVICENAME "/dev/null:0xPORT" (vsmartcard ifd-vpcd.c).
    (conf / "vpcd").write_text(
        f'FRIENDLYNAME "{VPCD_FRIENDLY_NAME}"\nDEVICENAME   /dev/null:0x{port:04X}\n'
        f"LIBPATH      {VPCD_DRIVER}\nCHANNELID    0x{port:04X}\n"
    )
    Path("/run/pcscd").mkdir(mode=0o755, exist_ok=True)  # the mount point, on the host
    script = 'mount --bind "$1" /run/pcscd && exec "$2" --foreground --config "$3"'
    log = workdir / "pcscd.log"
    out = _log_file(log)
    try:
        process = subprocess.Popen(  # noqa: S603 - fixed argv
            [
                unshare,
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                script,
                "sh",
                str(run),
                binary,
                str(conf),
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    finally:
        os.close(out)
    socket_path = run / "pcscd.comm"
    handle = PcscdProcess(process, port, socket_path, log, {SOCKET_ENV: str(socket_path)})
    try:
        deadline = time.monotonic() + timeout
        while not socket_path.exists():
            if process.poll() is not None:
                raise TransportError(
                    f"the private pcscd exited ({process.returncode}):\n{_tail(log)}"
                )
            if time.monotonic() > deadline:
                raise TransportError(
                    f"the private pcscd did not start within {timeout:.0f} s:\n{_tail(log)}"
                )
            time.sleep(0.02)
    except BaseException:
        handle.stop()
        raise
    return handle


def java_executable() -> str:
    """The ``java`` launcher: ``$JAVA_HOME/bin/java``, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    candidate = Path(home) / "bin" / "java" if home else None
    if candidate is not None and candidate.exists():
        return str(candidate)
    found = shutil.which("java")
    if found is None:
        raise SimulatorError(
            "no `java` found: install OpenJDK 17 (apt install openjdk-17-jre-headless)"
        )
    return found


class VpcdCardProcess:
    """``tpmcard.sim.VpcdCard`` in a child JVM: the simulated card behind a vpcd reader."""

    def __init__(
        self,
        state_dir: Path,
        *,
        port: int = VPCD_PORT,
        manifest: Path | None = None,
        env: dict[str, str] | None = None,
        purpose: str | None = None,
        profile: str | None = None,
        ready_timeout: float = 60.0,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.port = port
        self.log = self.state_dir / "vpcd-card.log"
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        classpath = jcardsim.sim_classpath()
        argv = [
            java_executable(),
            *jcardsim.jvm_args(classpath),
            "-cp",
            os.pathsep.join(classpath),
            "tpmcard.sim.VpcdCard",
            "--state-dir",
            str(self.state_dir),
            "--manifest",
            str(manifest or paths.manifest_path()),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        if purpose:
            argv += ["--purpose", purpose]
        if profile:
            argv += ["--profile", profile]
        stderr = _log_file(self.log)
        try:
            self.process = subprocess.Popen(  # noqa: S603 - argv built above
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )
        finally:
            os.close(stderr)
        try:
            self.ready_line = self._wait_ready(ready_timeout)
        except BaseException:
            self.stop()
            raise
        #: The served card's profile, from its "ready ... profile=NAME" line.
        self.profile = next(
            (f[len("profile=") :] for f in self.ready_line.split() if f.startswith("profile=")), ""
        )

    def _wait_ready(self, timeout: float) -> str:
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        buffer = b""
        fd = self.process.stdout.fileno()
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SimulatorError(
                    f"the simulated card did not connect to vpcd on port {self.port} "
                    f"within {timeout:.0f} s: is pcscd with vpcd running?"
                )
            readable, _, _ = select.select([fd], [], [], min(remaining, 0.2))
            if readable:
                chunk = os.read(fd, 4096)
                if not chunk:
                    self.process.wait()
                    detail = _tail(self.log, 5).removeprefix("error: ")
                    raise SimulatorError(
                        f"the simulated card exited (status {self.process.returncode}): {detail}"
                    )
                buffer += chunk
        line = buffer.split(b"\n", 1)[0].decode(errors="replace")
        if not line.startswith("ready"):
            raise SimulatorError(f"unexpected output from the simulated card: {line!r}")
        return line

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM (the card saves its store and exits 0); returns the exit status."""
        status = _stop_process(self.process, timeout)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return status


class SimStack(Closeable):
    """pcscd (system or private) and one simulated card behind its vpcd reader."""

    def __init__(self, pcscd: PcscdProcess, card: VpcdCardProcess, reader: str) -> None:
        self.pcscd = pcscd
        self.card = card
        self.reader = reader

    def stop(self) -> None:
        try:
            self.card.stop()
        finally:
            self.pcscd.stop()

    close = stop


def serve(
    state_dir: Path | None = None,
    *,
    port: int = VPCD_PORT,
    foreground: bool = True,
    manifest: Path | None = None,
    profile: str | None = None,
    on_ready: Callable[[SimStack], None] | None = None,
) -> SimStack | None:
    """Serve the simulated card (store in ``state_dir``, default the in-process card's) on the
    system pcscd's vpcd reader at ``port``; start pcscd if none answers and we may.

    ``profile``: the card profile of a new card (default ``$TPMCARD_SIM_PROFILE``, else ``full``).
    ``foreground``: block until SIGINT/SIGTERM or the card exits, then stop what was started
    (``on_ready`` is called once the reader holds the card); else return the running stack.
    """
    directory = Path(state_dir) if state_dir is not None else jcardsim.default_state_dir()
    if port not in (VPCD_PORT, VPCD_PORT + 1):
        raise TransportError(
            f"the system's vpcd readers listen on {VPCD_PORT} and {VPCD_PORT + 1}, not {port}"
        )
    pcscd = ensure_pcscd(log=directory / "pcscd.log")
    try:
        reader = vpcd_reader_name(port - VPCD_PORT)
        card = VpcdCardProcess(
            directory,
            port=port,
            manifest=manifest,
            purpose=f"tpmcard sim serve ({reader})",
            profile=profile,
        )
        try:
            wait_for_card(reader)
        except BaseException:
            card.stop()
            raise
    except BaseException:
        pcscd.stop()
        raise
    stack = SimStack(pcscd, card, reader)
    if not foreground:
        return stack
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:  # from here on, Ctrl-C at any moment (even while on_ready prints) stops the stack
        if on_ready is not None:
            on_ready(stack)
        status = card.process.wait()
    except KeyboardInterrupt:
        status = 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        stack.stop()
    if status != 0:
        raise SimulatorError(
            f"the simulated card exited with status {status}: {_tail(card.log, 5)}"
        )
    return None


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM as Ctrl-C, so that ``serve`` stops its children the same way."""
    raise KeyboardInterrupt
