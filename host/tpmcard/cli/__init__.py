"""The ``tpmcard`` command line. Presentation only: no crypto, no protocol logic."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from tpmcard import __version__
from tpmcard.errors import TpmcardError

console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


log = logging.getLogger("tpmcard")


class Options:
    """Global options, shared by every command through the click context."""

    def __init__(self, reader: str | None, tcti: str | None, verbose: int) -> None:
        self._reader = reader
        self.tcti = tcti
        self.verbose = verbose

    @property
    def reader(self) -> str | None:
        """The card to use, for a command about to open it. The in-process simulator is built
        first if a checkout lacks its jars (only then: no other command builds anything)."""
        from tpmcard.transport import SIM_READER, resolve_reader

        if resolve_reader(self._reader).strip().lower() == SIM_READER:
            ensure_simulator_built()
        return self._reader


@contextmanager
def progress(message: str) -> Iterator[None]:
    """A spinner for anything slow (the first JVM start, swtpm start, building); with -v the same
    steps are logged at info level, with how long they took."""
    log.info("%s ...", message)
    started = time.monotonic()
    if console.is_terminal and not log.isEnabledFor(logging.INFO):
        with console.status(message):
            yield
    else:
        yield
    log.info("%s: done in %.2f s", message, time.monotonic() - started)


class TpmcardGroup(click.Group):
    """Turns every TpmcardError into a one-line message and exit status 1 (also those that are
    ValueErrors too, such as PcrPolicyError: they carry their own advice), and every other
    ValueError (a value the library refused: a PIN too short, a PCR out of range) into a usage
    error, exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TpmcardError as exc:
            opts = ctx.find_object(Options)
            if opts is not None and opts.verbose:
                err_console.print_exception()
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
            sys.exit(1)
        except ValueError as exc:
            raise click.UsageError(str(exc), ctx) from exc


@click.group(cls=TpmcardGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--reader",
    "-r",
    envvar="TPMCARD_READER",
    help="Card to use: 'sim' (in-process jCardSim, the default), a PC/SC reader name "
    "(or a unique part of it), or a reader index. Env: TPMCARD_READER.",
)
@click.option(
    "--tcti",
    "-t",
    envvar="TPMCARD_TCTI",
    help="TPM to use, as a TCTI string such as 'device:/dev/tpmrm0' or 'swtpm:port=2321'. "
    "Default: an embedded swtpm that tpmcard starts itself. Env: TPMCARD_TCTI.",
)
@click.option("--verbose", "-v", count=True, help="-v: log progress; -vv: also APDU traffic.")
@click.version_option(__version__, prog_name="tpmcard")
@click.pass_context
def cli(ctx: click.Context, reader: str | None, tcti: str | None, verbose: int) -> None:
    """tpmcard: couple the host TPM 2.0 with a JavaCard.

    State (the simulated card, the embedded swtpm) lives in $TPMCARD_STATE_DIR, by default
    ~/.local/state/tpmcard.
    """
    level = logging.WARNING if not verbose else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(name)s: %(message)s", stream=sys.stderr)
    ctx.obj = Options(reader, tcti, verbose)


def ensure_simulator_built() -> None:
    """Build the applets (gradle assemble) if the simulator's jars are missing in a checkout."""
    from tpmcard import paths
    from tpmcard.errors import SimulatorError
    from tpmcard.transport import jcardsim

    try:
        jcardsim.sim_classpath()
        return
    except SimulatorError as exc:
        gradle = shutil.which("gradle")
        if exc.kind != "not_built" or gradle is None:
            return  # the error resurfaces, with its advice, when the card is opened
        if not (paths.SOURCE_ROOT / "build.gradle").exists():
            return
    with progress("building the applets (gradle assemble), once"):
        result = subprocess.run(  # noqa: S603 - fixed argv
            [gradle, "-q", "--console=plain", "assemble"],
            cwd=paths.SOURCE_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        raise TpmcardError(f"building the applets failed:\n{result.stderr[-2000:]}")


def parse_hex(text: str) -> bytes:
    """A hexadecimal command-line value, or a usage error."""
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise click.BadParameter("hexadecimal bytes, e.g. 00112233") from None


JSON_HELP = "Print machine-readable JSON instead."


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


def kv_table(title: str, rows: list[tuple[str, str]]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, value)
    return table


# Commands live in their own modules and register themselves on import.
from tpmcard.cli import algorithms as _algorithms  # noqa: E402,F401
from tpmcard.cli import bench as _bench  # noqa: E402,F401
from tpmcard.cli import binding as _binding  # noqa: E402,F401
from tpmcard.cli import ca as _ca  # noqa: E402,F401
from tpmcard.cli import closure as _closure  # noqa: E402,F401
from tpmcard.cli import closure_examples as _closure_examples  # noqa: E402,F401
from tpmcard.cli import env as _env  # noqa: E402,F401
from tpmcard.cli import gp as _gp  # noqa: E402,F401
from tpmcard.cli import info as _info  # noqa: E402,F401
from tpmcard.cli import mtpm as _mtpm  # noqa: E402,F401
from tpmcard.cli import mtpm_flexible as _mtpm_flexible  # noqa: E402,F401
from tpmcard.cli import mtpm_key as _mtpm_key  # noqa: E402,F401
from tpmcard.cli import mtpm_nv as _mtpm_nv  # noqa: E402,F401
from tpmcard.cli import mtpm_owner as _mtpm_owner  # noqa: E402,F401
from tpmcard.cli import sim as _sim  # noqa: E402,F401
from tpmcard.cli import tpm as _tpm  # noqa: E402,F401
from tpmcard.cli import verify as _verify  # noqa: E402,F401


def main() -> None:
    cli(prog_name="tpmcard")
