"""`tpmcard closure build|seal|load|list|run|store|remove|authority` over both transports, with
--json; a refused run exits non-zero with the typed error's message."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import Result
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

SOURCE = """
.name echo2
.memory 16
.output 16
.store 4
.stack 4
; echo the args twice; a loaded closure keeps them in its store (an image has none)
    squota
    jz echo
    pushb 0
    pushb 0
    arglen
    sstore          ; store[0..n) = args
echo:
    pushb 0
    arglen
    out
    pushb 0
    arglen
    out
    halt
"""


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def test_build_load_list_run_store_remove(
    closure_cli: Callable[..., Result], tmp_path: Path
) -> None:
    src = tmp_path / "echo2.tcl"
    src.write_text(SOURCE)
    image = tmp_path / "echo2.img"
    built = json.loads(ok(closure_cli("build", str(src), "-o", str(image), "--json")))
    assert built["name"] == "echo2" and built["signed"] is False and image.exists()
    sealed = tmp_path / "echo2.sealed"
    ok(closure_cli("seal", str(image), "-o", str(sealed), "--json"))
    run = json.loads(ok(closure_cli("run", "--image", str(sealed), "--arg", "0102", "--json")))
    assert run["output"] == "01020102"
    ok(closure_cli("load", str(image), "--json"))
    try:
        listed = json.loads(ok(closure_cli("list", "--json")))
        assert [(c["name"], c["store_quota"], c["image_id"]) for c in listed] == [
            ("echo2", 4, built["image_id"])
        ]
        out = ok(closure_cli("run", "echo2", "--arg", "aa", "--arg", "bbcc"))
        assert out.strip() == "aabbccaabbcc"
        store = json.loads(ok(closure_cli("store", "echo2", "--json")))
        assert store == {"name": "echo2", "quota": 4, "used": 3}
        # Over the store's quota: refused, typed, the card goes on.
        refused = closure_cli("run", "echo2", "--arg", "0102030405")
        assert refused.exit_code != 0 and "SW=6606" in refused.output
        assert ok(closure_cli("run", "echo2", "--arg", "09")).strip() == "0909"
    finally:
        ok(closure_cli("remove", "echo2", "--json"))
    assert json.loads(ok(closure_cli("list", "--json"))) == []


def test_build_signs_with_an_authority_key(
    closure_cli: Callable[..., Result], tmp_path: Path
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = tmp_path / "authority.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    src = tmp_path / "s.tcl"
    src.write_text(SOURCE)
    image = tmp_path / "s.img"
    built = json.loads(ok(closure_cli("build", str(src), "-o", str(image), "--sign-key", str(pem),
                                      "--json")))  # fmt: skip
    assert built["signed"] is True
    # No authority registered on this (unowned) card: the signed image is refused at SEAL.
    refused = closure_cli("seal", str(image), "-o", str(tmp_path / "x"))
    assert refused.exit_code != 0 and "SW=6A85" in refused.output
    assert json.loads(ok(closure_cli("authority", "get", "--json"))) == {"point": None}


def test_help_names_every_command(closure_cli: Callable[..., Result]) -> None:
    out = ok(closure_cli("--help"))
    for command in ("build", "seal", "load", "list", "run", "remove", "store", "authority"):
        assert command in out
