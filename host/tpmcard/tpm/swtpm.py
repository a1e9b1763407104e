"""The embedded TPM: a private ``swtpm`` process on loopback, with state that persists.

"State persists on the embedded default": the PCR values one tpmcard process reports are the
ones the next process reports, until the user asks for a fresh TPM (:meth:`Swtpm.reset`). A
real platform gets this from TPM2_Shutdown(STATE) before suspend and TPM2_Startup(STATE) on
resume (TPM 2.0 Part 1 §36.6 "TPM Resume"); :meth:`Swtpm.stop` and :meth:`Swtpm.start` do the
same. Without saved state (first run, after a crash) the TPM answers TPM_RC_VALUE to
Startup(STATE) and we fall back to Startup(CLEAR), which is a reboot: PCRs start from zero.
Only the PCRs the platform profile marks "saved" survive (PC Client: 0-15; 16 and 23 are
debug/application PCRs that every Startup resets).

Lifetime: swtpm runs in its own session (a terminal's Ctrl-C reaches Python, which then shuts
the TPM down cleanly, not swtpm directly) with the kernel's parent-death signal set, so a
parent that crashes takes swtpm with it. ``--terminate`` is not used: it ends swtpm when the
*first* client disconnects, but tpm2-tools and tpmcard hold separate connections. An interpreter
that exits with the TPM still running stops it through an ``atexit`` hook; a pid file lets the
next start stop an orphan left behind anyway.

Manufacturing. A fresh state directory is first "manufactured" with ``swtpm_setup``
(``--create-ek-cert --create-platform-cert``): the TPM gets its RSA 2048 endorsement key (EK,
persistent at 0x81010001) and an EK certificate in NV index 0x01c00002 (TCG EK Credential
Profile §2.2.1.4), issued by a private ``swtpm_localca`` whose configuration and keys live in
``<state>/localca`` (never the system's /etc/swtpm-localca.conf). That local CA plays the TPM
manufacturer: its certificates (``localca/swtpm-localca-rootca-cert.pem``, the root, and
``localca/issuercert.pem``, the intermediate that signs EK certificates) are what a verifier
configures as EK roots for this TPM (docs/binding.md §8). Manufacturing takes about a second
(a few on the first run, when the local CA makes its keys) and happens once per state directory.

This module does not import tpm2_pytss: Startup and Shutdown are 12-byte commands marshalled
here.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import errno
import fcntl
import logging
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType

from tpmcard.errors import TpmError
from tpmcard.paths import state_dir as tpmcard_state_dir

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "install swtpm (Debian/Ubuntu: sudo apt install swtpm swtpm-tools), "
    "or set TPMCARD_TCTI to use another TPM (e.g. device:/dev/tpmrm0)"
)

_HOST = "127.0.0.1"

# swtpm control channel (swtpm's "ptm" ioctl set, carried over TCP as a 32-bit command code).
_CTRL_GET_CAPABILITY = 0x01
_CTRL_SHUTDOWN = 0x03

# TPM 2.0 Part 2 §6.9 TPM_ST_NO_SESSIONS, §6.5.2 command codes, §6.14 TPM_SU.
_ST_NO_SESSIONS = 0x8001
_CC_STARTUP = 0x00000144
_CC_SHUTDOWN = 0x00000145
_SU_CLEAR = 0x0000
_SU_STATE = 0x0001
_RC_SUCCESS = 0x000
_RC_INITIALIZE = 0x100
_RC_VALUE = 0x084  # format-one: TPM_RC_VALUE, parameter/handle number stripped

#: The EK certificate's local CA (the test "manufacturer") and the PCR banks a manufactured
#: TPM keeps: all four, as swtpm allocates them without swtpm_setup.
LOCALCA_DIR = "localca"
_PCR_BANKS = "sha1,sha256,sha384,sha512"
_STATE_FILE = "tpm2-00.permall"

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_START_ATTEMPTS = 5

_running: weakref.WeakSet[Swtpm] = weakref.WeakSet()


@atexit.register
def _stop_all_at_exit() -> None:
    for tpm in list(_running):
        with contextlib.suppress(Exception):
            tpm.stop()


def _libc_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


# Resolved before any fork: the child between fork and exec must not load libraries.
_PRCTL = _libc_prctl()


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    """preexec_fn: SIGTERM this child when the thread that forked it dies (Linux prctl(2))."""

    def preexec() -> None:
        if _PRCTL is not None:
            _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
            if os.getppid() != parent_pid:  # the parent died before prctl took effect
                os._exit(1)

    return preexec


def _free_port_pair() -> int:
    """A loopback port P with P+1 also free right now (swtpm's data and control channels).

    Another process may take them before swtpm binds; :meth:`Swtpm.start` retries then.
    """
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as first:
            first.bind((_HOST, 0))
            port = int(first.getsockname()[1])
            if port >= 65535:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as second:
                try:
                    second.bind((_HOST, port + 1))
                except OSError:
                    continue
            return port
    raise TpmError("no free pair of loopback TCP ports for the embedded TPM")


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed mid-response")
        data += chunk
    return data


def _ctrl(port: int, command: int, answer_size: int = 4, timeout: float = 5.0) -> bytes:
    with socket.create_connection((_HOST, port), timeout=timeout) as sock:
        sock.sendall(struct.pack(">I", command))
        return _recv_exact(sock, answer_size)


def tpm_command_rc(port: int, command_code: int, startup_type: int, timeout: float = 10.0) -> int:
    """Send TPM2_Startup or TPM2_Shutdown (Part 3 §9.3, §9.4) and return the response code."""
    command = struct.pack(">HIIH", _ST_NO_SESSIONS, 12, command_code, startup_type)
    with socket.create_connection((_HOST, port), timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(command)
        _tag, size, rc = struct.unpack(">HII", _recv_exact(sock, 10))
        if size > 10:
            _recv_exact(sock, size - 10)
        return int(rc)


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, which holds no lock and no port, counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _base_rc(rc: int) -> int:
    """Strip a format-one response code's handle/parameter/session number (Part 2 §6.6)."""
    return 0x080 + (rc & 0x3F) if rc & 0x080 else rc


class Swtpm:
    """A private swtpm on loopback, started with the TPM ready for commands.

    ``with Swtpm() as tpm: ... tpm.tcti`` — or :meth:`start` and :meth:`stop` (alias
    :meth:`close`). Not thread-safe. Start it from a thread that outlives it: on Linux the
    kernel stops swtpm when the *thread* that started it exits.
    """

    def __init__(
        self,
        state_dir: Path | str | None = None,
        *,
        startup: bool = True,
        timeout: float = 10.0,
        binary: str = "swtpm",
    ) -> None:
        """``state_dir`` holds the TPM's NV state (default: ``tpmcard.paths.state_dir()/swtpm``).
        ``startup=False`` leaves TPM2_Startup to the client (for testing that path)."""
        self.state_dir = Path(state_dir) if state_dir else tpmcard_state_dir() / "swtpm"
        self.state_dir = self.state_dir.expanduser().resolve()
        self._startup = startup
        self._timeout = timeout
        self._binary = binary
        self._proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        #: True when the last start resumed saved state (Startup(STATE)), False after a
        #: Startup(CLEAR), None before the first start or with ``startup=False``.
        self.resumed: bool | None = None

    # -- properties ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def ctrl_port(self) -> int | None:
        return self.port + 1 if self.port is not None else None

    @property
    def tcti(self) -> str:
        """The TCTI string for tpm2-tools (``TPM2TOOLS_TCTI``) and tpm2-pytss."""
        if self.port is None:
            raise TpmError("the embedded TPM is not running")
        return f"swtpm:host={_HOST},port={self.port}"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "swtpm.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "swtpm.log"

    # -- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> Swtpm:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> Swtpm:
        """Start swtpm and TPM2_Startup (STATE if saved state exists, else CLEAR)."""
        if self.running:
            return self
        binary = shutil.which(self._binary)
        if binary is None:
            raise TpmError(f"the embedded TPM needs swtpm, which is not installed: {INSTALL_HINT}")
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._stop_orphan()
        if not (self.state_dir / _STATE_FILE).exists():
            self._manufacture()
        for _attempt in range(_START_ATTEMPTS):
            port = _free_port_pair()
            proc = self._spawn(binary, port)
            if self._wait_ready(proc, port):
                self._proc, self.port = proc, port
                break
        else:
            raise TpmError(
                f"swtpm could not bind loopback ports after {_START_ATTEMPTS} tries: "
                f"{self._log_tail()}"
            )
        _running.add(self)
        try:
            if self._startup:
                self.resumed = self._tpm_startup()
        except BaseException:
            self.stop()
            raise
        log.debug("embedded TPM pid %s on %s (resumed=%s)", proc.pid, self.tcti, self.resumed)
        return self

    def stop(self) -> None:
        """Save state (TPM2_Shutdown(STATE)), stop swtpm, wait; kill only as a last resort."""
        proc, port = self._proc, self.port
        if proc is None or port is None:
            return
        try:
            if proc.poll() is None:
                self._graceful_shutdown(port)
                try:
                    proc.wait(timeout=self._timeout)
                except subprocess.TimeoutExpired:
                    log.warning("swtpm pid %s ignored the shutdown request; terminating", proc.pid)
                    proc.terminate()
                    try:
                        proc.wait(timeout=2)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
        finally:
            self._proc = None
            self.port = None
            _running.discard(self)
            self.pid_file.unlink(missing_ok=True)

    close = stop

    def reset(self) -> None:
        """Wipe the TPM state: new seeds, no keys, PCRs zero. Restarts swtpm if it was running.

        Every key blob created on this TPM becomes unusable.
        """
        was_running = self.running
        self.stop()
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._state_lock():
            for path in self.state_dir.glob("tpm2-*"):
                path.unlink()
        self.resumed = None
        if was_running:
            self.start()

    @property
    def localca_dir(self) -> Path:
        """The private local CA that issued this TPM's EK certificate (see the module text)."""
        return self.state_dir / LOCALCA_DIR

    @property
    def ek_root_certificates(self) -> list[Path]:
        """The local CA's root and issuer certificates (PEM): this TPM's EK roots."""
        return [
            self.localca_dir / "swtpm-localca-rootca-cert.pem",
            self.localca_dir / "issuercert.pem",
        ]

    # -- internals ------------------------------------------------------------------------------

    def _manufacture(self) -> None:
        """swtpm_setup: EK, EK certificate and platform certificate in NV, from our local CA."""
        setup = shutil.which("swtpm_setup")
        localca = shutil.which("swtpm_localca") or "/usr/share/swtpm/swtpm-localca"
        if setup is None:
            raise TpmError(
                f"the embedded TPM needs swtpm_setup (swtpm-tools), which is not installed: "
                f"{INSTALL_HINT}"
            )
        if shutil.which("certtool") is None:
            raise TpmError(
                "the embedded TPM's EK certificate needs certtool (Debian/Ubuntu: sudo apt "
                "install gnutls-bin)"
            )
        ca = self.localca_dir
        ca.mkdir(parents=True, exist_ok=True, mode=0o700)
        files = {
            "swtpm-localca.conf": (
                f"statedir = {ca}\n"
                f"signingkey = {ca}/signkey.pem\n"
                f"issuercert = {ca}/issuercert.pem\n"
                f"certserial = {ca}/certserial\n"
            ),
            "swtpm-localca.options": (
                "--platform-manufacturer tpmcard\n--platform-version 2.1\n--platform-model swtpm\n"
            ),
            "swtpm_setup.conf": (
                f"create_certs_tool = {localca}\n"
                f"create_certs_tool_config = {ca}/swtpm-localca.conf\n"
                f"create_certs_tool_options = {ca}/swtpm-localca.options\n"
                f"active_pcr_banks = {_PCR_BANKS}\n"
            ),
        }
        for name, text in files.items():
            (ca / name).write_text(text)
        command = [
            setup,
            "--tpm2",
            "--tpmstate",
            str(self.state_dir),
            "--config",
            str(ca / "swtpm_setup.conf"),
            "--create-ek-cert",
            "--create-platform-cert",
            "--not-overwrite",
            "--logfile",
            str(self.state_dir / "swtpm_setup.log"),
        ]
        env = dict(os.environ, XDG_CONFIG_HOME=str(ca))  # never read the user's swtpm config
        result = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            timeout=120,
            check=False,
        )
        if result.returncode != 0 or not (self.state_dir / _STATE_FILE).exists():
            for path in self.state_dir.glob("tpm2-*"):
                path.unlink()
            raise TpmError(
                f"swtpm_setup could not manufacture the embedded TPM (status "
                f"{result.returncode}): {result.stdout.decode(errors='replace').strip()[-400:]} "
                f"(log: {self.state_dir / 'swtpm_setup.log'})"
            )

    def _spawn(self, binary: str, port: int) -> subprocess.Popen[bytes]:
        command = [
            binary,
            "socket",
            "--tpm2",
            "--tpmstate",
            f"dir={self.state_dir},mode=0600",
            "--server",
            f"type=tcp,port={port},bindaddr={_HOST}",
            "--ctrl",
            f"type=tcp,port={port + 1},bindaddr={_HOST}",
            "--flags",
            "not-need-init",
            "--pid",
            f"file={self.pid_file}",
        ]
        fd = os.open(self.log_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(fd, "wb") as log_out:
            return subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log_out,
                stderr=subprocess.STDOUT,
                close_fds=True,
                start_new_session=True,
                preexec_fn=_die_with_parent(os.getpid()),
            )

    def _wait_ready(self, proc: subprocess.Popen[bytes], port: int) -> bool:
        """True once both channels answer; False if the ports were taken (caller retries)."""
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = self._log_tail()
                if "already in use" in tail or "Could not open" in tail:
                    return False
                if "lock" in tail.lower():
                    raise TpmError(
                        f"the embedded TPM state in {self.state_dir} is in use by another "
                        f"tpmcard process; close it, or share one TPM through TPMCARD_TCTI"
                    )
                raise TpmError(f"swtpm exited with status {proc.returncode}: {tail}")
            try:
                _ctrl(port + 1, _CTRL_GET_CAPABILITY, answer_size=8, timeout=0.5)
                with socket.create_connection((_HOST, port), timeout=0.5):
                    pass
                return True
            except OSError:
                time.sleep(0.01)
        proc.kill()
        proc.wait()
        raise TpmError(f"swtpm did not become ready within {self._timeout:g} s: {self._log_tail()}")

    def _tpm_startup(self) -> bool:
        assert self.port is not None
        rc = tpm_command_rc(self.port, _CC_STARTUP, _SU_STATE)
        if rc == _RC_SUCCESS:
            return True
        if _base_rc(rc) != _RC_VALUE:  # anything but "no saved state to resume"
            raise TpmError(f"the embedded TPM refused TPM2_Startup(STATE) (rc=0x{rc:x})", rc=rc)
        rc = tpm_command_rc(self.port, _CC_STARTUP, _SU_CLEAR)
        if rc not in (_RC_SUCCESS, _RC_INITIALIZE):
            raise TpmError(f"the embedded TPM refused TPM2_Startup(CLEAR) (rc=0x{rc:x})", rc=rc)
        return False

    def _graceful_shutdown(self, port: int) -> None:
        try:
            rc = tpm_command_rc(port, _CC_SHUTDOWN, _SU_STATE)
            if rc not in (_RC_SUCCESS, _RC_INITIALIZE):  # INITIALIZE: never started, no state
                log.warning("TPM2_Shutdown(STATE) failed (rc=0x%x); PCRs will not persist", rc)
        except OSError as exc:
            log.warning("could not send TPM2_Shutdown(STATE): %s; PCRs will not persist", exc)
        try:
            _ctrl(port + 1, _CTRL_SHUTDOWN)
        except OSError as exc:
            log.debug("swtpm control channel: %s", exc)

    def _stop_orphan(self) -> None:
        """Stop a swtpm on our state dir whose parent died (pid file from an earlier run)."""
        try:
            pid = int(self.pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            stat = Path(f"/proc/{pid}/stat").read_text()
        except (OSError, ValueError):
            return
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        ours = f"dir={self.state_dir},".encode()
        if not cmdline or not cmdline[0].endswith(b"swtpm") or ppid != 1:
            return
        if not any(arg.startswith(ours) for arg in cmdline):
            return
        log.warning("stopping orphaned embedded TPM (pid %s)", pid)
        ports = [
            int(arg.split(b"port=")[1].split(b",")[0])
            for arg in cmdline
            if arg.startswith(b"type=tcp,port=")
        ]
        if ports:
            self._graceful_shutdown(min(ports))
        for _ in range(200):
            if not _alive(pid):
                return
            time.sleep(0.01)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)

    @contextlib.contextmanager
    def _state_lock(self) -> Iterator[None]:
        """Hold the lock swtpm itself takes on its state dir (an fcntl write lock on .lock)."""
        with open(self.state_dir / ".lock", "a+b") as lock:
            try:
                fcntl.lockf(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EACCES, errno.EAGAIN):
                    raise TpmError(
                        f"the embedded TPM state in {self.state_dir} is in use by another "
                        "tpmcard process; close it first"
                    ) from None
                raise
            try:
                yield
            finally:
                fcntl.lockf(lock, fcntl.LOCK_UN)

    def _log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_file.read_text(errors="replace").strip()
        except OSError:
            return "(no log)"
        return " | ".join(text.splitlines()[-lines:]) or "(empty log)"
