"""`tpmcard gp`: reader rules, redacted dry runs, and clear errors when CAPs or gptool are missing.

GlobalPlatformPro itself is not available to these tests (docs/deployment.md); what runs is
everything up to starting it: reader choice, key loading, the plans, and the errors a user sees.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tpmcard_cli import run_tpmcard

pytestmark = pytest.mark.pcsc

GP_TEST_KEY = "404142434445464748494A4B4C4D4E4F"


def run(state: Path, *args: str, env_extra: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    env = {"TPMCARD_GP_KEY": GP_TEST_KEY, **(env_extra or {})}
    return run_tpmcard(state, *args, env=env, drop_env=("TPMCARD_GP", "GP_"), timeout=60)


def test_the_simulator_has_no_card_manager(tmp_path: Path) -> None:
    result = run(tmp_path, "--reader", "sim", "gp", "list", "--dry-run")
    assert result.returncode == 1
    assert "no GlobalPlatform card manager" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_reader_named_is_refused(tmp_path: Path) -> None:
    result = run(tmp_path, "gp", "list", "--dry-run")
    assert result.returncode == 1 and "name the reader" in result.stderr


def test_dry_runs_show_the_plan_without_secrets(tmp_path: Path, pcsc_stack) -> None:  # type: ignore[no-untyped-def]
    listing = run(tmp_path, "--reader", pcsc_stack.reader, "gp", "list", "--dry-run")
    assert listing.returncode == 0, listing.stderr
    assert "--list" in listing.stdout and pcsc_stack.reader in listing.stdout
    removal = run(tmp_path, "--reader", "00 00", "gp", "uninstall", "--yes", "--dry-run")
    assert removal.returncode == 0, removal.stderr
    assert "--delete" in removal.stdout
    for out in (listing.stdout, removal.stdout):
        assert GP_TEST_KEY.lower() not in out.lower()


def test_install_without_cap_files_says_how_to_build_them(tmp_path: Path, pcsc_stack) -> None:  # type: ignore[no-untyped-def]
    empty = tmp_path / "no-caps"  # not applets/build/cap, which `gradle cap` may have filled
    empty.mkdir()
    result = run(
        tmp_path,
        "--reader",
        pcsc_stack.reader,
        "gp",
        "install",
        "--dry-run",
        env_extra={"TPMCARD_CAP_DIR": str(empty)},
    )
    assert result.returncode == 1
    assert "cap" in result.stderr.lower() and "Traceback" not in result.stderr


def test_without_gptool_the_error_says_where_to_get_it(tmp_path: Path, pcsc_stack) -> None:  # type: ignore[no-untyped-def]
    result = run(
        tmp_path,
        "--reader",
        pcsc_stack.reader,
        "gp",
        "list",
        env_extra={"TPMCARD_GP_JAR": str(tmp_path / "no-such-gp.jar")},
    )
    assert result.returncode == 1
    assert "TPMCARD_GP_JAR" in result.stderr and "Traceback" not in result.stderr


def test_keys_are_never_taken_from_the_command_line(tmp_path: Path) -> None:
    result = run(tmp_path, "gp", "list", "--key", GP_TEST_KEY)
    assert result.returncode == 2  # click: no such option
