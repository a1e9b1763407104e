"""``tpmcard alg list``: the CLI over the paired card of conftest.py through a real secured
session (``_algorithms`` yields its ``session.algorithms``; everything below the CLI is the real
route)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner
from tpmcard.cli import algorithms as cli_algorithms
from tpmcard.cli import cli
from tpmcard.services import algorithms as A

if TYPE_CHECKING:
    from conftest import BoundCard  # tests/conftest.py


def test_alg_list_json_gives_the_implementation(
    bound_card: BoundCard, monkeypatch: pytest.MonkeyPatch
) -> None:
    @contextmanager
    def open_paired(opts: object) -> Iterator[A.Algorithms]:
        with bound_card.connect() as session:
            yield session.algorithms

    monkeypatch.setattr(cli_algorithms, "_algorithms", open_paired)
    result = CliRunner().invoke(cli, ["alg", "list", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    listed = {p["aid"]: p for p in json.loads(result.output)}
    assert set(listed) >= {
        aid.hex().upper()
        for aid in (
            A.AID_AES_GCM,
            A.AID_SHA3,
            A.AID_HMAC,
            A.AID_CHACHA20_POLY1305,
            A.AID_ECDSA_P256,
        )
    }
    for p in listed.values():
        assert set(p) == {"aid", "algorithm", "version", "capabilities", "state", "implementation"}
        assert p["implementation"] in ("native", "software")
        assert p["state"] == "enabled"
    # Card code everywhere: no card API has them.
    assert listed[A.AID_HMAC.hex().upper()]["implementation"] == "software"
    assert listed[A.AID_CHACHA20_POLY1305.hex().upper()]["implementation"] == "software"
    assert listed[A.AID_ECDSA_P256.hex().upper()]["implementation"] == "native"
    assert listed[A.AID_SHA3.hex().upper()]["algorithm"] == "sha3-256"
    table = CliRunner().invoke(cli, ["alg", "list"], catch_exceptions=False)
    assert table.exit_code == 0, table.output
