"""What every ``tpmcard`` command promises: --json where it prints data, a usage error (not a
traceback) for a value the library refuses, progress logs with -v, one name per command, and no
build as a side effect of a command that does not open the simulated card."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from tpmcard.cli import cli
from tpmcard.services import gp

#: The commands that print data (values, tables, listings): each takes --json.
PRINTS_DATA = {
    "alg list",
    "alg run",
    "bench",
    "gp list",
    "info",
    "mtpm counter increment",
    "mtpm counter read",
    "mtpm ek-cert get",
    "mtpm nv list",
    "mtpm owner status",
    "mtpm pcr extend",
    "mtpm pcr read",
    "mtpm quote",
    "mtpm status",
    "pair",
    "pairings",
    "pin status",
}


def commands(group: click.Group = cli, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))
        else:
            yield " ".join((*path, name)), command


def test_every_command_that_prints_data_offers_json() -> None:
    offered = {name for name, c in commands() if any(p.name == "as_json" for p in c.params)}
    assert PRINTS_DATA <= offered, f"no --json: {sorted(PRINTS_DATA - offered)}"


def test_each_command_has_one_name_and_none_is_hidden() -> None:
    hidden = [name for name, c in commands() if c.hidden]
    assert not hidden
    callbacks = [c.callback for _name, c in commands()]
    assert len(callbacks) == len(set(callbacks)), "two names for one command"
    hidden_options = [
        (name, p.name) for name, c in commands() for p in c.params if getattr(p, "hidden", False)
    ]
    assert not hidden_options


def test_a_two_digit_pin_is_a_usage_error(tmp_path: Path, tpmcard_cli: Callable[..., Any]) -> None:
    args = ("pin", "change", "--pin-fd", "{fd}", "--new-pin-fd", "{fd}")
    result = tpmcard_cli(tmp_path, *args, secrets="123456\n12\n")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "PIN" in result.stderr


def test_verbose_logs_progress_at_info_level(
    tmp_path: Path, tpmcard_cli: Callable[..., Any]
) -> None:
    quiet = tpmcard_cli(tmp_path, "pin", "status", "--json", check=True)
    assert "opening the card" not in quiet.stderr
    loud = tpmcard_cli(tmp_path, "-v", "pin", "status", "--json", check=True)
    assert "tpmcard: opening the card ..." in loud.stderr
    assert "tpmcard: opening the card: done in" in loud.stderr


def test_only_commands_that_open_the_simulated_card_build_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import tpmcard.cli as cli_module

    built: list[bool] = []
    monkeypatch.setattr(cli_module, "ensure_simulator_built", lambda: built.append(True))
    monkeypatch.setenv("TPMCARD_STATE_DIR", str(tmp_path))
    runner = CliRunner()
    assert runner.invoke(cli, ["ca", "init"]).exit_code == 0
    assert runner.invoke(cli, ["--reader", "sim", "mtpm", "--help"]).exit_code == 0
    assert not built
    result = runner.invoke(cli, ["--reader", "sim", "gp", "list", "--dry-run"])
    assert built and result.exit_code == 1  # it asked for the card: the simulator has no GP


def test_gp_listing_parses_into_entries() -> None:
    listing = (
        "Warning: no keys given\n"
        "ISD: A000000151000000 (OP_READY)\n"
        "     Privs:    SecurityDomain, CardLock\n\n"
        "PKG: F074706D630100 (LOADED)\n"
        "     Version:  1.0\n"
        "     Applet:   F074706D63010001\n"
        "     Applet:   F074706D63010002\n"
    )
    entries = [e.as_dict() for e in gp.parse_listing(listing)]
    assert entries == [
        {
            "kind": "ISD",
            "aid": "A000000151000000",
            "state": "OP_READY",
            "privs": ["SecurityDomain, CardLock"],
        },
        {
            "kind": "PKG",
            "aid": "F074706D630100",
            "state": "LOADED",
            "version": ["1.0"],
            "applet": ["F074706D63010001", "F074706D63010002"],
        },
    ]
