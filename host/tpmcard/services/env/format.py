"""The portable-environment image format (docs/portable-environment.md, "Format").

```
image   = magic "TPMCENV1" || u32 len || content JSON || u32 len || binding JSON
          || trailer: u64 size || 32 content hash || chunk*
chunk   = AES-256-GCM(file key, nonce, plaintext, aad) (ciphertext || 16-byte tag)
nonce   = prefix 7 || u32 index || u8 final (01 on the last chunk, else 00)
aad     = SHA-256(magic || content part)            (every chunk but the last)
        | that || trailer                           (the last chunk)
file key || prefix = HKDF-SHA-256(content key, salt, "tpmcard env v1 chunks", 39)
```

The nonce carries the index and the final flag, so a reordered, dropped, duplicated or appended
chunk, or a stream cut at a chunk boundary, fails its tag (the STREAM construction of Hoang,
Reyhanitabar, Rogaway and Vizár, *Online authenticated-encryption and its nonce-reuse
misuse-resistance*, §7). The content part (policy, chunk size, salt) is under every tag; the
trailer (plaintext size and BLAKE3 hash, known only at the end of packing) under the last one;
the binding part (card id, sealed content key) under none, so that a move to another card can
replace it: the card's MAC protects the sealed key, and a wrong key fails the first tag.

Memory stays flat: two chunk buffers on packing, one chunk on launching.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any

import blake3
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tpmcard.errors import TpmcardError

MAGIC = b"TPMCENV1"
FORMAT = 1
TAG_SIZE = 16
DEFAULT_CHUNK_SIZE = 1 << 20
MIN_CHUNK_SIZE = 1 << 12
MAX_CHUNK_SIZE = 1 << 24
MAX_CHUNKS = 1 << 32
KEY_SIZE = 32
SALT_SIZE = 32
PREFIX_SIZE = 7
TRAILER = struct.Struct(">Q32s")
MAX_JSON = 1 << 16
KINDS = ("file", "tar")

#: PCR 9 of the mobile TPM is extended with the image digest at launch.
IMAGE_PCR = 9
#: Host PCR 8 holds the launcher's measurement.
LAUNCHER_PCR = 8


class EnvError(TpmcardError):
    """Base of the portable environment's errors; ``reason`` is a stable code."""

    reason = "environment"

    def __init__(self, message: str, reason: str | None = None) -> None:
        if reason is not None:
            self.reason = reason
        super().__init__(message)


class ImageFormatError(EnvError):
    """Not an image of this format, or a malformed header."""

    reason = "format"


class ImageIntegrityError(EnvError):
    """A chunk failed authentication: tampered, truncated, extended or reordered, or the key
    does not belong to this image. ``chunk`` is the index where it was found."""

    reason = "integrity"

    def __init__(self, message: str, chunk: int) -> None:
        self.chunk = chunk
        super().__init__(message)


def image_digest(size: int, content_hash: bytes) -> bytes:
    """What PCR 9 is extended with: SHA-256 of the image's identity (docs, "Measurements")."""
    return hashlib.sha256(
        b"tpmcard env image v1\0" + struct.pack(">Q", size) + content_hash
    ).digest()


def extend(value: bytes, digest: bytes) -> bytes:
    """PCR extend, SHA-256 bank (TPM 2.0 Part 3 §22.2)."""
    return hashlib.sha256(value + digest).digest()


