"""``tpmcard bench``: speed as ratios against baselines measured in the same run."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from tpmcard.bench import transport as echo_bench
from tpmcard.cli import Options, cli, console, print_json, progress
from tpmcard.errors import TpmcardError


def _echo_table(title: str, result: dict[str, Any]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("ECHO bytes", justify="right")
    table.add_column("raw µs", justify="right")
    table.add_column("tpmcard µs", justify="right")
    table.add_column("tpmcard / raw", justify="right")
    for size, row in result["sizes"].items():
        ratio = row["ratio"]
        style = "green" if ratio <= 1.10 else "yellow"
        table.add_row(
            size, f"{row['raw_us']:.1f}", f"{row['tpmcard_us']:.1f}", f"[{style}]{ratio:.2f}x[/]"
        )
    return table


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option(
    "--rounds",
    type=click.IntRange(10, 100000),
    help="Round trips per size and path (default: 2000 in-process, 500 over PC/SC).",
)
@click.option(
    "--only",
    type=click.Choice(["jcardsim", "pcsc"]),
    multiple=True,
    help="Measure only these sections (repeatable). Default: all.",
)
@click.option(
    "--pcsc-reader",
    help="Measure PC/SC on this reader instead of a simulated card served on 'Virtual PCD 00 01'.",
)
@click.pass_obj
def bench(
    opts: Options, as_json: bool, rounds: int | None, only: tuple[str, ...], pcsc_reader: str | None
) -> None:
    """Measure tpmcard against raw baselines on the same paths, in the same run.

    \b
    ECHO round trips at 0, 255, 1024 and 4096 bytes:
      jcardsim  (a) raw jCardSim through JPype  vs (b) tpmcard's in-process transport
      pcsc      (c) raw pyscard over vpcd       vs (d) tpmcard's PC/SC transport
    Ratios are tpmcard/raw medians; the target is at most 1.10x.
    """
    sections = only or ("jcardsim", "pcsc")
    results: dict[str, Any] = {}
    for name in sections:
        with progress(f"measuring {name}"):
            try:
                if name == "jcardsim":
                    results[name] = echo_bench.measure_jcardsim(rounds=rounds or 2000)
                else:
                    results[name] = echo_bench.measure_pcsc(
                        rounds=rounds or 500, reader=pcsc_reader
                    )
            except TpmcardError as exc:
                results[name] = {"error": str(exc)}
    if as_json:
        print_json(results)
        return
    titles = {
        "jcardsim": "(a) raw jCardSim via JPype vs (b) tpmcard in-process transport",
        "pcsc": "(c) raw pyscard vs (d) tpmcard PC/SC transport",
    }
    for name, result in results.items():
        if "error" in result:
            console.print(f"[yellow]{titles[name]}: not measured: {result['error']}[/]")
        else:
            console.print(_echo_table(f"{titles[name]} ({result['path']})", result))
