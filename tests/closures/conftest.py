"""Closures through the real route (tests/conftest.py ``bound_card``: sim and PC/SC).

``closure_cli`` runs `tpmcard` in-process with its mobile TPM the paired card, through a real
secured session per command (``open_mtpm`` yields ``session.mtpm``), as tests/mtpm's
``paired_cli`` does."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner, Result
from tpmcard.cli import cli
from tpmcard.cli import mtpm as cli_mtpm
from tpmcard.services.closures.session import ClosureError, ClosuresSession

if TYPE_CHECKING:
    from conftest import BoundCard  # tests/conftest.py
    from tpmcard.services.session import SecureCardSession


def refused(call: object, *args: object) -> ClosureError:
    """The ClosureError that ``call(*args)`` raises (the test fails if it raises none)."""
    with pytest.raises(ClosureError) as err:
        call(*args)  # type: ignore[operator]
    return err.value


@pytest.fixture
def closures(secure_session: SecureCardSession) -> ClosuresSession:
    """The closures of a secured session with a fresh paired card (tests/conftest.py)."""
    return secure_session.closures


@pytest.fixture
def closure_cli(
    bound_card: BoundCard, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Callable[..., Result]:
    """``closure_cli(*args)``: the click Result (exit code and output) of `tpmcard closure ...`."""
    monkeypatch.setenv("TPMCARD_STATE_DIR", str(tmp_path / "state"))

    @contextmanager
    def open_paired(opts: object) -> Iterator[object]:
        with bound_card.connect() as session:
            yield session.mtpm

    monkeypatch.setattr(cli_mtpm, "open_mtpm", open_paired)
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(cli, ["closure", *args], catch_exceptions=False)

    return invoke
