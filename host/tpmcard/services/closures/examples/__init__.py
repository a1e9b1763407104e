"""The example closures shipped with tpmcard (docs/closures.md "Examples").

Each is an assembler source in this directory that builds as it is, with test secrets (the RFCs'
keys, a placeholder secret): ``tpmcard closure build`` finds them by name. :func:`source` gives
the same program with your own parameters: every line whose comment starts with ``@NAME`` has its
operand replaced by the value of parameter NAME (derived ones, such as a key's length, follow).

* ``hotp``: HOTP (RFC 4226), HMAC-SHA-1, the counter in the closure's store;
* ``totp``, ``totp256``: TOTP (RFC 6238) with HMAC-SHA-1 / HMAC-SHA-256 for a time the host gives;
* ``ratesign``: at most LIMIT ECDSA signatures per PERIOD seconds of the session's verified TPM
  clock, by the count-limited key HANDLE (auth value KEYAUTH);
* ``pcrgate``: releases its secret only while the combined PCR view holds the values it was
  built for (:func:`pcr_policy_digest`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import resources

PCR_COUNT = 24
DIGEST_LENGTH = 32


@dataclass(frozen=True)
class Parameter:
    """One parameter of an example: its name in the source's ``@NAME`` marks, what it means,
    and how a text value (``--set NAME=VALUE``) reads."""

    name: str
    help: str
    parse: Callable[[str], object]


@dataclass(frozen=True)
class Example:
    name: str
    summary: str
    parameters: tuple[Parameter, ...]


def _hex(text: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"not hexadecimal: {text!r}") from None


def _int(text: str) -> int:
    return int(text, 0)


def _indices(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.replace(",", " ").split())


KEY = Parameter("KEY", "the HMAC key, hex, 1..64 bytes", _hex)
DIGITS = Parameter("DIGITS", "digits of the code, 6..8", _int)
EXAMPLES: dict[str, Example] = {
    "hotp": Example(
        "hotp", "HOTP (RFC 4226), HMAC-SHA-1; the counter in the closure's store", (KEY, DIGITS)
    ),
    "totp": Example(
        "totp",
        "TOTP (RFC 6238), HMAC-SHA-1, for the Unix time given as the argument (8 bytes)",
        (KEY, DIGITS, Parameter("PERIOD", "the time step, seconds, 1..32767", _int)),
    ),
    "totp256": Example(
        "totp256",
        "TOTP (RFC 6238), HMAC-SHA-256, for the Unix time given as the argument (8 bytes)",
        (KEY, DIGITS, Parameter("PERIOD", "the time step, seconds, 1..32767", _int)),
    ),
    "ratesign": Example(
        "ratesign",
        "at most LIMIT ECDSA P-256 signatures per PERIOD seconds of the session's TPM clock",
        (
            Parameter("LIMIT", "signatures per epoch, 1..32767", _int),
            Parameter("PERIOD", "the epoch, seconds of TPM Clock, 1..32767", _int),
            Parameter("HANDLE", "the count-limited ECDSA key's handle, e.g. 0x8c000001", _int),
            Parameter("KEYAUTH", "that key's auth value, hex, 0..16 bytes", _hex),
        ),
    ),
    "pcrgate": Example(
        "pcrgate",
        "releases its secret only while the combined PCR view holds the values it was built for",
        (
            Parameter("INDICES", "the PCRs (0..23) of the policy, in order, e.g. 0,7,9", _indices),
            Parameter("EXPECTED", "pcr_policy_digest of their values, hex, 32 bytes", _hex),
            Parameter("SECRET", "the secret it releases, hex, 1..32 bytes", _hex),
        ),
    ),
}

_MARK = re.compile(r"^(?P<head>\s*\S+\s+)(?P<operand>.*?)(?P<gap>\s*);\s*@(?P<name>[A-Z]+)\b")


def names() -> list[str]:
    return list(EXAMPLES)


def default_source(name: str) -> str:
    """The shipped source of example ``name`` (builds as it is, with test secrets)."""
    if name not in EXAMPLES:
        raise KeyError(f"no example closure {name!r}: {', '.join(EXAMPLES)}")
    return resources.files(__name__).joinpath(f"{name}.tcl").read_text(encoding="utf-8")


def parse_values(name: str, settings: Iterable[str]) -> dict[str, object]:
    """``NAME=VALUE`` strings (the CLI's ``--set``) as :func:`source` takes them."""
    known = {p.name: p for p in EXAMPLES[name].parameters}
    values: dict[str, object] = {}
    for setting in settings:
        key, sep, text = setting.partition("=")
        key = key.strip().upper()
        if not sep or key not in known:
            raise ValueError(f"{name} takes {', '.join(known)} (NAME=VALUE), not {setting!r}")
        values[key] = known[key].parse(text.strip())
    return values


#: Byte strings (their lengths) and numbers (their ranges) the parameters take.
_BYTES = {"KEY": (1, 64), "EXPECTED": (32, 32), "SECRET": (1, 32), "KEYAUTH": (0, 16)}
_NUMBERS = {"DIGITS": (6, 8), "PERIOD": (1, 32767), "LIMIT": (1, 32767), "HANDLE": (0, 2**32 - 1)}
#: The ratesign key's handle and auth value when only one of them is given (the shipped source's).
_KEY_DEFAULTS: dict[str, object] = {"HANDLE": 0x8C000001, "KEYAUTH": b""}


def _checked(name: str, values: Mapping[str, object]) -> dict[str, str]:
    """The operand text of every @NAME mark, derived ones included; refuses bad values."""
    known = {p.name for p in EXAMPLES[name].parameters}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{name} takes {', '.join(sorted(known))}, not {', '.join(unknown)}")
    out: dict[str, str] = {}
    if "HANDLE" in values or "KEYAUTH" in values:
        values = _KEY_DEFAULTS | dict(values)
    for key, value in values.items():
        if key in _BYTES:
            if not isinstance(value, bytes | bytearray):
                raise ValueError(f"{key} is bytes")
            low, high = _BYTES[key]
            if not low <= len(value) <= high:
                raise ValueError(f"{key} has {low}..{high} bytes, not {len(value)}")
            out[key] = f'x"{bytes(value).hex()}"'
            if key == "KEY":
                out["KEYLEN"] = str(len(value))
            if key == "SECRET":
                out["SECRETLEN"] = str(len(value))
            if key == "KEYAUTH":
                handle = values["HANDLE"]
                assert isinstance(handle, int)
                out["KEYRECORD"] = f'x"{handle:08x}" {len(value)}' + (
                    f' x"{bytes(value).hex()}"' if value else ""
                )
        elif key == "INDICES":
            if not isinstance(value, tuple | list) or not all(isinstance(i, int) for i in value):
                raise ValueError("INDICES is a sequence of PCR indices")
            indices = [int(i) for i in value]
            if not indices or len(set(indices)) != len(indices):
                raise ValueError("INDICES: at least one PCR, each once")
            if not all(0 <= i < PCR_COUNT for i in indices):
                raise ValueError("INDICES: PCR indices are 0..23")
            out[key] = " ".join(str(i) for i in indices)
            out["COUNT"] = str(len(indices))
        else:
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"{key} is a number")
            low, high = _NUMBERS[key]
            if not low <= value <= high:
                raise ValueError(f"{key} is {low}..{high}, not {value}")
            out[key] = str(value)
    return out


def source(name: str, **values: object) -> str:
    """Example ``name``'s source with these parameters (the others keep their shipped values)."""
    operands = _checked(name, values)
    lines = []
    for line in default_source(name).splitlines(keepends=True):
        match = _MARK.match(line)
        if match and match["name"] in operands:
            line = match["head"] + operands[match["name"]] + match["gap"] + line[match.end("gap") :]
        lines.append(line)
    return "".join(lines)


def pcr_policy_digest(values: Mapping[int, bytes], indices: Iterable[int]) -> bytes:
    """EXPECTED of ``pcrgate`` for these PCR values: a zeroed 32-byte register extended with
    each listed PCR's value in order, h = SHA-256(h || value), as the closure computes it."""
    h = bytes(DIGEST_LENGTH)
    for i in indices:
        h = hashlib.sha256(h + values[i]).digest()
    return h
