"""The closure assembler: ``.tcl`` text -> a PlainImage, through :class:`Builder` (so the two
make the same bytes). docs/closures.md "Host".

Grammar, one statement per line; ``;`` or ``#`` starts a comment (outside a string):

* ``.name NAME`` and ``.version``, ``.stack``, ``.memory``, ``.output``, ``.store``, ``.steps N``:
  header fields (defaults: version 0, stack 16, memory 64, output 32, store 0, steps 1000);
* ``LABEL:`` (letters, digits, ``_``; may precede an instruction on the same line);
* ``MNEMONIC [OPERAND]``, case-insensitive. Numbers: decimal, ``0x..``, ``'c'`` (one ASCII
  character), optionally negative. PUSH: -32768..65535 or a label; PUSHB: 0..255; JMP/JZ/JNZ: a
  label or a code offset; DATA: one or more of ``"text"``, ``x"hex"`` and numbers 0..255.
"""

from __future__ import annotations

import re

from tpmcard.services.closures.builder import HEADER_FIELDS, INSTRUCTIONS, Builder
from tpmcard.services.closures.image import ClosureFormatError, PlainImage

_LABEL = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*):\s*(.*)$")
_TOKEN = re.compile(r'x"([0-9A-Fa-f\s]*)"|"((?:[^"\\]|\\.)*)"|(\S+)')


def _strip_comment(line: str) -> str:
    in_string = False
    for i, ch in enumerate(line):
        if ch == '"':
            in_string = not in_string
        elif ch in ";#" and not in_string:
            return line[:i]
    return line


def _number(token: str, line: int) -> int:
    try:
        if len(token) == 3 and token[0] == token[2] == "'":
            return ord(token[1])
        return int(token, 0)
    except ValueError:
        raise ClosureFormatError(f"not a number: {token!r} (line {line})") from None


def _data(text: str, line: int) -> bytes:
    out = bytearray()
    for match in _TOKEN.finditer(text):
        hex_part, string, word = match.groups()
        if hex_part is not None:
            try:
                out += bytes.fromhex("".join(hex_part.split()))
            except ValueError:
                raise ClosureFormatError(f"odd hex string (line {line})") from None
        elif string is not None:
            out += string.encode("latin-1").decode("unicode_escape").encode("latin-1")
        else:
            value = _number(word, line)
            if not 0 <= value <= 0xFF:
                raise ClosureFormatError(f"data byte out of range: {word} (line {line})")
            out.append(value)
    return bytes(out)


def assemble(source: str, name: str | None = None) -> PlainImage:
    """The plain image of ``source``; ``name`` stands in when the source has no ``.name``."""
    builder = Builder(name or "closure")
    named = name is not None
    for number, raw in enumerate(source.splitlines(), start=1):
        builder.line = number
        text = _strip_comment(raw).strip()
        match = _LABEL.match(text)
        if match:
            builder.label(match.group(1))
            text = match.group(2).strip()
        if not text:
            continue
        word, _, rest = text.partition(" ")
        rest = rest.strip()
        if word.startswith("."):
            field = word[1:].lower()
            if field == "name":
                builder.set("name", rest)
                named = True
            elif field in HEADER_FIELDS:
                builder.set(field, _number(rest, number))
            else:
                raise ClosureFormatError(f"unknown directive {word} (line {number})")
            continue
        mnemonic = word.lower()
        if mnemonic not in INSTRUCTIONS:
            raise ClosureFormatError(f"unknown instruction {word!r} (line {number})")
        kind = INSTRUCTIONS[mnemonic][1]
        if kind is None:
            if rest:
                raise ClosureFormatError(f"{word} takes no operand (line {number})")
            builder.op(mnemonic)
        elif kind == "data":
            builder.op(mnemonic, _data(rest, number))
        elif not rest:
            raise ClosureFormatError(f"{word} needs an operand (line {number})")
        elif re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", rest) and kind in ("addr", "i16"):
            builder.op(mnemonic, rest)  # a label
        else:
            builder.op(mnemonic, _number(rest, number))
    builder.line = None
    if not named:
        raise ClosureFormatError("the source has no .name")
    return builder.image()
