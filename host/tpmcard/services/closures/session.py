"""``session.closures``: seal, load, list, run and remove closures on the card's mobile TPM
(docs/closures.md "Commands"). Images larger than the service window go through the mobile
TPM's staging (:meth:`MtpmSession.command`)."""

from __future__ import annotations

import struct

from cryptography.hazmat.primitives.asymmetric import ec

from tpmcard.ecpoint import point_bytes
from tpmcard.services.closures import constants as C
from tpmcard.services.closures.assembler import assemble
from tpmcard.services.closures.image import (
    ClosureFormatError,
    ClosureInfo,
    PlainImage,
    is_sealed,
    sealed_length,
)
from tpmcard.services.mtpm import MtpmError, MtpmSession
from tpmcard.services.mtpm_constants import MAX_AUTH, PCR_SLOT_LENGTH

#: The status words of a run (docs/closures.md "Status words of a run"): stable names.
VIOLATIONS: dict[int, tuple[str, str]] = {
    C.SW_CLOSURE_STEPS: ("steps", "the closure reached its step limit"),
    C.SW_CLOSURE_STACK: ("stack", "the closure's stack over- or underflowed"),
    C.SW_CLOSURE_MEMORY: ("memory", "the closure addressed memory outside its own"),
    C.SW_CLOSURE_CODE: ("code", "the closure's code is broken (opcode, jump, end)"),
    C.SW_CLOSURE_OUTPUT: ("output", "the closure wrote past its output size"),
    C.SW_CLOSURE_STORE: ("store", "the closure reached outside its store (or has none)"),
    C.SW_CLOSURE_ARITHMETIC: ("arithmetic", "the closure divided by zero"),
    C.SW_CLOSURE_OPERAND: ("operand", "the closure gave an instruction a bad operand"),
    C.SW_CLOSURE_NO_ROOM: ("no_room", "the closure's stack, memory and output exceed the window"),
    C.SW_CLOSURE_UNAVAILABLE: ("unavailable", "the closure used an instruction this card lacks"),
    C.SW_CLOSURE_ORDER: ("order", "the closure used a count-limited key after a store write"),
    C.SW_UNTRUSTED_AUTHORITY: (
        "untrusted_authority",
        "the image is not signed by the authority registered on the card "
        "(`tpmcard closure authority set`)",
    ),
}


class ClosureError(MtpmError):
    """The card refused a closure command or stopped a closure. ``violation`` names a 66xx stop
    (``steps``, ``stack``, ``memory``, ...), ``fail_code`` is xx of a FAIL (64xx); other SWs
    keep MtpmError's ``reason`` (``invalid_object`` for an altered image, ``not_found`` for another
    card's image or an unknown name, ...). The store writes of a stopped closure rolled back."""

    def __init__(self, sw: int, data: bytes = b"") -> None:
        super().__init__(sw, data)
        self.violation: str | None = None
        self.fail_code: int | None = None
        if sw & 0xFF00 == C.SW_CLOSURE_FAILED:
            self.fail_code = sw & 0xFF
            self.reason = "failed"
            self.args = (f"closure: the closure failed with code {self.fail_code} (SW={sw:04X})",)
        elif sw in VIOLATIONS:
            self.reason, text = VIOLATIONS[sw]
            self.violation = self.reason if sw != C.SW_UNTRUSTED_AUTHORITY else None
            self.args = (f"closure: {text} (SW={sw:04X})",)

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else super().__str__()


def _name(name: str) -> bytes:
    raw = name.encode("ascii", "replace")
    if not 1 <= len(raw) <= C.NAME_LENGTH:
        raise ClosureFormatError(f"a closure name has 1..{C.NAME_LENGTH} characters")
    return raw.ljust(C.NAME_LENGTH, b"\0")


def _auth(value: bytes) -> bytes:
    if len(value) > MAX_AUTH:
        raise ValueError(f"owner auth values are at most {MAX_AUTH} bytes")
    return bytes([len(value)]) + value