@dataclass
class Header:
    """The image header. ``content`` is authenticated by every chunk; ``binding`` (card id,
    sealed key) by the card; ``size``/``content_hash`` by the last chunk."""

    content: dict[str, Any]
    binding: dict[str, Any]
    size: int = 0
    content_hash: bytes = bytes(32)
    #: Bytes of the header on disk (set by :meth:`read` and :meth:`write`).
    length: int = field(default=0, compare=False)

    # -- fields ------------------------------------------------------------------------------

    @property
    def kind(self) -> str:
        return str(self.content["kind"])

    @property
    def chunk_size(self) -> int:
        return int(self.content["chunk_size"])

    @property
    def salt(self) -> bytes:
        return bytes.fromhex(self.content["salt"])

    @property
    def policy(self) -> dict[str, Any]:
        return dict(self.content["policy"])

    @property
    def card_id(self) -> bytes:
        return bytes.fromhex(self.binding["card_id"])

    @property
    def sealed_key(self) -> bytes:
        return bytes.fromhex(self.binding["sealed_key"])

    @property
    def digest(self) -> bytes:
        return image_digest(self.size, self.content_hash)

    # -- encoding ----------------------------------------------------------------------------

    @staticmethod
    def _json(value: dict[str, Any]) -> bytes:
        return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()

    def content_bytes(self) -> bytes:
        return self._json(self.content)

    def aad(self) -> bytes:
        data = self.content_bytes()
        return hashlib.sha256(MAGIC + struct.pack(">I", len(data)) + data).digest()

    def trailer(self) -> bytes:
        return TRAILER.pack(self.size, self.content_hash)

    def encode(self) -> bytes:
        content, binding = self.content_bytes(), self._json(self.binding)
        return (
            MAGIC
            + struct.pack(">I", len(content))
            + content
            + struct.pack(">I", len(binding))
            + binding
            + self.trailer()
        )

    def write(self, stream: IO[bytes]) -> None:
        data = self.encode()
        self.length = len(data)
        stream.write(data)

    @classmethod
    def read(cls, stream: IO[bytes]) -> Header:
        def exact(n: int, what: str) -> bytes:
            data = stream.read(n)
            if len(data) != n:
                raise ImageFormatError(f"the image ends inside its header ({what})")
            return data

        if exact(len(MAGIC), "magic") != MAGIC:
            raise ImageFormatError("not a tpmcard environment image (made by `tpmcard env pack`)")
        parts = []
        for what in ("content", "binding"):
            (length,) = struct.unpack(">I", exact(4, what))
            if length > MAX_JSON:
                raise ImageFormatError(f"the header's {what} part is too long")
            try:
                value = json.loads(exact(length, what))
            except ValueError:
                raise ImageFormatError(f"the header's {what} part is not JSON") from None
            if not isinstance(value, dict):
                raise ImageFormatError(f"the header's {what} part is not an object")
            parts.append(value)
        size, content_hash = TRAILER.unpack(exact(TRAILER.size, "trailer"))
        header = cls(parts[0], parts[1], size, content_hash)
        header.length = len(header.encode())
        header.check()
        return header

    def check(self) -> None:
        try:
            if self.content.get("format") != FORMAT:
                raise ImageFormatError(f"image format {self.content.get('format')!r} unknown")
            if self.kind not in KINDS:
                raise ImageFormatError(f"unknown content kind {self.kind!r}")
            if not MIN_CHUNK_SIZE <= self.chunk_size <= MAX_CHUNK_SIZE:
                raise ImageFormatError(f"chunk size {self.chunk_size} out of range")
            if len(self.salt) != SALT_SIZE:
                raise ImageFormatError("the salt is not 32 bytes")
            self.card_id, self.sealed_key, self.policy  # noqa: B018 - parse them now
        except (KeyError, TypeError, ValueError) as exc:
            raise ImageFormatError(f"malformed header: {exc!r}") from None


def new_content(kind: str, policy: dict[str, Any], chunk_size: int) -> dict[str, Any]:
    if kind not in KINDS:
        raise ValueError(f"kind is one of {KINDS}")
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise ValueError(f"chunk size {MIN_CHUNK_SIZE}..{MAX_CHUNK_SIZE}")
    return {
        "format": FORMAT,
        "kind": kind,
        "chunk_size": chunk_size,
        "salt": os.urandom(SALT_SIZE).hex(),
        "policy": policy,
    }


