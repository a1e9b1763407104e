"""``tpmcard alg``: list the on-card algorithm providers, run one, replace one.

Presentation only: every card operation is a :class:`tpmcard.algorithms.Algorithms` call on the
bound session. ``tpmcard.connect()`` (the secured session) supplies ``session.algorithms``; until
it is wired these commands say so instead of reaching a provider outside a bound session.
"""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from tpmcard import algorithms as A
from tpmcard.cli import Options, cli, console
from tpmcard.errors import NotSupportedError, TpmcardError


def _algorithms(opts: Options) -> Any:
    import tpmcard

    connect = getattr(tpmcard, "connect", None)
    if connect is None:
        raise NotSupportedError(
            "this build has no bound session (tpmcard.connect); algorithms need one"
        )
    session = connect(opts)
    algorithms = getattr(session, "algorithms", None)
    return algorithms if algorithms is not None else A.Algorithms(session)


@cli.group("alg")
def alg_group() -> None:
    """Replaceable on-card algorithms (docs/algorithms.md)."""


@alg_group.command("list")
@click.pass_obj
def list_providers(opts: Options) -> None:
    """List the registered providers: id, version, capabilities, state."""
    try:
        providers = _algorithms(opts).list()
    except TpmcardError as e:
        raise click.ClickException(str(e)) from e
    table = Table(title="algorithm providers", title_justify="left")
    for column in ("AID", "algorithm", "version", "capabilities", "state"):
        table.add_column(column)
    for p in providers:
        version = f"{p.version[0]}.{p.version[1]}" if p.version else "-"
        table.add_row(
            p.aid.hex().upper(),
            p.name,
            version,
            ",".join(p.capability_names),
            A.STATE_NAMES.get(p.state, "?"),
        )
    console.print(table)


@alg_group.command("run")
@click.argument("operation", type=click.Choice(["digest", "mac-demo", "aead-demo"]))
@click.argument("data", type=click.File("rb"), default="-")
@click.pass_obj
def run(opts: Options, operation: str, data: Any) -> None:
    """Run a provider on DATA (a file, default stdin): digest (SHA3-256), or a demo with a fresh card key."""
    payload = data.read()
    try:
        alg = _algorithms(opts)
        if operation == "digest":
            click.echo(alg.digest(payload).hex())
        elif operation == "mac-demo":
            key = alg.generate_key(A.KEY_HMAC_SHA256)
            try:
                click.echo(alg.mac(key, payload).hex())
            finally:
                alg.delete_key(key)
        else:
            key = alg.generate_key(A.KEY_AES_128)
            try:
                ct = alg.encrypt(key, bytes(12), payload[: alg.max_aead_text()])
                assert alg.decrypt(key, bytes(12), ct) == payload[: alg.max_aead_text()]
                click.echo(ct.hex())
            finally:
                alg.delete_key(key)
    except TpmcardError as e:
        raise click.ClickException(str(e)) from e


@alg_group.command("replace")
@click.argument("new_aid")
@click.option("--withdraw", "old_aid", help="AID of the provider to unregister afterwards.")
@click.pass_obj
def replace(opts: Options, new_aid: str, old_aid: str | None) -> None:
    """Register the (already installed) provider NEW_AID; it takes over its algorithm."""
    try:
        alg = _algorithms(opts)
        info = alg.register(bytes.fromhex(new_aid))
        if old_aid:
            alg.unregister(bytes.fromhex(old_aid))
    except (TpmcardError, ValueError) as e:
        raise click.ClickException(str(e)) from e
    version = f"{info.version[0]}.{info.version[1]}" if info.version else "?"
    console.print(f"{info.name} now served by {new_aid.upper()} (version {version})")
