"""Fixtures for the TPM tests. ``swtpm`` (one per test session) and ``tpm`` (a fresh connection per
test, checked for leaked objects) live in tests/conftest.py, shared with the binding tests.

``tpm2_tools`` — runs tpm2-tools against the same TPM.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tpmcard.tpm.adapter import Tpm
from tpmcard.tpm.swtpm import Swtpm

ToolRunner = Callable[..., subprocess.CompletedProcess[bytes]]


@pytest.fixture
def tpm2_tools(swtpm: Swtpm, tpm: Tpm, tmp_path: Path) -> Iterator[ToolRunner]:
    """``tpm2_tools("tpm2_pcrread", "sha256:0")`` runs in ``tmp_path`` against the session TPM.

    Without a resource manager tpm2-tools leave their objects loaded; the fixture flushes them
    after the test (before ``tpm`` checks for leaks) so the TPM's three object slots stay free.
    """
    env = dict(os.environ, TPM2TOOLS_TCTI=swtpm.tcti)

    def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        result = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} failed: {result.stderr.decode()}")
        return result

    yield run
    run("tpm2_flushcontext", "-t")
    run("tpm2_flushcontext", "-s")
