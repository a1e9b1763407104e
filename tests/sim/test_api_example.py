"""docs/api.md's host application runs as written against a paired simulated card."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest
import tpmcard
from tpmcard import paths

if TYPE_CHECKING:
    from conftest import BoundCard  # tests/conftest.py


def example_source() -> str:
    text = (paths.SOURCE_ROOT / "docs" / "api.md").read_text()
    (block,) = re.findall(r"## A host application.*?```python\n(.*?)```", text, re.S)
    return block


def test_the_example_is_at_most_30_lines() -> None:
    assert len(example_source().strip().splitlines()) <= 30


def test_the_example_runs(sim_bound_card: BoundCard, capsys: pytest.CaptureFixture[str]) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(example_source(), "docs/api.md", "exec"), namespace)  # noqa: S102 - our own doc
    card = sim_bound_card
    where = {"connection": card.connection, "tpm": card.tpm, "store": card.store}
    blob = namespace["protect"](b"disk key", **where)
    assert isinstance(blob, bytes) and len(blob) > len(b"disk key")
    assert "PCR 7 as the card verified it: " in capsys.readouterr().out


def test_the_package_exports_the_api_and_every_error() -> None:
    from tpmcard import errors

    for name in ("connect", "pair", "open_card"):
        assert callable(getattr(tpmcard, name)) and name in tpmcard.__all__
    tree = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, errors.TpmcardError)
    }
    assert tree <= set(tpmcard.__all__)
    assert all(getattr(tpmcard, name) is getattr(errors, name) for name in tree)
    assert issubclass(tpmcard.PairingTableFullError, tpmcard.ChannelError)
    assert issubclass(tpmcard.AlreadyPairedError, tpmcard.ChannelError)
