"""Closure images (docs/closures.md "Image format"): the 32-byte header, plain images (what the
assembler and the builder make, optionally signed by an authority) and what the host can read of
a sealed image (its header, in clear under the card's MAC)."""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass, replace

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from tpmcard.ecpoint import point_bytes
from tpmcard.errors import TpmcardError
from tpmcard.services.closures import constants as C

_HEADER = struct.Struct(">8sHBBHBBHHHH8s")
assert _HEADER.size == C.HEADER_LENGTH
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,8}$")
_BLOCK = 16
_MAC = 16


class ClosureFormatError(TpmcardError, ValueError):
    """A closure image, header field or assembler source the card would refuse (or that is no
    image at all); the message says which field and why."""


@dataclass(frozen=True)
class Header:
    """The image header; defaults are the assembler's."""

    name: str
    version: int = 0
    flags: int = 0
    stack: int = 16
    memory: int = 64
    output: int = 32
    store: int = 0
    steps: int = 1000
    code_length: int = 0
    author: bytes = bytes(C.AUTHOR_LENGTH)

    @property
    def signed(self) -> bool:
        return bool(self.flags & C.FLAG_SIGNED)

    def check(self) -> None:
        """The card's rules (6A80 on the card), raised here as ClosureFormatError."""
        rules = [
            (_NAME.match(self.name) is not None, "name: 1..8 of [A-Za-z0-9_.-]"),
            (0 <= self.version <= 0xFFFF, "version: 0..65535"),
            (self.flags & ~C.FLAG_SIGNED == 0, "flags: only FLAG_SIGNED"),
            (1 <= self.stack <= C.MAX_STACK, f"stack: 1..{C.MAX_STACK}"),
            (0 <= self.memory <= C.MAX_MEMORY, f"memory: 0..{C.MAX_MEMORY}"),
            (0 <= self.output <= C.MAX_OUTPUT, f"output: 0..{C.MAX_OUTPUT}"),
            (0 <= self.store <= C.MAX_STORE, f"store: 0..{C.MAX_STORE}"),
            (1 <= self.steps <= C.MAX_STEPS, f"steps: 1..{C.MAX_STEPS}"),
            (1 <= self.code_length <= C.MAX_CODE, f"code: 1..{C.MAX_CODE} bytes"),
            (len(self.author) == C.AUTHOR_LENGTH, "author: 8 bytes"),
        ]
        for ok, rule in rules:
            if not ok:
                raise ClosureFormatError(f"closure header {self.name!r}: {rule}")

    def encode(self) -> bytes:
        self.check()
        return _HEADER.pack(
            self.name.encode("ascii").ljust(C.NAME_LENGTH, b"\0"),
            self.version,
            self.flags,
            self.stack,
            self.memory,
            self.output,
            0,
            self.store,
            self.steps,
            self.code_length,
            0,
            self.author,
        )

    @classmethod
    def decode(cls, data: bytes) -> Header:
        if len(data) < C.HEADER_LENGTH:
            raise ClosureFormatError(f"a closure header is {C.HEADER_LENGTH} bytes")
        name, version, flags, stack, memory, output, r1, store, steps, code, r2, author = (
            _HEADER.unpack(bytes(data[: C.HEADER_LENGTH]))
        )
        raw = name.rstrip(b"\0")
        if r1 or r2 or b"\0" in raw:
            raise ClosureFormatError("closure header: reserved bytes or a broken name")
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            raise ClosureFormatError("closure header: the name is not ASCII") from None
        header = cls(text, version, flags, stack, memory, output, store, steps, code, author)
        header.check()
        return header


def author_hash(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """SHA-256(04 || x || y)[0..8): the header's author field for this authority."""
    return hashlib.sha256(point_bytes(public_key)).digest()[: C.AUTHOR_LENGTH]


@dataclass(frozen=True)
class PlainImage:
    """header || code || [signature]: what SEAL CLOSURE takes."""

    header: Header
    code: bytes
    signature: bytes = b""

    def __post_init__(self) -> None:
        if self.header.code_length != len(self.code):
            raise ClosureFormatError("closure header: code length differs from the code")
        if bool(self.signature) != self.header.signed:
            raise ClosureFormatError(
                "closure image: a signature goes with FLAG_SIGNED, and only then"
            )

    @property
    def signed_part(self) -> bytes:
        return self.header.encode() + self.code

    def encode(self) -> bytes:
        return self.signed_part + self.signature

    @property
    def image_id(self) -> bytes:
        """SHA-256(header || code)[0..8): what LIST shows, what an authority signs the hash of."""
        return hashlib.sha256(self.signed_part).digest()[: C.IMAGE_ID_LENGTH]

    def sign(self, authority: ec.EllipticCurvePrivateKey) -> PlainImage:
        """The same image signed by ``authority`` (ECDSA P-256 SHA-256 over header || code)."""
        header = replace(
            self.header, flags=C.FLAG_SIGNED, author=author_hash(authority.public_key())
        )
        signature = authority.sign(header.encode() + self.code, ec.ECDSA(hashes.SHA256()))
        return PlainImage(header, self.code, signature)

    @classmethod
    def decode(cls, data: bytes) -> PlainImage:
        header = Header.decode(data)
        end = C.HEADER_LENGTH + header.code_length
        if len(data) < end:
            raise ClosureFormatError("closure image: shorter than its header's code length")
        return cls(header, bytes(data[C.HEADER_LENGTH : end]), bytes(data[end:]))


def sealed_length(code_length: int) -> int:
    padded = (code_length + _BLOCK - 1) // _BLOCK * _BLOCK
    return C.SEALED_PREFIX + padded + _MAC


def is_sealed(data: bytes) -> bool:
    """A sealed image starts with its version (01), a plain one with a name character."""
    return len(data) > C.SEALED_PREFIX and data[0] == C.IMAGE_VERSION


def sealed_header(data: bytes) -> Header:
    """The header of a sealed image (in clear, authenticated only by the card)."""
    if not is_sealed(data):
        raise ClosureFormatError("not a sealed closure image (version 01)")
    header = Header.decode(data[C.S_HEADER : C.S_HEADER + C.HEADER_LENGTH])
    if len(data) != sealed_length(header.code_length):
        raise ClosureFormatError("sealed closure image: length differs from its header's")
    return header


def read_image(data: bytes) -> PlainImage | bytes:
    """A file's bytes: a PlainImage, or the sealed image's bytes (checked for shape)."""
    if is_sealed(data):
        sealed_header(data)
        return bytes(data)
    return PlainImage.decode(data)


@dataclass(frozen=True)
class ClosureInfo:
    """One LIST entry."""

    name: str
    version: int
    signed: bool
    trusted: bool
    store_quota: int
    store_used: int
    code_length: int
    image_id: bytes

    @classmethod
    def decode(cls, entry: bytes) -> ClosureInfo:
        name, version, flags, trusted, quota, used, code, image_id = struct.unpack(
            ">8sHBBHHH8s", entry
        )
        return cls(
            name.rstrip(b"\0").decode("ascii", "replace"),
            version,
            bool(flags & C.FLAG_SIGNED),
            bool(trusted),
            quota,
            used,
            code,
            image_id,
        )

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "version": self.version,
            "signed": self.signed,
            "trusted": self.trusted,
            "store_quota": self.store_quota,
            "store_used": self.store_used,
            "code_length": self.code_length,
            "image_id": self.image_id.hex(),
        }
