"""``tpmcard pair``, ``unpair``, ``pairings`` and ``pin``: the TPM-card binding from the shell.

PINs are never taken from the command line or the environment (both leak: ``ps``, shell
history, ``/proc/*/environ``). They come from a hidden prompt, or, for scripts, from a file
descriptor (``--pin-fd 3 3<pinfile``): one line per secret, read in the order asked, so one
descriptor may carry several (``--pin-fd 3 --new-pin-fd 3``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import click

from tpmcard.cli import JSON_HELP, Options, cli, console, kv_table, print_json, progress
from tpmcard.services import binding, client, pins
from tpmcard.services.pairings import PairingStore
from tpmcard.tpm import Tpm


class Secrets:
    """Reads PINs from file descriptors (a line each) or a hidden prompt; never echoes them."""

    def __init__(self) -> None:
        self._files: dict[int, IO[str]] = {}

    def read(self, fd: int | None, prompt: str, *, confirm: bool = False) -> str:
        if fd is None:
            value = click.prompt(
                prompt, hide_input=True, confirmation_prompt=confirm, show_default=False
            )
            return str(value)
        stream = self._files.get(fd)
        if stream is None:
            try:
                stream = os.fdopen(fd, "r", closefd=False)
            except OSError as exc:
                raise click.BadParameter(
                    f"file descriptor {fd} is not open ({exc.strerror})"
                ) from None
            self._files[fd] = stream
        line = stream.readline()
        if not line:
            raise click.BadParameter(f"file descriptor {fd} has no line left for the {prompt}")
        return line.rstrip("\r\n")


def parse_pcrs(text: str) -> tuple[int, ...]:
    """``0,1,2,7`` or ranges ``0-7,16`` -> indices."""
    out: set[int] = set()
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part:
                low, high = (int(x) for x in part.split("-", 1))
                out.update(range(low, high + 1))
            elif part:
                out.add(int(part))
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected PCR indices such as 0,1,2,7 or 0-7") from None
    if not out or min(out) < 0 or max(out) > 23:
        raise click.BadParameter(f"{text!r}: PCR indices are 0..23, at least one")
    return tuple(sorted(out))


def _pcr_list(pcrs: tuple[int, ...]) -> str:
    return ",".join(map(str, pcrs))


@contextmanager
def _card(opts: Options) -> Iterator[client.Card]:
    with progress("opening the card"):
        card = client.open_card(opts.reader)
    try:
        yield card
    finally:
        card.close()


@contextmanager
def _tpm(opts: Options) -> Iterator[Any]:
    with progress("opening the TPM"):
        tpm = Tpm.open(client.resolve_tcti(opts.tcti))
    try:
        yield tpm
    finally:
        tpm.close()


PIN_FD_HELP = "Read the PIN from this file descriptor (one line) instead of a prompt."
EK_ROOTS_HELP = (
    "Directory of the TPM manufacturers' root and intermediate certificates (PEM or DER) the "
    "EK certificate must chain to (default: $TPMCARD_EK_ROOTS, else $TPMCARD_STATE_DIR/ek-roots)."
)


@cli.command()
@click.option(
    "--pcrs",
    metavar="LIST",
    help="PCRs the binding key is bound to, e.g. 0,1,2,3,4,5,6,7 (the default) or 0-7,14. "
    "With --update-policy the default is the PCRs of the current pairing.",
)
@click.option("--pin-fd", type=int, metavar="N", help=PIN_FD_HELP)
@click.option(
    "--replace", is_flag=True, help="Already paired: remove the old pairing, pair with new keys."
)
@click.option(
    "--update-policy",
    is_flag=True,
    help="Already paired, and the host's PCRs changed with your approval (firmware or boot "
    "loader update): bind a new key to the current PCR values, then remove the old pairing.",
)
@click.option("--ek-roots", type=click.Path(file_okay=False, path_type=Path), help=EK_ROOTS_HELP)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_obj
def pair(
    opts: Options,
    pcrs: str | None,
    pin_fd: int | None,
    replace: bool,
    update_policy: bool,
    ek_roots: Path | None,
    as_json: bool,
) -> None:
    """Pair this host's TPM with the card (needs the card's PIN).

    The card records this host's TPM binding key and attestation key (AK), and the PCR values
    the binding key is bound to; sessions then open only with this TPM in this state. The AK
    must be certified by the attestation CA whose key the card holds (`tpmcard ca install`):
    the TPM's enrolled AK is used, or it is enrolled now with the local CA (`tpmcard ca
    enroll`). PCRs 16 and 23 are refused (resettable). This host keeps the pairing record in
    $TPMCARD_STATE_DIR/pairings.
    """
    if replace and update_policy:
        raise click.UsageError("--replace and --update-policy exclude each other")
    chosen = parse_pcrs(pcrs) if pcrs is not None else None
    store = PairingStore()
    with _card(opts) as card, _tpm(opts) as tpm:
        pin = Secrets().read(pin_fd, "card PIN")
        with progress("creating TPM keys and pairing"):
            result = binding.pair(
                card,
                tpm,
                pin,
                pcrs=chosen,
                store=store,
                replace=replace,
                update_policy=update_policy,
                ek_roots=ek_roots,
            )
    record = result.record
    rows = [
        ("card", record.card_id.hex()),
        ("slot", str(record.slot)),
        ("PCR policy", f"sha256:{_pcr_list(record.policy.pcrs)}"),
        ("binding key", record.pairing.binding_name.hex()),
        ("record", str(store.path(record.card_id))),
    ]
    if result.replaced_slot is not None:
        rows.append(("removed", f"the previous pairing in slot {result.replaced_slot}"))
    if as_json:
        print_json(
            {
                "card_id": record.card_id.hex(),
                "slot": record.slot,
                "pcrs": list(record.policy.pcrs),
                "binding_name": record.pairing.binding_name.hex(),
                "record": str(store.path(record.card_id)),
                "replaced_slot": result.replaced_slot,
            }
        )
    else:
        console.print(kv_table("Paired", rows))


@cli.command()
@click.argument("slot", type=click.IntRange(0, 255), required=False)
@click.option("--this-host", is_flag=True, help="Remove this host's own pairing.")
@click.option("--pin-fd", type=int, metavar="N", help=PIN_FD_HELP)
@click.pass_obj
def unpair(opts: Options, slot: int | None, this_host: bool, pin_fd: int | None) -> None:
    """Remove a pairing from the card: SLOT (any host's; see `tpmcard pairings`) or --this-host."""
    if (slot is None) == (not this_host):
        raise click.UsageError("give either a SLOT or --this-host")
    with _card(opts) as card:
        pin = Secrets().read(pin_fd, "card PIN")
        removed = binding.unpair(card, pin, slot)
    console.print(f"removed the pairing in slot {removed} of card {card.info.card_id.hex()}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_obj
def pairings(opts: Options, as_json: bool) -> None:
    """The card's pairing table (no PIN needed) and this host's pairing records."""
    store = PairingStore()
    with _card(opts) as card:
        listing = binding.list_pairings(card, store=store)
    records = store.records()
    data: dict[str, Any] = {
        "card": {
            "card_id": listing.card_id.hex(),
            "capacity": listing.table.capacity,
            "slots": [
                {
                    "slot": s.slot,
                    "binding_name": s.binding_name.hex(),
                    "pcrs": list(s.policy.pcrs),
                    "pcr_digest": s.policy.pcr_digest.hex(),
                    "this_host": s.slot == listing.this_host_slot,
                }
                for s in listing.table.slots
            ],
        },
        "host": [
            {
                "card_id": r.card_id.hex(),
                "slot": r.slot,
                "pcrs": list(r.policy.pcrs),
                "paired_at": r.paired_at,
                "tpm": r.tpm,
                "on_this_card": r.card_id == listing.card_id,
                "held_by_card": r.card_id == listing.card_id and listing.this_host_slot is not None,
            }
            for r in records
        ],
    }
    if as_json:
        print_json(data)
        return
    from rich.table import Table

    table = Table(
        title=f"Card {listing.card_id.hex()}: {len(listing.table.slots)} of "
        f"{listing.table.capacity} slots used",
        title_justify="left",
    )
    for column in ("slot", "binding key (TPM Name)", "PCRs", "host"):
        table.add_column(column)
    for entry in data["card"]["slots"]:
        table.add_row(
            str(entry["slot"]),
            entry["binding_name"][:20] + "…",
            _pcr_list(tuple(entry["pcrs"])),
            "this host" if entry["this_host"] else "",
        )
    console.print(table)
    if not records:
        console.print("This host is paired with no card (`tpmcard pair`).")
    for r in data["host"]:
        state = (
            "in use"
            if r["held_by_card"]
            else "not held by this card any more"
            if r["on_this_card"]
            else "another card"
        )
        console.print(
            f"This host: card {r['card_id']} slot {r['slot']} PCRs {_pcr_list(tuple(r['pcrs']))}"
            f" ({state}; paired {r['paired_at']}, TPM {r['tpm']})"
        )


@cli.group()
def pin() -> None:
    """The card's PIN and PUK: status, change, unblock."""


@pin.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_obj
def pin_status(opts: Options, as_json: bool) -> None:
    """Tries left for the PIN and the PUK (uses no try)."""
    with _card(opts) as card:
        status = pins.pin_status(card)
    if as_json:
        print_json({"pin_tries": status.pin_tries, "puk_tries": status.puk_tries})
        return
    pin_text = f"{status.pin_tries} tries left" if status.pin_tries else "BLOCKED (pin unblock)"
    puk_text = f"{status.puk_tries} tries left" if status.puk_tries else "BLOCKED for good"
    console.print(kv_table("PIN status", [("PIN", pin_text), ("PUK", puk_text)]))


@pin.command("change")
@click.option("--puk", "change_puk", is_flag=True, help="Change the PUK instead of the PIN.")
@click.option("--pin-fd", type=int, metavar="N", help="Read the current PIN (or PUK) from fd N.")
@click.option("--new-pin-fd", type=int, metavar="N", help="Read the new PIN (or PUK) from fd N.")
@click.pass_obj
def pin_change(opts: Options, change_puk: bool, pin_fd: int | None, new_pin_fd: int | None) -> None:
    """Change the PIN (4-16 characters) or, with --puk, the PUK (8-16)."""
    what = "PUK" if change_puk else "PIN"
    secrets = Secrets()
    with _card(opts) as card:
        old = secrets.read(pin_fd, f"current {what}")
        new = secrets.read(new_pin_fd, f"new {what}", confirm=True)
        if change_puk:
            pins.change_puk(card, old, new)
        else:
            pins.change_pin(card, old, new)
    console.print(f"{what} changed")


@pin.command("unblock")
@click.option("--puk-fd", type=int, metavar="N", help="Read the PUK from fd N.")
@click.option("--new-pin-fd", type=int, metavar="N", help="Read the new PIN from fd N.")
@click.pass_obj
def pin_unblock(opts: Options, puk_fd: int | None, new_pin_fd: int | None) -> None:
    """Set a new PIN with the PUK and reset the PIN's tries (a blocked PIN too)."""
    secrets = Secrets()
    with _card(opts) as card:
        puk = secrets.read(puk_fd, "PUK")
        new = secrets.read(new_pin_fd, "new PIN", confirm=True)
        pins.unblock_pin(card, puk, new)
    console.print("PIN set and unblocked")
