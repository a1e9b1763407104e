"""``tpmcard bench``: speed as ratios against baselines measured in the same run."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from tpmcard.bench import transport as echo_bench
from tpmcard.cli import Options, cli, console, print_json, progress
from tpmcard.errors import TpmcardError

SECTIONS = (
    "jcardsim",
    "pcsc",
    "binding",
    "binding-pcsc",
    "mtpm",
    "algorithms",
    "closures",
    "env",
)


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
    type=click.Choice(SECTIONS),
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
    \b
    The services run on a throw-away paired card and swtpm (never yours):
      binding, binding-pcsc  handshake time split TPM/card/host, APDUs per handshake,
                             secure-messaging throughput / plain ECHO (target >= 0.7x)
      mtpm        quote, seal, unseal, extend on the card's mobile TPM / the same on swtpm
      algorithms  each provider at 1 KiB and 64 KiB through the secure channel / `cryptography`,
                  native and software (AES-GCM, SHA3-256) on a simulated card of profile full
      closures    a closure / the same operation as a native card command (HMAC-SHA-256 via
                  the HMAC provider, ECDSA via the count-limited key's own sign), the example
                  closures' steps, and both estimated for a J3R180 from JCAlgTest
    env           `tpmcard env` pack and launch of 256 MiB / raw AES-256-GCM on the same data
                  (target >= 0.8x)
    """
    from tpmcard.bench.suite import owned_processes

    sections = only or SECTIONS
    results: dict[str, Any] = {}
    with owned_processes():  # nothing bench starts outlives it, even on Ctrl-C
        for name in sections:
            with progress(f"measuring {name}"):
                try:
                    results[name] = _measure(name, opts, rounds, pcsc_reader)
                except TpmcardError as exc:
                    results[name] = {"error": str(exc)}
    if as_json:
        print_json(results)
        return
    for name, result in results.items():
        if "error" in result:
            console.print(f"[yellow]{TITLES[name]}: not measured: {result['error']}[/]")
        elif name in ("jcardsim", "pcsc"):
            console.print(_echo_table(f"{TITLES[name]} ({result['path']})", result))
        elif name.startswith("binding"):
            _print_binding(f"{TITLES[name]} ({result['path']})", result)
        elif name == "env":
            _print_rows(TITLES[name], result["rows"], ("path", "tpmcard_MB_s", "raw_MB_s"))
        elif name == "mtpm":
            _print_rows(TITLES[name], result, ("operation", "mtpm_ms", "tpm_ms"))
        elif name == "closures":
            _print_closures(result["rows"])
        else:
            _print_rows(
                TITLES[name],
                result["rows"],
                ("provider", "implementation", "bytes", "card_s", "host_s"),
            )


TITLES = {
    "jcardsim": "(a) raw jCardSim via JPype vs (b) tpmcard in-process transport",
    "pcsc": "(c) raw pyscard vs (d) tpmcard PC/SC transport",
    "binding": "binding: handshake and secure messaging",
    "binding-pcsc": "binding over PC/SC: handshake and secure messaging",
    "mtpm": "mobile TPM on the card vs the same operation on swtpm (ratio = card / swtpm)",
    "algorithms": "algorithm providers via the secure channel vs `cryptography` (card / host)",
    "closures": "closures on the card vs the same operation as a native command (ratio = closure "
    "/ native)",
    "env": "portable environment vs raw AES-256-GCM, same data (ratio = tpmcard / raw MB/s)",
}


def _measure(name: str, opts: Options, rounds: int | None, pcsc_reader: str | None) -> Any:
    if name == "jcardsim":
        return echo_bench.measure_jcardsim(rounds=rounds or 2000)
    if name == "pcsc":
        return echo_bench.measure_pcsc(rounds=rounds or 500, reader=pcsc_reader)
    if name == "env":
        from tpmcard.bench.env import measure as measure_env

        return measure_env()
    from tpmcard.bench.suite import paired_suite

    if name == "algorithms":
        return _measure_algorithms(opts)
    if name == "closures":
        from tpmcard.bench.closures import measure as measure_closures

        with paired_suite(opts.tcti) as suite, suite.factory()() as session:
            return {"rows": measure_closures(session, rounds=rounds or 30)}
    with paired_suite(opts.tcti, pcsc=name == "binding-pcsc") as suite:
        if name.startswith("binding"):
            from tpmcard.bench.binding import measure_binding

            result = measure_binding(suite.factory(), echo_rounds=rounds or 300)
            return {"path": suite.path, **result}
        with suite.factory()() as session:
            from tpmcard.bench.mtpm import compare

            return compare(session.mtpm, suite.tpm, rounds=rounds or 100)