class ClosuresSession:
    """The closures of one card, over its :class:`MtpmSession`."""

    def __init__(self, mtpm: MtpmSession) -> None:
        self.mtpm = mtpm

    def _command(
        self, ins: int, p1: int = 0, data: bytes = b"", *, answer: int = 0, host_pcrs: bool = False
    ) -> bytes:
        try:
            return self.mtpm.command(ins, p1, 0, data, answer=answer, host_pcrs=host_pcrs)
        except MtpmError as exc:
            raise ClosureError(exc.sw, exc.data) from None

    @staticmethod
    def build(source: str) -> PlainImage:
        """The plain image of assembler ``source`` (host only; docs/closures.md "Host")."""
        return assemble(source)

    def seal(self, image: PlainImage | bytes) -> bytes:
        """The sealed image of a plain image (bytes or PlainImage), for this card only."""
        plain = image if isinstance(image, PlainImage) else PlainImage.decode(image)
        return self._command(
            C.INS_CLOSURE_SEAL, data=plain.encode(), answer=sealed_length(len(plain.code))
        )

    def _sealed(self, image: PlainImage | bytes) -> bytes:
        """A sealed image's bytes go to the card as they are (the card is the judge of them);
        a plain image is sealed first."""
        if isinstance(image, PlainImage):
            return self.seal(image)
        return bytes(image) if is_sealed(image) else self.seal(PlainImage.decode(image))

    def load(self, image: PlainImage | bytes, owner_auth: bytes = b"") -> int:
        """Loads a sealed image (a plain one is sealed first) into a card slot; returns it."""
        answer = self._command(
            C.INS_CLOSURE_LOAD, data=_auth(owner_auth) + self._sealed(image), answer=1
        )
        return answer[0]

    def list(self) -> list[ClosureInfo]:
        answer = self._command(C.INS_CLOSURE_LIST, answer=C.CLOSURE_SLOTS * C.LIST_ENTRY_LENGTH)
        n = C.LIST_ENTRY_LENGTH
        if len(answer) % n:
            raise ClosureFormatError(f"CLOSURE LIST answered {len(answer)} bytes")
        return [ClosureInfo.decode(answer[i : i + n]) for i in range(0, len(answer), n)]

    def run(self, name: str, args: bytes = b"") -> bytes:
        """Runs the loaded closure ``name`` with ``args`` (copied to its memory); its output.
        Sent in one command when stack, memory and output fit the window after the command
        data; staged otherwise (the card says 6609 before any step, so nothing ran)."""
        data = _name(name) + bytes(args)
        try:
            return self._command(C.INS_CLOSURE_RUN, C.P1_RUN_BY_NAME, data, host_pcrs=True)
        except ClosureError as exc:
            if exc.sw != C.SW_CLOSURE_NO_ROOM or not self._fits_direct(data):
                raise
        return self._command(
            C.INS_CLOSURE_RUN, C.P1_RUN_BY_NAME, data, answer=self.mtpm.window, host_pcrs=True
        )

    def _fits_direct(self, data: bytes) -> bool:
        return len(data) + PCR_SLOT_LENGTH <= self.mtpm.window

    def run_image(self, image: PlainImage | bytes, args: bytes = b"") -> bytes:
        """Runs a host-held image (sealed; a plain one is sealed first) without a store."""
        args = bytes(args)
        if len(args) > 0xFF:
            raise ValueError("at most 255 bytes of args")
        data = bytes([len(args)]) + args + self._sealed(image)
        return self._command(
            C.INS_CLOSURE_RUN, C.P1_RUN_IMAGE, data, answer=self.mtpm.window, host_pcrs=True
        )

    def remove(self, name: str, owner_auth: bytes = b"") -> None:
        self._command(C.INS_CLOSURE_REMOVE, data=_auth(owner_auth) + _name(name))

    def store(self, name: str) -> tuple[int, int]:
        """(quota, used) of a loaded closure's store."""
        answer = self._command(C.INS_CLOSURE_STORE, data=_name(name), answer=4)
        quota, used = struct.unpack(">HH", answer)
        return quota, used

    def authority_set(self, key: ec.EllipticCurvePublicKey | None, owner_auth: bytes = b"") -> None:
        """Registers the authority whose signed images the card marks trusted (None: removes it).
        Needs an owned mobile TPM and its owner auth."""
        point = point_bytes(key) if key is not None else b""
        self._command(C.INS_CLOSURE_AUTHORITY_SET, data=_auth(owner_auth) + point)

    def authority_get(self) -> bytes | None:
        """The registered authority's point (04 || x || y), or None."""
        try:
            return self._command(C.INS_CLOSURE_AUTHORITY_GET, answer=C.AUTHORITY_POINT_LENGTH)
        except ClosureError as exc:
            if exc.reason == "not_found":
                return None
            raise
