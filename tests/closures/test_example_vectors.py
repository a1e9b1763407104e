"""tests/vectors/closure_examples.json: the generator reproduces it byte for byte from the
shipped sources, the RFC tables in it agree with ``cryptography``'s HOTP and TOTP, and each
shipped example builds as it is; parameters go where their ``@NAME`` marks say."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.hashes import SHA1, SHA256
from cryptography.hazmat.primitives.twofactor.hotp import HOTP
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from tpmcard.services.closures import assemble
from tpmcard.services.closures import examples as E

VECTORS_FILE = Path(__file__).parents[1] / "vectors" / "closure_examples.json"
VECTORS = json.loads(VECTORS_FILE.read_text())


def test_the_generator_reproduces_the_file(tmp_path: Path) -> None:
    script = VECTORS_FILE.with_name("make_closure_examples.py")
    copy = tmp_path / script.name
    copy.write_text(script.read_text())
    subprocess.run([sys.executable, str(copy)], check=True, timeout=60)
    assert (tmp_path / VECTORS_FILE.name).read_text() == VECTORS_FILE.read_text()


def test_the_rfc_tables_agree_with_cryptography() -> None:
    hotp = HOTP(bytes.fromhex(VECTORS["hotp"]["key"]), 6, SHA1())  # noqa: S303 (RFC 4226)
    assert VECTORS["hotp"]["codes"] == [hotp.generate(i).decode() for i in range(10)]
    for name, algorithm in (("totp", SHA1), ("totp256", SHA256)):
        totp = TOTP(bytes.fromhex(VECTORS[name]["key"]), 8, algorithm(), 30)
        for v in VECTORS[name]["vectors"]:
            assert totp.generate(int(v["time"])).decode() == v["code"]


@pytest.mark.parametrize("name", E.names())
def test_every_example_builds_as_shipped(name: str) -> None:
    image = assemble(E.default_source(name))
    assert image.header.name == name
    h = image.header  # a staged run's window: stack, memory and output in 225 bytes
    assert 2 * h.stack + h.memory + h.output <= 225
    assert E.source(name) == E.default_source(name)


def test_parameters_replace_their_marked_operands_only() -> None:
    key = bytes(range(1, 33))
    source = E.source("totp", KEY=key, PERIOD=60, DIGITS=6)
    assert f'x"{key.hex()}"' in source and "push 60 " in source and "pushb 32 " in source
    changed = [
        (a, b)
        for a, b in zip(E.default_source("totp").splitlines(), source.splitlines(), strict=True)
        if a != b
    ]
    assert len(changed) == 6 and all("@" in b for _, b in changed)  # KEY, KEYLEN, PERIOD, 3x DIGITS
    record = E.source("ratesign", HANDLE=0x8C030002, KEYAUTH=b"\x01\x02")
    assert 'data x"8c030002" 2 x"0102"' in record
    assert E.pcr_policy_digest({0: bytes(32)}, [0]).hex() == (
        "f5a5fd42d16a20302798ef6ed309979b43003d2320d9f0e8ea9831a92759fb4b"
    )