class ChunkCipher:
    """AES-256-GCM over one image's chunks (the key schedule made once)."""

    def __init__(self, content_key: bytes | bytearray, header: Header) -> None:
        if len(content_key) != KEY_SIZE:
            raise ValueError("the content key is 32 bytes")
        material = HKDF(
            algorithm=hashes.SHA256(),
            length=KEY_SIZE + PREFIX_SIZE,
            salt=header.salt,
            info=b"tpmcard env v1 chunks",
        ).derive(bytes(content_key))
        self._aead = AESGCM(material[:KEY_SIZE])
        self._prefix = material[KEY_SIZE:]
        self._aad = header.aad()

    def nonce(self, index: int, final: bool) -> bytes:
        if not 0 <= index < MAX_CHUNKS:
            raise ValueError("too many chunks")
        return self._prefix + struct.pack(">IB", index, 1 if final else 0)

    def aad(self, header: Header, final: bool) -> bytes:
        return self._aad + header.trailer() if final else self._aad

    def seal(self, index: int, final: bool, data: Any, aad: bytes) -> bytes:
        return self._aead.encrypt(self.nonce(index, final), data, aad)

    def open(self, index: int, final: bool, data: bytes, aad: bytes) -> bytes:
        try:
            return self._aead.decrypt(self.nonce(index, final), data, aad)
        except InvalidTag:
            where = "last chunk" if final else f"chunk {index}"
            raise ImageIntegrityError(
                f"the image is damaged or was altered ({where} fails authentication: "
                "tampered, truncated, extended or reordered); nothing was launched",
                index,
            ) from None


Progress = Callable[[int], None]


def _read_full(stream: IO[bytes], view: memoryview) -> int:
    """Fill ``view`` (short only at the end of the stream)."""
    got = 0
    while got < len(view):
        n = stream.readinto(view[got:])  # type: ignore[attr-defined]
        if not n:
            break
        got += n
    return got


def encrypt_stream(
    source: IO[bytes],
    out: IO[bytes],
    header: Header,
    content_key: bytes | bytearray,
    progress: Progress | None = None,
) -> Header:
    """Write ``header`` and the chunks of ``source`` to ``out`` (seekable: the trailer is written
    once the size and hash are known). The hash runs in a second thread, beside the cipher
    (BLAKE3 and AES-GCM both release the GIL)."""
    start = out.tell()
    header.size, header.content_hash = 0, bytes(32)
    header.write(out)
    cipher = ChunkCipher(content_key, header)
    size = header.chunk_size
    buffers = [bytearray(size), bytearray(size)]
    hasher = blake3.blake3()
    total = 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tpmcard-env-hash") as pool:
        current = memoryview(buffers[0])
        length = _read_full(source, current)
        pending: Future[object] | None = pool.submit(hasher.update, current[:length])
        index = 0
        while True:
            following = memoryview(buffers[(index + 1) % 2])
            next_length = _read_full(source, following) if length == size else 0
            final = next_length == 0
            chunk = current[:length]
            total += length
            if final:
                assert pending is not None
                pending.result()
                header.size, header.content_hash = total, hasher.digest()
                out.write(cipher.seal(index, True, chunk, cipher.aad(header, True)))
            else:
                out.write(cipher.seal(index, False, chunk, cipher.aad(header, False)))
                assert pending is not None
                pending.result()
                pending = pool.submit(hasher.update, following[:next_length])
            if progress is not None:
                progress(length)
            if final:
                break
            index += 1
            current, length = following, next_length
    end = out.tell()
    out.seek(start + header.length - TRAILER.size)
    out.write(header.trailer())
    out.seek(end)
    return header


def decrypt_chunks(
    image: IO[bytes], header: Header, content_key: bytes | bytearray
) -> Iterator[bytes]:
    """The plaintext chunks of ``image`` (positioned after the header), each authenticated
    before it is yielded; raises :class:`ImageIntegrityError` at the first bad chunk (also a
    stream that ends early, goes on after its last chunk, or whose size disagrees)."""
    cipher = ChunkCipher(content_key, header)
    step = header.chunk_size + TAG_SIZE
    plain_aad, final_aad = cipher.aad(header, False), cipher.aad(header, True)
    current = image.read(step)
    index = 0
    total = 0
    while True:
        following = image.read(step) if len(current) == step else b""
        final = not following
        if len(current) < TAG_SIZE:
            raise ImageIntegrityError(
                "the image is truncated (a chunk is shorter than its tag); nothing was launched",
                index,
            )
        plain = cipher.open(index, final, current, final_aad if final else plain_aad)
        total += len(plain)
        if final and total != header.size:  # cannot happen with an intact trailer
            raise ImageIntegrityError("the image size does not match its header", index)
        yield plain
        if final:
            return
        index += 1
        current = following
