"""``tpmcard alg``: list the on-card algorithm providers, run one, replace one.

Presentation only: every card operation is a :class:`tpmcard.services.algorithms.Algorithms` call
on the bound session: ``tpmcard.connect()`` (the secured session) supplies ``session.algorithms``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from rich.table import Table

from tpmcard.cli import JSON_HELP, Options, cli, console, print_json
from tpmcard.errors import TpmcardError
from tpmcard.services import algorithms as A


@contextmanager
def _algorithms(opts: Options) -> Iterator[A.Algorithms]:
    """The registry of the paired card, over a secured session; closed afterwards."""
    import tpmcard

    with tpmcard.connect(reader=opts.reader, tcti=opts.tcti) as session:
        yield session.algorithms


@cli.group("alg")
def alg_group() -> None:
    """Replaceable on-card algorithms (docs/algorithms.md)."""


@alg_group.command("list")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_obj
def list_providers(opts: Options, as_json: bool) -> None:
    """List the registered providers: algorithm, version, capabilities, state, and whether each
    runs the card's own algorithm (native) or card code over the card's primitives (software),
    as it chose at install."""
    with _algorithms(opts) as alg:
        providers = alg.list()
    if as_json:
        print_json(
            [
                {
                    "aid": p.aid.hex().upper(),
                    "algorithm": p.name,
                    "version": f"{p.version[0]}.{p.version[1]}" if p.version else None,
                    "capabilities": list(p.capability_names),
                    "state": A.STATE_NAMES.get(p.state, str(p.state)),
                    "implementation": p.implementation_name,
                }
                for p in providers
            ]
        )
        return
    table = Table(title="algorithm providers", title_justify="left")
    for column in ("AID", "algorithm", "version", "capabilities", "state", "implementation"):
        table.add_column(column)
    for p in providers:
        version = f"{p.version[0]}.{p.version[1]}" if p.version else "-"
        table.add_row(
            p.aid.hex().upper(),
            p.name,
            version,
            ",".join(p.capability_names),
            A.STATE_NAMES.get(p.state, "?"),
            p.implementation_name or "-",
        )
    console.print(table)


@alg_group.command("run")
@click.argument("operation", type=click.Choice(["digest", "mac-demo", "aead-demo"]))
@click.argument("data", type=click.File("rb"), default="-")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_obj
def run(opts: Options, operation: str, data: Any, as_json: bool) -> None:
    """Run a provider on DATA (a file, default stdin).

    digest: SHA3-256; mac-demo, aead-demo: with a fresh card-held key, deleted afterwards.
    """
    payload = data.read()

    def show(result: bytes) -> None:
        if as_json:
            print_json({"operation": operation, "result": result.hex()})
        else:
            click.echo(result.hex())

    with _algorithms(opts) as alg:
        if operation == "digest":
            show(alg.digest(payload))
        elif operation == "mac-demo":
            key = alg.generate_key(A.KEY_HMAC_SHA256)
            try:
                show(alg.mac(key, payload))
            finally:
                alg.delete_key(key)
        else:
            key = alg.generate_key(A.KEY_AES_128)
            try:
                # A fresh key used once and deleted: a fixed nonce is safe here.
                text = payload[: alg.max_aead_text()]
                ct = alg.encrypt(key, bytes(12), text)
                if alg.decrypt(key, bytes(12), ct) != text:
                    raise TpmcardError("the provider's AEAD round trip failed")
                show(ct)
            finally:
                alg.delete_key(key)


@alg_group.command("replace")
@click.argument("new_aid")
@click.option("--withdraw", "old_aid", help="AID of the provider to unregister afterwards.")
@click.pass_obj
def replace(opts: Options, new_aid: str, old_aid: str | None) -> None:
    """Register the (already installed) provider NEW_AID; it takes over its algorithm."""
    try:
        new, old = bytes.fromhex(new_aid), bytes.fromhex(old_aid) if old_aid else None
    except ValueError as e:
        raise click.BadParameter(f"an AID is hex: {e}") from e
    with _algorithms(opts) as alg:
        info = alg.register(new)
        if old is not None:
            alg.unregister(old)
    version = f"{info.version[0]}.{info.version[1]}" if info.version else "?"
    console.print(f"{info.name} now served by {new_aid.upper()} (version {version})")
