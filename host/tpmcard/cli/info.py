"""``tpmcard info`` and ``tpmcard demo``."""

from __future__ import annotations

import hashlib
from typing import Any

import click
from rich.table import Table

from tpmcard import constants as C
from tpmcard.cli import Options, cli, console, kv_table, print_json, progress
from tpmcard.ecpoint import point_bytes
from tpmcard.errors import InvalidPinError, TpmcardError
from tpmcard.services import binding, client, pins, session
from tpmcard.services import demo as tour
from tpmcard.services.algorithms import (
    STATE_NAMES,
    ProviderInfo,
)
from tpmcard.services.mtpm import info as mobile_tpm_info
from tpmcard.services.pairings import PairingStore
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
                **_profile(card.connection),
                **_memory(card.connection),
            }


def _profile(connection: object) -> dict[str, Any]:
    """``profile``: the simulated card's profile, or null and ``profile_reason`` why."""
    profile = getattr(connection, "profile", None)
    if profile is None:
        return {
            "profile": None,
            "profile_reason": "only the in-process simulator can be asked; a card served by "
            "`tpmcard sim serve` prints its profile when it starts, a physical card has none",
        }
    return {"profile": str(profile)}


def _memory(connection: object) -> dict[str, Any]:
    """``memory`` (what the simulator measured at install) or null, and ``memory_reason`` why."""
    report = getattr(connection, "memory_report", None)
    if report is None:
        return {
            "memory": None,
            "memory_reason": "measured only by the in-process simulator at install; a card over "
            "PC/SC cannot be asked for per-applet memory (docs/core-applet.md has the figures)",
        }
    measured = report()
    if measured is None:
        return {
            "memory": None,
            "memory_reason": "this simulated card was installed before the simulator measured "
            "memory: `tpmcard sim reset` installs it afresh",
        }
    return {"memory": measured}


def _tpm(opts: Options, pcrs: list[int]) -> dict[str, Any]:
    with progress("starting the TPM"):
        with Tpm.open(client.resolve_tcti(opts.tcti)) as tpm:
            info = dict(tpm.info())
            info["tcti"] = tpm.tcti
            info["pcrs_sha256"] = {str(i): v.hex() for i, v in tpm.pcr_read(pcrs).items()}
            return info


