"""Pack, launch and attest a portable environment (docs/portable-environment.md).

The card is reached through a secured session (``tpmcard.connect()``'s
:class:`~tpmcard.services.session.SecureCardSession`, or anything with ``mtpm``, ``host_pcrs`` and
``card_id``); the host TPM through an object with ``pcr_read`` and ``pcr_extend``
(:class:`tpmcard.tpm.adapter.Tpm`). Nothing here imports tpm2-pytss.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from tpmcard.services.env.format import (
    DEFAULT_CHUNK_SIZE,
    IMAGE_PCR,
    LAUNCHER_PCR,
    EnvError,
    Header,
    ImageFormatError,
    Progress,
    decrypt_chunks,
    encrypt_stream,
    extend,
    new_content,
)
from tpmcard.services.env.plaintext import private_tmpfs, safe_members
from tpmcard.services.mtpm import MtpmError, MtpmSession

ZERO = bytes(32)
#: Host PCRs an image may also be sealed to (the boot chain); PCR 8 always is.
HOST_PCRS = range(0, 8)
#: mTPM PCRs an image may be sealed to: the card's own, but not PCR 9 (the image's measurement,
#: extended after the unseal) nor 16 and 23 (resettable by anyone in a session).
MTPM_PCRS = tuple(i for i in range(10, 24) if i not in (16, 23))
ATTESTATION_FILE = "environment.json"
ATTESTATION_FORMAT = "tpmcard-env-attestation/1"


class WrongPinError(EnvError):
    """The card refused the PIN (the image's auth value); the mobile TPM's dictionary-attack
    guard counted the try."""

    reason = "pin"


class PinLockedError(EnvError):
    """Too many wrong PINs: the mobile TPM's dictionary-attack lockout is on."""

    reason = "locked"


class LauncherMeasurementError(EnvError):
    """Host PCR 8 does not hold the measurement of the launcher this image was packed for."""

    reason = "launcher"


class PolicyMismatchError(EnvError):
    """A host PCR 0-7 or mTPM PCR of the image's policy changed since packing."""

    reason = "policy"

    def __init__(self, message: str, pcrs: Sequence[int] = ()) -> None:
        self.pcrs = tuple(pcrs)
        super().__init__(message)


class WrongCardImageError(EnvError):
    """The image's key is sealed in another card."""

    reason = "card"


class NoOwnerError(EnvError):
    """Packing with a PIN needs an owned mobile TPM."""

    reason = "no_owner"


class HostTpm(Protocol):
    def pcr_read(self, indices: Iterable[int]) -> dict[int, bytes]: ...

    def pcr_extend(self, index: int, digest: bytes) -> None: ...


class CardSession(Protocol):
    card_id: bytes
    host_pcrs: dict[int, bytes]

    @property
    def mtpm(self) -> MtpmSession: ...


# --- the launcher's measurement -----------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def code_digest() -> bytes:
    """SHA-256 over tpmcard's own Python code: each module's path (relative to the package)
    and SHA-256, in path order. Where the package is installed does not matter."""
    root = Path(__file__).resolve().parents[2]  # the tpmcard package: services/env/ is two down
    outer = hashlib.sha256(b"tpmcard code v1\0")
    for path in sorted(root.rglob("*.py"), key=lambda p: p.relative_to(root).as_posix()):
        outer.update(path.relative_to(root).as_posix().encode() + b"\0")
        outer.update(hashlib.sha256(path.read_bytes()).digest())
    return outer.digest()


def launch_policy(host_pcrs: Iterable[int], mtpm_pcrs: Iterable[int]) -> dict[str, Any]:
    """What the launcher enforces, measured with its code."""
    return {
        "host_pcrs": sorted(set(host_pcrs)),
        "mtpm_pcrs": sorted(set(mtpm_pcrs)),
        "launcher_pcr": LAUNCHER_PCR,
        "image_pcr": IMAGE_PCR,
    }


def launcher_measurement(policy: Mapping[str, Any], code: bytes | None = None) -> bytes:
    """SHA-256("tpmcard env launcher v1" || code digest || SHA-256(launch policy JSON))."""
    public = launch_policy(policy["host_pcrs"], policy["mtpm_pcrs"])
    policy_bytes = json.dumps(public, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(
        b"tpmcard env launcher v1\0"
        + (code if code is not None else code_digest())
        + hashlib.sha256(policy_bytes).digest()
    ).digest()


def expected_pcr8(measurement: bytes) -> bytes:
    """Host PCR 8 after a reset and the launcher's one measurement."""
    return extend(ZERO, measurement)


# --- errors from the card -----------------------------------------------------------------------


def translate(exc: MtpmError, header: Header | None = None) -> EnvError:
    if exc.reason == "auth":
        return WrongPinError(
            "wrong PIN for this environment (the card counted the try; after 16 wrong PINs in "
            "a row it locks until the card owner runs `tpmcard mtpm owner da-reset`)"
        )
    if exc.reason == "blocked":
        return PinLockedError(
            "too many wrong PINs: the card's dictionary-attack lockout is on; the card owner "
            "lifts it with `tpmcard mtpm owner da-reset`"
        )
    if exc.reason == "policy":
        return PolicyMismatchError(
            "the card refused: the PCRs do not match the environment's policy (a host PCR or a "
            "mobile-TPM PCR changed since packing)"
        )
    if exc.reason == "not_found":
        return WrongCardImageError(
            "the environment's key is sealed in another card (or this card was cleared); "
            "insert the card it was packed with"
        )
    if exc.reason == "invalid_object":
        return WrongCardImageError(
            "the card refused the environment's sealed key: altered, or moved to another card"
        )
    if exc.reason == "no_owner":
        return NoOwnerError(
            "the card's mobile TPM has no owner; a PIN-protected environment needs one: "
            "`tpmcard mtpm owner take` first"
        )
    return EnvError(str(exc), "card")


# --- pack ---------------------------------------------------------------------------------------


def _check_pcrs(host_pcrs: Iterable[int], mtpm_pcrs: Iterable[int]) -> None:
    bad_host = sorted(set(host_pcrs) - set(HOST_PCRS))
    if bad_host:
        raise ValueError(f"host PCRs are 0-7 (PCR 8 is always sealed to), not {bad_host}")
    bad = sorted(set(mtpm_pcrs) - set(MTPM_PCRS))
    if bad:
        raise ValueError(
            f"mobile-TPM PCRs are 10-22 except 16 (PCR 9 is the image's measurement, 16 and 23 "
            f"are resettable), not {bad}"
        )


def seal_policy(
    session: CardSession,
    host_pcrs: Iterable[int] = (),
    mtpm_pcrs: Iterable[int] = (),
    code: bytes | None = None,
) -> tuple[dict[str, Any], dict[int, bytes]]:
    """The image's policy and the PCR values its key is sealed to: PCR 8 after this launcher's
    measurement, the chosen host PCRs 0-7 as the session's quote gave them, the chosen mobile-TPM
    PCRs as they are now."""
    host, mobile = sorted(set(host_pcrs)), sorted(set(mtpm_pcrs))
    _check_pcrs(host, mobile)
    policy = launch_policy(host, mobile)
    measurement = launcher_measurement(policy, code)
    values = {i: session.host_pcrs[i] for i in host}
    values[LAUNCHER_PCR] = expected_pcr8(measurement)
    if mobile:
        values.update(session.mtpm.pcr_read(mobile))
    policy["launcher"] = measurement.hex()
    policy["pcr_values"] = {str(i): v.hex() for i, v in sorted(values.items())}
    return policy, values


class _PipeReader(io.RawIOBase):
    """The read end of a pipe fed by a thread (the tar stream of a directory)."""

    def __init__(self, fd: int) -> None:
        self._file = open(fd, "rb", buffering=0)  # noqa: SIM115 - closed with this reader

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._file.readinto(buffer) or 0

    def close(self) -> None:
        self._file.close()
        super().close()


@contextlib.contextmanager
def _tar_stream(directory: Path) -> Iterator[IO[bytes]]:
    """A directory as a POSIX tar stream (pax), produced by a thread into a pipe."""
    read_fd, write_fd = os.pipe()
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            with (
                open(write_fd, "wb") as sink,
                tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar,
            ):
                tar.add(str(directory), arcname=".")
        except BaseException as exc:  # reported by the consumer
            failure.append(exc)

    thread = threading.Thread(target=produce, name="tpmcard-env-tar", daemon=True)
    thread.start()
    reader = _PipeReader(read_fd)
    try:
        yield reader  # type: ignore[misc]
    finally:
        reader.close()
        thread.join()
    if failure:
        raise EnvError(f"could not read {directory}: {failure[0]}", "source")


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[IO[bytes]]:
    """A new file beside ``path`` that replaces it only when the block succeeds."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with open(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def pack(
    session: CardSession,
    source: Path,
    image: Path,
    pin: bytes,
    *,
    host_pcrs: Iterable[int] = (),
    mtpm_pcrs: Iterable[int] = (),
    migratable: bool = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: Progress | None = None,
    code: bytes | None = None,
) -> Header:
    """Encrypt ``source`` (a file, or a directory as a tar stream) into ``image`` under a fresh
    content key sealed in the session's mobile TPM to the image's policy and ``pin``."""
    if not pin:
        raise ValueError("an environment needs a PIN")
    kind = "tar" if source.is_dir() else "file"
    policy, values = seal_policy(session, host_pcrs, mtpm_pcrs, code)
    key = bytearray(os.urandom(32))
    try:
        try:
            blob = session.mtpm.seal(
                bytes(key), sorted(values), pin, pcr_values=values, migratable=migratable
            )
        except MtpmError as exc:
            raise translate(exc) from None
        header = Header(
            new_content(kind, policy, chunk_size),
            {"card_id": session.card_id.hex(), "sealed_key": blob.hex()},
        )
        source_cm: contextlib.AbstractContextManager[IO[bytes]] = (
            _tar_stream(source) if kind == "tar" else open(source, "rb")  # noqa: SIM115
        )
        with source_cm as stream, atomic_output(image) as out:
            encrypt_stream(stream, out, header, key, progress)
        return header
    finally:
        key[:] = bytes(len(key))


def read_header(image: Path) -> Header:
    try:
        with open(image, "rb") as stream:
            return Header.read(stream)
    except FileNotFoundError:
        raise ImageFormatError(f"{image}: no such image") from None


# --- launch -------------------------------------------------------------------------------------


def measure_launcher(host_tpm: HostTpm, header: Header, code: bytes | None = None) -> bytes:
    """Step 1: extend host PCR 8 with the launcher's measurement, once per host boot (a PCR 8
    that already holds exactly this measurement is left alone). Returns PCR 8."""
    measurement = launcher_measurement(header.policy, code)
    current = host_tpm.pcr_read([LAUNCHER_PCR])[LAUNCHER_PCR]
    if current != expected_pcr8(measurement):
        host_tpm.pcr_extend(LAUNCHER_PCR, measurement)
        current = host_tpm.pcr_read([LAUNCHER_PCR])[LAUNCHER_PCR]
    return current


def check_policy(session: CardSession, header: Header) -> None:
    """Before the PIN: the card, PCR 8 as the card accepted it in the handshake, and the policy
    PCRs (the card checks them again at unseal; this only names what changed)."""
    if session.card_id != header.card_id:
        raise WrongCardImageError(
            f"this environment belongs to card {header.card_id.hex()}, not to the card in the "
            f"reader ({session.card_id.hex()}); insert that card (or move the environment: "
            "docs/portable-environment.md, Moving to another card)"
        )
    want = {int(i): bytes.fromhex(v) for i, v in header.policy["pcr_values"].items()}
    if session.host_pcrs.get(LAUNCHER_PCR) != want[LAUNCHER_PCR]:
        raise LauncherMeasurementError(
            "host PCR 8 does not hold the measurement of the launcher this environment was "
            "packed for: another tpmcard version or launch policy, or PCR 8 held other "
            "measurements before the launcher (it opens only on a host whose PCR 8 the "
            "launcher measures first after boot)"
        )
    host = [i for i in header.policy["host_pcrs"] if session.host_pcrs.get(i) != want[i]]
    mobile = list(header.policy["mtpm_pcrs"])
    current = session.mtpm.pcr_read(mobile) if mobile else {}
    changed = host + [i for i in mobile if current[i] != want[i]]
    if changed:
        raise PolicyMismatchError(
            f"PCRs {changed} changed since the environment was packed "
            "(host PCRs 0-7: the host's boot chain; 10-22: the mobile TPM's); it opens only in "
            "the state it was sealed to",
            changed,
        )


def unseal_key(session: CardSession, header: Header, pin: bytes) -> bytearray:
    try:
        return bytearray(session.mtpm.unseal(header.sealed_key, pin))
    except MtpmError as exc:
        raise translate(exc, header) from None


class _ChunkReader(io.RawIOBase):
    """A file-like view of authenticated plaintext chunks (for tarfile's stream mode)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._buffer:
            try:
                self._buffer = memoryview(next(self._chunks))
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._buffer))
        buffer[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n

    def drain(self) -> None:
        """Authenticate whatever tar did not read (padding, the end of the stream)."""
        for _ in self._chunks:
            pass


@dataclass
class Decrypted:
    """The decrypted environment: a memfd (``fd``) or a tmpfs directory; ``path`` is what
    ``{}`` becomes."""

    kind: str
    path: str
    fd: int | None = None
    directory: Path | None = None

    def wipe(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, 0)
            os.close(self.fd)
            self.fd = None
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def decrypt(
    image: Path,
    header: Header,
    key: bytes | bytearray,
    *,
    progress: Progress | None = None,
    tmpfs: Path | None = None,
) -> Decrypted:
    """Step 5: decrypt into memory (a memfd for a file, a private tmpfs for a directory),
    wiped again if any chunk fails."""
    result: Decrypted
    if header.kind == "file":
        fd = os.memfd_create("tpmcard-env", os.MFD_CLOEXEC)
        result = Decrypted("file", f"/proc/self/fd/{fd}", fd=fd)
    else:
        directory = private_tmpfs(tmpfs)
        result = Decrypted("tar", str(directory), directory=directory)
    try:
        with open(image, "rb") as stream:
            stream.seek(header.length)
            chunks = decrypt_chunks(stream, header, key)
            if result.fd is not None:
                for plain in chunks:
                    _write_all(result.fd, plain)
                    if progress is not None:
                        progress(len(plain))
                os.lseek(result.fd, 0, os.SEEK_SET)
            else:
                assert result.directory is not None
                reader = _ChunkReader(chunks)
                try:
                    with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[arg-type]
                        tar.extractall(  # noqa: S202 - members checked by safe_members
                            result.directory, members=safe_members(tar, directory)
                        )
                except tarfile.TarError as exc:
                    raise EnvError(f"the environment's tar stream is malformed: {exc}") from None
                reader.drain()
        return result
    except BaseException:
        result.wipe()
        raise


def substitute(command: Sequence[str], path: str) -> list[str]:
    """``{}`` in any argument becomes the decrypted environment's path."""
    if not command:
        raise ValueError("no command to run")
    return [argument.replace("{}", path) for argument in command]


def write_back(image: Path, header: Header, key: bytes | bytearray, decrypted: Decrypted) -> Header:
    """Seal the user's changes back: a new image under the same sealed key (same card, PIN and
    policy) with a fresh salt, replacing ``image`` atomically."""
    fresh = Header(new_content(header.kind, header.policy, header.chunk_size), header.binding)
    if decrypted.fd is not None:
        os.lseek(decrypted.fd, 0, os.SEEK_SET)
        source: contextlib.AbstractContextManager[IO[bytes]] = open(  # noqa: SIM115
            decrypted.fd, "rb", closefd=False
        )
    else:
        assert decrypted.directory is not None
        source = _tar_stream(decrypted.directory)
    with source as stream, atomic_output(image) as out:
        encrypt_stream(stream, out, fresh, key)
    return fresh


@dataclass
class LaunchResult:
    status: int
    header: Header
    written_back: Header | None = None


def launch(
    image: Path,
    command: Sequence[str],
    *,
    host_tpm: HostTpm,
    connect: Callable[[bytes], contextlib.AbstractContextManager[CardSession]],
    read_pin: Callable[[], bytes],
    writeback: bool = False,
    progress: Progress | None = None,
    tmpfs: Path | None = None,
    code: bytes | None = None,
    run: Callable[[list[str], Decrypted], int] | None = None,
    before_run: Callable[[], None] | None = None,
) -> LaunchResult:
    """The issue's order: measure the launcher into host PCR 8; open the bound session; PIN;
    unseal; decrypt into memory; extend mTPM PCR 9 with the image digest; run the command;
    wipe. ``connect(card_id)`` opens the session (after the measurement, so that the handshake's
    quote carries it); ``before_run`` is called just before the command starts (the CLI ends
    its progress bar there: the command may own the terminal)."""
    header = read_header(image)
    if not command:
        raise ValueError("no command to run")
    measure_launcher(host_tpm, header, code)
    key: bytearray | None = None
    decrypted: Decrypted | None = None
    try:
        with connect(header.card_id) as session:
            check_policy(session, header)
            pin = read_pin()
            key = unseal_key(session, header, pin)
            decrypted = decrypt(image, header, key, progress=progress, tmpfs=tmpfs)
            session.mtpm.extend(IMAGE_PCR, header.digest)
        if not writeback:
            key[:] = bytes(len(key))
        argv = substitute(command, decrypted.path)
        if before_run is not None:
            before_run()
        status = (run or _run)(argv, decrypted)
        written = write_back(image, header, key, decrypted) if writeback else None
        return LaunchResult(status, header, written)
    finally:
        if key is not None:
            key[:] = bytes(len(key))
        if decrypted is not None:
            decrypted.wipe()


def _run(argv: list[str], decrypted: Decrypted) -> int:
    fds = (decrypted.fd,) if decrypted.fd is not None else ()
    try:
        return subprocess.run(argv, pass_fds=fds, check=False).returncode  # noqa: S603
    except FileNotFoundError:
        raise EnvError(f"{argv[0]}: command not found", "command") from None
