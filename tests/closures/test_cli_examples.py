"""`tpmcard closure example list|show` and `tpmcard closure build NAME` over both transports
(``closure_cli``: the paired card through a real secured session per command), --json on each;
bad parameters exit non-zero with a message."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import Result
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.hotp import HOTP
from tpmcard.services.closures import assemble
from tpmcard.services.closures import examples as E


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def test_list_names_every_example_and_its_parameters(closure_cli: Callable[..., Result]) -> None:
    listed = json.loads(ok(closure_cli("example", "list", "--json")))
    assert [e["name"] for e in listed] == ["hotp", "totp", "totp256", "ratesign", "pcrgate"]
    assert set(listed[3]["parameters"]) == {"LIMIT", "PERIOD", "HANDLE", "KEYAUTH"}
    assert "hotp" in ok(closure_cli("example", "list"))


def test_show_with_parameters_builds_and_runs_on_the_card(
    closure_cli: Callable[..., Result], tmp_path: Path
) -> None:
    src = tmp_path / "hotp.tcl"
    key = bytes(range(20, 40))
    shown = json.loads(
        ok(closure_cli("example", "show", "hotp", "--set", f"key={key.hex()}", "--set", "DIGITS=7",
                       "-o", str(src), "--json"))
    )  # fmt: skip
    assert src.read_text() == shown["source"] == E.source("hotp", KEY=key, DIGITS=7)
    image = tmp_path / "hotp.img"
    ok(closure_cli("build", str(src), "-o", str(image)))
    ok(closure_cli("load", str(image)))
    try:
        run = json.loads(ok(closure_cli("run", "hotp", "--json")))
    finally:
        ok(closure_cli("remove", "hotp"))
    reference = HOTP(key, 7, SHA1())  # noqa: S303 (RFC 4226 is HMAC-SHA-1)
    assert bytes.fromhex(run["output"]) == reference.generate(0)


def test_build_finds_the_shipped_examples_by_name(
    closure_cli: Callable[..., Result], tmp_path: Path
) -> None:
    for name in E.names():
        out = tmp_path / f"{name}.img"
        built = json.loads(ok(closure_cli("build", name, "-o", str(out), "--json")))
        assert out.read_bytes() == assemble(E.default_source(name)).encode()
        assert built["name"] == name
    missing = closure_cli("build", "nosuch", "-o", str(tmp_path / "x.img"))
    assert missing.exit_code != 0 and "nor an example closure" in missing.output


def test_pcrgate_from_session_takes_the_cards_view(
    closure_cli: Callable[..., Result], tmp_path: Path
) -> None:
    src = tmp_path / "gate.tcl"
    ok(closure_cli("example", "show", "pcrgate", "--from-session", "--set", "INDICES=0,7,9",
                   "--set", "SECRET=736563726574", "-o", str(src)))  # fmt: skip
    image = tmp_path / "gate.img"
    ok(closure_cli("build", str(src), "-o", str(image)))
    sealed = tmp_path / "gate.sealed"
    ok(closure_cli("seal", str(image), "-o", str(sealed)))
    run = json.loads(ok(closure_cli("run", "--image", str(sealed), "--json")))
    assert bytes.fromhex(run["output"]) == b"secret"


def test_bad_parameters_are_refused_with_a_message(closure_cli: Callable[..., Result]) -> None:
    for args, text in [
        (("show", "hotp", "--set", "KEY=zz"), "not hexadecimal"),
        (("show", "hotp", "--set", "DIGITS=9"), "DIGITS is 6..8"),
        (("show", "hotp", "--set", "LIMIT=3"), "hotp takes KEY, DIGITS"),
        (("show", "pcrgate", "--set", "INDICES=1,1"), "each once"),
        (("show", "pcrgate", "--set", "INDICES=24"), "0..23"),
        (("show", "ratesign", "--set", f"KEYAUTH={'00' * 17}"), "0..16 bytes"),
        (("show", "hotp", "--from-session"), "--from-session is for pcrgate"),
    ]:
        result = closure_cli("example", *args)
        assert result.exit_code != 0 and text in result.output, (args, result.output)
