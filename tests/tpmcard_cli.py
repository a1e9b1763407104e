"""The one way tests run the ``tpmcard`` command line: a separate process, as a user runs it.

``run_tpmcard(state, *args)`` runs ``python -m tpmcard.cli ARGS`` with ``$TPMCARD_STATE_DIR`` set
to ``state`` (the simulated card, the embedded swtpm, the pairings) and without the caller's
``$TPMCARD_READER``/``$TPMCARD_TCTI``. ``secrets``: lines readable on the descriptor that
``{fd}`` in ARGS names. ``check``: raise with the output unless it exits 0. The ``tpmcard_cli``
fixture (tests/conftest.py) hands out the same function.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

TPMCARD = [sys.executable, "-m", "tpmcard.cli"]


def run_tpmcard(
    state: Path,
    *args: str,
    secrets: str | None = None,
    check: bool = False,
    env: Mapping[str, str] | None = None,
    drop_env: tuple[str, ...] = (),
    cwd: Path | None = None,
    timeout: float = 180,
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not (drop_env and k.startswith(drop_env))}
    environment.pop("TPMCARD_READER", None)
    environment.pop("TPMCARD_TCTI", None)
    environment.update({"TPMCARD_STATE_DIR": str(state), **(env or {})})
    fds: tuple[int, ...] = ()
    if secrets is not None:
        read, write = os.pipe()
        os.write(write, secrets.encode())
        os.close(write)
        fds = (read,)
        args = tuple(a.replace("{fd}", str(read)) for a in args)
    try:
        result = subprocess.run(
            [*TPMCARD, *args],
            env=environment,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            pass_fds=fds,
            stdin=subprocess.DEVNULL,
        )
    finally:
        for fd in fds:
            os.close(fd)
    if check and result.returncode != 0:
        raise AssertionError(f"tpmcard {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def ok(result: subprocess.CompletedProcess[str]) -> str:
    """The output of a run that must have succeeded."""
    assert result.returncode == 0, f"{result.args}:\n{result.stdout}\n{result.stderr}"
    return result.stdout