def _measure_algorithms(opts: Options) -> Any:
    """Each provider as the card chose at install, on a simulated card that has every algorithm
    jCardSim has (profile full: native GCM and SHA3), then AES-GCM and SHA3-256 made again with
    the software option (what a J3R180 runs): both rows per provider, the same host baseline."""
    import os

    from tpmcard.bench.algorithms import BOTH, measure
    from tpmcard.bench.suite import paired_suite
    from tpmcard.services import algorithms as A
    from tpmcard.transport.jcardsim import JCardSimConnection

    with paired_suite(opts.tcti, profile="full") as suite:
        with suite.factory()() as session:
            rows = measure(session.algorithms)
        assert isinstance(suite.connection, JCardSimConnection)
        for aid in BOTH:
            suite.connection.delete_applet(aid)
            suite.connection.create_applet(aid, os.urandom(32) + bytes([A.INSTALL_OPTION_SOFTWARE]))
        with suite.factory()() as session:
            software = measure(session.algorithms)
    native = {r["provider"] for r in rows if r["implementation"] == "native"}
    rows += [r for r in software if r["implementation"] == "software" and r["provider"] in native]
    return {"rows": sorted(rows, key=lambda r: (r["bytes"], r["provider"], r["implementation"]))}


def _print_binding(title: str, result: dict[str, Any]) -> None:
    h = result["handshake"]
    console.print(
        f"[bold]{title}[/]\n  handshake: {h['total_ms']:.1f} ms = TPM {h['tpm_ms']:.1f} + "
        f"card {h['card_ms']:.1f} + host {h['host_ms']:.1f} ms; {h['apdus']:g} APDUs"
    )
    table = Table(title_justify="left")
    for column in ("payload bytes", "plain ECHO µs", "secured ECHO µs", "plain / secured"):
        table.add_column(column, justify="right")
    for size, row in result["throughput"].items():
        ok = row["ratio"] >= result["target_ratio"]
        style = "green" if ok else "yellow"
        table.add_row(
            size,
            f"{row['plain_us']:.1f}",
            f"{row['secure_us']:.1f}",
            f"[{style}]{row['ratio']:.2f}x[/]",
        )
    console.print(table)


def _print_rows(title: str, rows: Any, keys: tuple[str, ...]) -> None:
    table = Table(title=title, title_justify="left")
    items = list(rows.items()) if isinstance(rows, dict) else [(None, r) for r in rows]
    for column in keys:
        table.add_column(column)
    table.add_column("ratio", justify="right")
    for label, row in items:
        cells = []
        for key in keys:
            value = label if (label is not None and key == keys[0]) else row.get(key, "")
            cells.append(f"{value:.3g}" if isinstance(value, float) else str(value))
        table.add_row(*cells, f"{row.get('ratio', float('nan')):.2f}x")
    console.print(table)


def _print_closures(rows: list[dict[str, Any]]) -> None:
    table = Table(title=TITLES["closures"], title_justify="left")
    for column in (
        "operation",
        "steps",
        "closure ms",
        "native ms",
        "ratio",
        "J3R180 est.",
        "native est.",
        "est. ratio",
    ):
        table.add_column(column, justify="left" if column == "operation" else "right")
    for row in rows:
        if "error" in row:
            table.add_row(row["operation"], f"[yellow]not measured: {row['error']}[/]")
            continue

        table.add_row(
            row["operation"],
            str(row["steps"]),
            _cell(row, "closure_ms"),
            _cell(row, "native_ms"),
            _cell(row, "ratio", "x"),
            _cell(row, "closure_estimate_ms"),
            _cell(row, "native_estimate_ms"),
            _cell(row, "estimate_ratio", "x"),
        )
    console.print(table)
    console.print(
        '  estimates: a J3R180 from JCAlgTest per-operation times (docs/closures.md "Cost"); '
        "jCardSim runs the interpreter on the host's JIT"
    )


def _cell(row: dict[str, Any], key: str, suffix: str = "") -> str:
    value = row.get(key)
    return "—" if value is None else f"{value:.3g}{suffix}"