def _mobile_tpm(opts: Options) -> dict[str, Any]:
    """The card's mobile TPM (EK, AK, status) over a secured session, when this host is paired
    with the card; otherwise only ``paired: false``. ``host_tpm`` is the TPM the session used."""
    store = PairingStore()
    with progress("opening the card"):
        card = client.open_card(opts.reader)
    try:
        record = store.load(card.info.card_id)
        if record is None:
            return {
                "paired": False,
                "card_id": card.info.card_id.hex(),
                "hint": "pair this host with the card (`tpmcard pair`) to reach its mobile TPM",
            }
        with progress("opening the TPM and a secured session"):
            with Tpm.open(client.resolve_tcti(opts.tcti)) as tpm:
                host_tpm = {
                    "tcti": tpm.tcti,
                    "embedded": tpm.swtpm is not None,
                }
                if tpm.swtpm is not None:
                    host_tpm["note"] = (
                        "the embedded swtpm's TCTI is valid only while tpmcard runs; "
                        "`tpmcard tpm serve` keeps it running for tpm2-tools"
                    )
                with session.connect(connection=card.connection, tpm=tpm, store=store) as bound:
                    return {
                        "paired": True,
                        "slot": bound.slot,
                        "host_tpm": host_tpm,
                        **mobile_tpm_info(bound.mtpm),
                    }
    finally:
        card.close()


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_obj
def info(opts: Options, as_json: bool) -> None:
    """Show the readers, the card, the TPM and, when paired, the card's mobile TPM."""
    result: dict[str, Any] = {"readers": _readers()}
    for name, fetch in (("card", lambda: _card(opts)), ("tpm", lambda: _tpm(opts, HOST_PCRS))):
        try:
            result[name] = fetch()
        except TpmcardError as exc:
            result[name] = {"error": str(exc)}
    if "error" in result["card"] or "error" in result["tpm"]:
        result["mtpm"] = {"error": "needs the card and the TPM (see above)"}
    else:
        try:
            result["mtpm"] = _mobile_tpm(opts)
        except TpmcardError as exc:
            result["mtpm"] = {"error": str(exc)}
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
    _print_section("Mobile TPM (on the card)", result["mtpm"])
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
        tour.echo_check(c.core.echo, (0, 255, 256, 1024, C.MAX_PLAIN_DATA))
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
                listing = binding.list_pairings(card, store=store)
                if listing.this_host_slot is None:
                    attempt = "replace"
            if attempt is not None:
                console.print(
                    f"   This host is not paired with card {card_id.hex()}"
                    + (" any more" if attempt == "replace" else "")
                    + "."
                )
                pin = _demo_personalise(opts, card, store)
                console.print(
                    "   The embedded TPM's EK certificate is checked against its own swtpm-localca "
                    "(the demo trusts the TPM it made); the local attestation CA certifies its AK "
                    "and its key is installed on the card if the card has none."
                )
                with progress("enrolling the TPM's AK with the attestation CA"):
                    enrollment = pins.personalise_embedded(card, tpm, pin)
                with progress("creating TPM keys and pairing"):
                    result = binding.pair(
                        card,
                        tpm,
                        pin,
                        store=store,
                        replace=attempt == "replace",
                        enrollment=enrollment,
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
                tour.echo_check(bound.core.echo, sizes, step=11)
                console.print(
                    f"   ECHO through secure messaging (encrypted, MACed, status word inside) ok "
                    f"at {', '.join(map(str, sizes))} bytes, {bound.exchanges - before} APDUs."
                )
                console.print("5. The mobile TPM on the card, through the secured session.")
                tour.mtpm_tour(bound.mtpm, console.print, _print_pcrs)
                console.print("6. Replaceable algorithms on the card, through the registry.")
                restored = tour.algorithms_tour(bound.algorithms, console.print, _print_providers)
                console.print(
                    "   v1 restored, demo keys deleted: the registry is as the demo found it."
                    if restored
                    else "   [yellow]v1 restored, but the registry differs from before the demo.[/]"
                )
    finally:
        card.close()


def _demo_personalise(opts: Options, card: client.Card, store: PairingStore) -> str:
    """A card pairs only once its PIN and PUK are no longer the factory defaults. The demo
    changes them on its own throw-away simulated card, to random values it shows; a real card
    it leaves alone: its owner changes the PIN and pairs (`tpmcard pin change`, `tpmcard pair`)."""
    if client.resolve_reader(opts.reader).strip().lower() != "sim":
        raise TpmcardError(
            "the demo pairs only its own simulated card; pair this card yourself: "
            "`tpmcard pin change`, `tpmcard pin change --puk`, then `tpmcard pair`"
        )
    pin, puk = pins.random_pin_and_puk()
    try:
        pins.personalise(card, pin, puk, store=store)
    except InvalidPinError as exc:
        raise TpmcardError(
            "this simulated card's PIN is no longer the factory default, so the demo cannot "
            "pair it: pair with `tpmcard pair` and your PIN, or start afresh (`tpmcard sim reset`)"
        ) from exc
    console.print(
        f"   A card refuses to pair while its PIN or PUK is the factory default "
        f"({pins.DEFAULT_PIN} / {pins.DEFAULT_PUK}). The demo changed them on its "
        f"throw-away simulated card to PIN {pin} and PUK {puk} (as `tpmcard pin change` does); "
        "note them to use `tpmcard pin`/`pair`/`unpair` on this simulated card."
    )
    return pin


def _print_pcrs(title: str, values: dict[int, bytes]) -> None:
    console.print(kv_table(title, [(str(i), v.hex()) for i, v in values.items()]))


def _print_providers(title: str, providers: list[ProviderInfo]) -> None:
    table = Table(title=title, title_justify="left")
    for column in ("algorithm", "version", "state", "runs", "AID"):
        table.add_column(column)
    for p in providers:
        version = f"{p.version[0]}.{p.version[1]}" if p.version else "-"
        state = STATE_NAMES.get(p.state, str(p.state))
        table.add_row(p.name, version, state, p.implementation_name, p.aid.hex())
    console.print(table)
    software = sorted({p.name for p in providers if p.implementation_name == "software"})
    if software:
        console.print(
            "   Computed in software by card code, over the card's own primitives (this card "
            f"lacks them or the provider is card code by design): {', '.join(software)}."
        )
