"""The closure builder: a Python API that makes closure code and plain images, byte for byte what
the assembler makes from the same program (the assembler is built on it).

    b = Builder("count", memory=16, output=2, store=2)
    b.push(0).push(0).push(2).sload()          # memory[0..2) := store[0..2)
    b.push(0).push(1).add32()...
    image = b.image()

Each instruction of docs/closures.md is a method named after its mnemonic (``and_``, ``or_``,
``not_`` for Python's keywords), returning the builder; ``label(name)`` marks the next
instruction's offset; JMP/JZ/JNZ and PUSH take a label name or a number; ``data(bytes)`` emits
DATA with its inline bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from tpmcard.services.closures import constants as C
from tpmcard.services.closures.image import ClosureFormatError, Header, PlainImage

#: mnemonic -> (opcode, immediate): None, "i16" (PUSH: -32768..65535 or a label), "addr"
#: (a label or a code offset, 2 bytes), "u8" (PUSHB), "data" (length 1 + bytes).
INSTRUCTIONS: dict[str, tuple[int, str | None]] = {
    "halt": (C.OP_HALT, None),
    "fail": (C.OP_FAIL, None),
    "nop": (C.OP_NOP, None),
    "jmp": (C.OP_JMP, "addr"),
    "jz": (C.OP_JZ, "addr"),
    "jnz": (C.OP_JNZ, "addr"),
    "push": (C.OP_PUSH, "i16"),
    "pushb": (C.OP_PUSHB, "u8"),
    "pop": (C.OP_POP, None),
    "dup": (C.OP_DUP, None),
    "swap": (C.OP_SWAP, None),
    "over": (C.OP_OVER, None),
    "rot": (C.OP_ROT, None),
    "add": (C.OP_ADD, None),
    "sub": (C.OP_SUB, None),
    "mul": (C.OP_MUL, None),
    "div": (C.OP_DIV, None),
    "mod": (C.OP_MOD, None),
    "and": (C.OP_AND, None),
    "or": (C.OP_OR, None),
    "xor": (C.OP_XOR, None),
    "not": (C.OP_NOT, None),
    "shl": (C.OP_SHL, None),
    "shr": (C.OP_SHR, None),
    "eq": (C.OP_EQ, None),
    "lt": (C.OP_LT, None),
    "ult": (C.OP_ULT, None),
    "load8": (C.OP_LOAD8, None),
    "store8": (C.OP_STORE8, None),
    "load16": (C.OP_LOAD16, None),
    "store16": (C.OP_STORE16, None),
    "mcopy": (C.OP_MCOPY, None),
    "mfill": (C.OP_MFILL, None),
    "meq": (C.OP_MEQ, None),
    "data": (C.OP_DATA, "data"),
    "div32": (C.OP_DIV32, None),
    "add32": (C.OP_ADD32, None),
    "arglen": (C.OP_ARGLEN, None),
    "out": (C.OP_OUT, None),
    "sload": (C.OP_SLOAD, None),
    "sstore": (C.OP_SSTORE, None),
    "squota": (C.OP_SQUOTA, None),
    "pcr": (C.OP_PCR, None),
    "sha256": (C.OP_SHA256, None),
    "hmac256": (C.OP_HMAC256, None),
    "sha1": (C.OP_SHA1, None),
    "hmac1": (C.OP_HMAC1, None),
    "random": (C.OP_RANDOM, None),
    "clock": (C.OP_CLOCK, None),
    "csign": (C.OP_CSIGN, None),
    "chmac": (C.OP_CHMAC, None),
}

HEADER_FIELDS = ("version", "stack", "memory", "output", "store", "steps")


@dataclass
class _Fixup:
    at: int
    label: str
    line: int | None


class Builder:
    """Closure code, instruction by instruction; ``image()`` gives the PlainImage."""

    def __init__(self, name: str, **fields: int) -> None:
        unknown = set(fields) - set(HEADER_FIELDS)
        if unknown:
            raise ClosureFormatError(f"unknown header fields {sorted(unknown)}")
        self.header = Header(name)
        self._code = bytearray()
        self._labels: dict[str, int] = {}
        self._fixups: list[_Fixup] = []
        #: The source line being assembled, for messages (the assembler sets it).
        self.line: int | None = None
        for field, value in fields.items():
            self.set(field, value)

    def _where(self) -> str:
        return f" (line {self.line})" if self.line is not None else ""

    def set(self, field: str, value: int | str) -> Builder:
        """A header field (``name`` or one of HEADER_FIELDS)."""
        if field != "name" and field not in HEADER_FIELDS:
            raise ClosureFormatError(f"unknown header field {field!r}{self._where()}")
        if (field == "name") != isinstance(value, str):
            raise ClosureFormatError(f"header field {field}: {value!r}{self._where()}")
        changes: dict[str, Any] = {field: value}
        self.header = replace(self.header, **changes)
        return self

    def label(self, name: str) -> Builder:
        if name in self._labels:
            raise ClosureFormatError(f"label {name!r} defined twice{self._where()}")
        self._labels[name] = len(self._code)
        return self

    def op(self, mnemonic: str, operand: int | str | bytes | None = None) -> Builder:
        """One instruction; ``operand`` is its immediate (see INSTRUCTIONS)."""
        try:
            opcode, kind = INSTRUCTIONS[mnemonic.lower()]
        except KeyError:
            raise ClosureFormatError(f"unknown instruction {mnemonic!r}{self._where()}") from None
        if (kind is None) != (operand is None):
            need = "no operand" if kind is None else "an operand"
            raise ClosureFormatError(f"{mnemonic} takes {need}{self._where()}")
        self._code.append(opcode)
        if kind in ("addr", "i16"):
            if isinstance(operand, str):
                self._fixups.append(_Fixup(len(self._code), operand, self.line))
                self._code += b"\0\0"
            elif isinstance(operand, int) and (
                (kind == "addr" and 0 <= operand <= 0xFFFF) or -0x8000 <= operand <= 0xFFFF
            ):
                self._code += (operand & 0xFFFF).to_bytes(2, "big")
            else:
                raise ClosureFormatError(f"{mnemonic}: operand out of range{self._where()}")
        elif kind == "u8":
            if not isinstance(operand, int) or not 0 <= operand <= 0xFF:
                raise ClosureFormatError(f"{mnemonic}: operand 0..255{self._where()}")
            self._code.append(operand)
        elif kind == "data":
            if not isinstance(operand, (bytes, bytearray)) or len(operand) > 0xFF:
                raise ClosureFormatError(f"data: 0..255 bytes{self._where()}")
            self._code.append(len(operand))
            self._code += operand
        return self

    def __getattr__(self, name: str) -> Callable[..., Builder]:
        mnemonic = name.rstrip("_")
        if mnemonic not in INSTRUCTIONS:
            raise AttributeError(name)
        return lambda operand=None: self.op(mnemonic, operand)

    def code(self) -> bytes:
        code = bytearray(self._code)
        for fixup in self._fixups:
            if fixup.label not in self._labels:
                where = f" (line {fixup.line})" if fixup.line is not None else ""
                raise ClosureFormatError(f"undefined label {fixup.label!r}{where}")
            code[fixup.at : fixup.at + 2] = self._labels[fixup.label].to_bytes(2, "big")
        return bytes(code)

    def image(self) -> PlainImage:
        code = self.code()
        return PlainImage(replace(self.header, code_length=len(code)), code)
