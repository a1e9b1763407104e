"""The mobile TPM through the real route: a card paired with the test TPM (``bound_card`` in
tests/conftest.py, over the in-process simulator and PC/SC), a secured session
(``tpmcard.connect()``'s code), the core applet's INVOKE, the service.

``mtpm`` is ``session.mtpm`` of a fresh session per test; the card is the module's, so tests
leave its mobile TPM as they found it (unowned, no NV index).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner
from tpmcard.cli import cli
from tpmcard.cli import mtpm as cli_mtpm
from tpmcard.services.mtpm import MtpmSession
from tpmcard.services.session import SecureCardSession

if TYPE_CHECKING:
    from conftest import BoundCard  # tests/conftest.py


@pytest.fixture
def mtpm(secure_session: SecureCardSession) -> MtpmSession:
    return secure_session.mtpm


@pytest.fixture
def tpm2_pcrextend(bound_card: BoundCard) -> Callable[[int, bytes], None]:
    """``tpm2_pcrextend(8, digest)``: stock tpm2-tools on the test TPM (TPM2TOOLS_TCTI)."""
    env = dict(os.environ, TPM2TOOLS_TCTI=bound_card.tcti)

    def run(index: int, digest: bytes) -> None:
        subprocess.run(
            ["tpm2_pcrextend", f"{index}:sha256={digest.hex()}"],
            env=env,
            check=True,
            capture_output=True,
            timeout=60,
        )

    return run


@pytest.fixture
def paired_cli(
    bound_card: BoundCard, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Callable[..., str]:
    """Run `tpmcard` in-process with its mobile TPM the paired card of tests/conftest.py, through a
    real secured session per command (``open_mtpm`` yields ``session.mtpm``; everything below the
    CLI is the real route). Returns the output; a non-zero exit fails the test."""
    monkeypatch.setenv("TPMCARD_STATE_DIR", str(tmp_path / "state"))

    @contextmanager
    def open_paired(opts: object) -> Iterator[object]:
        with bound_card.connect() as session:
            yield session.mtpm

    monkeypatch.setattr(cli_mtpm, "open_mtpm", open_paired)  # every mtpm command opens it there
    runner = CliRunner()

    def invoke(*args: str) -> str:
        result = runner.invoke(cli, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    return invoke
