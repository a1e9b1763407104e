"""``tpmcard closure example``: the example closures shipped with tpmcard (docs/closures.md
"Examples"), listed, and shown as assembler source with your parameters.

Presentation only: :mod:`tpmcard.services.closures.examples` holds the sources and renders them."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from tpmcard.cli import JSON_HELP, Options, console, print_json
from tpmcard.cli import mtpm as cli_mtpm  # open_mtpm looked up per call: one seam to replace
from tpmcard.cli.closure import closure
from tpmcard.services.closures import examples as E


def example_source(name: str) -> str:
    """The shipped source of example ``name`` (``tpmcard closure build NAME``)."""
    return E.default_source(name)


@closure.group()
def example() -> None:
    """The example closures shipped with tpmcard (docs/closures.md "Examples").

    \b
    list   their names, what they do, their parameters
    show   the source of one, with parameters set (--set NAME=VALUE), to build
    Each builds as it is, with test secrets: `tpmcard closure build NAME -o X.img`.
    """


@example.command("list")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def list_examples(as_json: bool) -> None:
    """The example closures and their parameters."""
    rows = [
        {
            "name": e.name,
            "summary": e.summary,
            "parameters": {p.name: p.help for p in e.parameters},
        }
        for e in E.EXAMPLES.values()
    ]
    if as_json:
        print_json(rows)
        return
    table = Table(title="example closures", title_justify="left")
    for column in ("name", "what", "parameters (--set NAME=VALUE)"):
        table.add_column(column)
    for row in rows:
        params = row["parameters"]
        assert isinstance(params, dict)
        table.add_row(
            str(row["name"]), str(row["summary"]), "\n".join(f"{k}: {v}" for k, v in params.items())
        )
    console.print(table)


@example.command()
@click.argument("name", type=click.Choice(E.names()))
@click.option("--set", "settings", multiple=True, metavar="NAME=VALUE",
              help="a parameter (repeatable): `tpmcard closure example list`")  # fmt: skip
@click.option("--from-session", is_flag=True,
              help="pcrgate: EXPECTED from the card's combined PCR view now (host PCRs as this "
                   "session's quote proved them, card PCRs 9..23); needs INDICES")  # fmt: skip
@click.option("-o", "--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="write the source here (default: print it)")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_obj
def show(
    opts: Options,
    name: str,
    settings: tuple[str, ...],
    from_session: bool,
    out_path: Path | None,
    as_json: bool,
) -> None:
    """The assembler source of example NAME with these parameters, ready for
    `tpmcard closure build`."""
    try:
        values = E.parse_values(name, settings)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--set") from None
    if from_session:
        if name != "pcrgate" or "INDICES" not in values:
            raise click.UsageError("--from-session is for pcrgate, with --set INDICES=...")
        with cli_mtpm.open_mtpm(opts) as mtpm:
            view = mtpm.pcr_read(range(E.PCR_COUNT))
        indices = values["INDICES"]
        assert isinstance(indices, tuple)
        values["EXPECTED"] = E.pcr_policy_digest(view, indices)
    try:
        source = E.source(name, **values)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--set") from None
    if out_path is not None:
        out_path.write_text(source)
    if as_json:
        print_json({"name": name, "source": source, "file": str(out_path) if out_path else None})
    elif out_path is None:
        click.echo(source, nl=False)
    else:
        console.print(f"{name}: source written to {out_path}")
