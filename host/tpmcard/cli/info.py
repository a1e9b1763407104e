"""``tpmcard info`` and ``tpmcard demo``."""

from __future__ import annotations

import hashlib
from typing import Any

import click

from tpmcard import client, session
from tpmcard import constants as C
from tpmcard.cli import Options, cli, console, kv_table, print_json, progress
from tpmcard.core import point_bytes
from tpmcard.errors import TpmcardError
from tpmcard.pairings import PairingStore
from tpmcard.tpm import Tpm
from tpmcard.transport import list_readers

HOST_PCRS = list(range(9))  # PCRs 0-8 come from the host TPM (mTPM design, Molina et al.)


def _readers() -> dict[str, Any]:
    try:
        return {"pcsc": list_readers(), "error": None}
    except TpmcardError as exc:
        return {"pcsc": [], "error": str(exc)}


def _card(opts: Options) -> dict[str, Any]:
    with progress("opening the card (the first start of the simulator's JVM takes a moment)"):
        with client.open_card(opts.reader) as card:
            key = card.core.identity_key()
            point = point_bytes(key)
            return {
                "reader": card.connection.name,
                "atr": card.connection.atr.hex(),
                **card.info.as_dict(),
                "identity_key": point.hex(),
                "identity_key_sha256": hashlib.sha256(point).hexdigest(),
            }


def _tpm(opts: Options, pcrs: list[int]) -> dict[str, Any]:
    with progress("starting the TPM"):
        with Tpm.open(client.resolve_tcti(opts.tcti)) as tpm:
            info = dict(tpm.info())
            info["tcti"] = tpm.tcti
            info["pcrs_sha256"] = {str(i): v.hex() for i, v in tpm.pcr_read(pcrs).items()}
            return info


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_obj
def info(opts: Options, as_json: bool) -> None:
    """Show the readers, the card and the TPM."""
    result: dict[str, Any] = {"readers": _readers()}
    for name, fetch in (("card", lambda: _card(opts)), ("tpm", lambda: _tpm(opts, HOST_PCRS))):
        try:
            result[name] = fetch()
        except TpmcardError as exc:
            result[name] = {"error": str(exc)}
    if as_json:
        print_json(result)
        return
    readers = result["readers"]
    console.print(
        kv_table(
            "Readers",
            [
                (
                    "PC/SC",
                    ", ".join(readers["pcsc"]) or f"none ({readers['error'] or 'no readers'})",
                ),
                ("simulator", "sim (in-process jCardSim)"),
            ],
        )
    )
    _print_section("Card", result["card"])
    _print_section("TPM", result["tpm"])
    if "error" in result["card"] or "error" in result["tpm"]:
        raise SystemExit(1)


def _print_section(title: str, data: dict[str, Any]) -> None:
    rows = []
    for key, value in data.items():
        if isinstance(value, dict):
            value = "\n".join(f"{k}: {v}" for k, v in value.items())
        elif isinstance(value, list):
            value = ", ".join(map(str, value))
        rows.append((key, str(value)))
    console.print(kv_table(title, rows))


@cli.command()
@click.pass_obj
def demo(opts: Options) -> None:
    """A tour of tpmcard on the embedded default (jCardSim + swtpm), or the given card and TPM."""
    console.rule("[bold]tpmcard demo")
    console.print("1. The card: select the core applet, read its identity key.")
    card = _card(opts)
    _print_section("Card", card)
    console.print("2. The host TPM: PCRs 0-8, which the mobile TPM inherits from the host.")
    tpm = _tpm(opts, HOST_PCRS)
    _print_section("TPM", tpm)
    console.print("3. The transport: ECHO round trips of 0 to the card's maximum.")
    with client.open_card(opts.reader) as c:
        for size in (0, 255, 256, 1024, C.MAX_PLAIN_DATA):
            data = bytes((i * 7) & 0xFF for i in range(size))
            if c.core.echo(data) != data:
                raise TpmcardError(f"ECHO of {size} bytes came back altered")
        console.print(f"   ECHO ok at 0..{C.MAX_PLAIN_DATA} bytes, {c.apdu.exchanges} APDUs.")
    console.print("4. The binding: pair this host's TPM with the card (once), open a session.")
    _demo_binding(opts)
    console.rule("[bold green]demo complete")


def _demo_binding(opts: Options) -> None:
    store = PairingStore()
    with progress("opening the card and the TPM"):
        card = client.open_card(opts.reader)
    try:
        with Tpm.open(client.resolve_tcti(opts.tcti)) as tpm:
            card_id = card.info.card_id
            record = store.load(card_id)
            attempt = None
            if record is None:
                attempt = "pair"
            else:
                listing = session.list_pairings(card, store=store)
                if listing.this_host_slot is None:
                    attempt = "replace"
            if attempt is not None:
                console.print(
                    f"   This host is not paired with card {card_id.hex()}"
                    + (" any more" if attempt == "replace" else "")
                    + f": pairing with the card's DEFAULT PIN {session.DEFAULT_PIN} "
                    "(change it with `tpmcard pin change`; pair yourself with `tpmcard pair`)."
                )
                with progress("creating TPM keys and pairing"):
                    result = session.pair(
                        card, tpm, session.DEFAULT_PIN, store=store, replace=attempt == "replace"
                    )
                record = result.record
                console.print(
                    f"   Paired: slot {record.slot}, binding key bound to PCRs "
                    f"{','.join(map(str, record.policy.pcrs))}."
                )
            elif record is not None:
                console.print(f"   Already paired with card {card_id.hex()} (slot {record.slot}).")
            with progress("handshake"):
                bound = session.connect(connection=card.connection, tpm=tpm, store=store)
            with bound:
                console.print(
                    f"   Secured session open ({bound.exchanges} APDUs so far: SELECT, GET DATA, "
                    "SESSION INIT, SESSION AUTH). Host PCRs the TPM quoted and the card verified:"
                )
                console.print(
                    kv_table(
                        "Host PCRs 0-8 (sha256), as the card holds them for this session",
                        [(str(i), bound.host_pcrs[i].hex()) for i in HOST_PCRS],
                    )
                )
                before = bound.exchanges
                sizes = (0, 255, 1024, C.SM_MAX_PAYLOAD)
                for size in sizes:
                    data = bytes((i * 11) & 0xFF for i in range(size))
                    if bound.core.echo(data) != data:
                        raise TpmcardError(f"protected ECHO of {size} bytes came back altered")
                console.print(
                    f"   ECHO through secure messaging (encrypted, MACed, status word inside) ok "
                    f"at {', '.join(map(str, sizes))} bytes, {bound.exchanges - before} APDUs."
                )
    finally:
        card.close()
