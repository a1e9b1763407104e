"""``tpmcard ca enroll`` and ``tpmcard ca install``: the attestation CA's host-TPM side and the
card's personalisation (docs/binding.md §8). Presentation only: :mod:`tpmcard.services.attestation`,
:mod:`tpmcard.services.session`. The ``ca`` group itself is cli/mtpm.py's."""

from __future__ import annotations

import datetime
from pathlib import Path

import click

from tpmcard.cli import Options, console, kv_table, progress
from tpmcard.cli.binding import EK_ROOTS_HELP, Secrets, _card, _tpm
from tpmcard.cli.mtpm import ca as ca_group
from tpmcard.services import session

# --- the attestation CA (docs/binding.md §8); the `ca` group is cli/mtpm.py's --------------------


@ca_group.command("enroll")
@click.option("--ek-roots", type=click.Path(file_okay=False, path_type=Path), help=EK_ROOTS_HELP)
@click.option("--force", is_flag=True, help="Enrol a new AK even if this TPM has one.")
@click.pass_obj
def ca_enroll(opts: Options, ek_roots: Path | None, force: bool) -> None:
    """Certify this host TPM's attestation key with the local attestation CA.

    Reads the TPM's EK certificate from NV, checks its chain against the EK roots, creates an
    AK and runs credential activation (MakeCredential to the EK, bound to the AK's Name;
    ActivateCredential in the TPM); only then the CA issues the AK certificate that PAIR
    carries. Saved in $TPMCARD_STATE_DIR/attestation for later pairings.
    """
    from tpmcard.services.attestation import EnrollmentStore, enrollment_for

    store = EnrollmentStore()
    with _tpm(opts) as tpm, progress("enrolling the AK (EK chain, credential activation)"):
        enrollment = enrollment_for(tpm, store=store, ek_roots=ek_roots, force=force)
    certificate = enrollment.certificate
    console.print(
        kv_table(
            "AK certified",
            [
                ("AK name", certificate.ak_name.hex()),
                ("serial", f"{certificate.serial:016x}"),
                ("EK certificate SHA-256", certificate.ek_certificate_digest.hex()),
                ("valid until", _utc(certificate.not_after)),
                ("file", str(store.path(certificate.ek_certificate_digest))),
            ],
        )
    )


@ca_group.command("install")
@click.option(
    "--replace", is_flag=True, help="Replace the card's CA key (needs the PUK instead of the PIN)."
)
@click.option("--pin-fd", type=int, metavar="N", help="Read the PIN (or the PUK) from fd N.")
@click.pass_obj
def ca_install(opts: Options, replace: bool, pin_fd: int | None) -> None:
    """Personalise the card: install the local attestation CA's key ($TPMCARD_STATE_DIR/ca).

    A card without it refuses every pairing. The PIN installs it on a card that has none; only
    the PUK replaces one (--replace). Pairings already on the card stay.
    """
    with _card(opts) as card:
        secret = Secrets().read(pin_fd, "card PUK" if replace else "card PIN")
        with progress("installing the attestation CA key"):
            point = session.install_attestation_ca(card, secret, use_puk=replace)
    console.print(
        kv_table("CA key installed", [("card", card.info.card_id.hex()), ("key", point.hex())])
    )


def _utc(seconds: int) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).isoformat(timespec="seconds")
