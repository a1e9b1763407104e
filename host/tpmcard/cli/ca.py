"""``tpmcard ca``: the local CA. ``init``, ``issue`` and ``certify-target`` serve the mobile
TPM (EK certificates, migration targets: docs/mtpm.md); ``enroll`` and ``install`` are the
attestation CA's host-TPM side and the card's personalisation (docs/binding.md §8).
Presentation only: :mod:`tpmcard.services.ca`, :mod:`tpmcard.services.attestation`,
:mod:`tpmcard.services.session`."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import BinaryIO

import click
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tpmcard.cli import Options, cli, console, kv_table, progress
from tpmcard.cli.binding import EK_ROOTS_HELP, Secrets, _card, _tpm
from tpmcard.services import pins


@cli.group()
def ca() -> None:
    """The CA (keys in $TPMCARD_STATE_DIR/ca): mobile-TPM EKs, host TPMs' AKs (enroll, install)."""


@ca.command("init")
@click.option("--force", is_flag=True, help="replace an existing CA")
def ca_init(force: bool) -> None:
    from tpmcard.services.ca import ManufacturerCa, ca_dir

    ManufacturerCa.init(force=force)
    click.echo(str(ca_dir() / "ca.pem"))


@ca.command("certify-target")
@click.argument("target_file", metavar="TARGET", type=click.File("rb"))
@click.argument("out_file", metavar="OUT", type=click.File("wb"))
@click.option("--card-id", help="the target card's name in the certificate (default: its EK "
              "certificate's)")  # fmt: skip
def ca_certify_target(target_file: BinaryIO, out_file: BinaryIO, card_id: str | None) -> None:
    """Certify a card's migration key (TARGET from `tpmcard mtpm migrate target`) after
    checking it: EK certificate issued by this CA, the EK's CERTIFY of the key. Cards that
    trust this CA (`tpmcard mtpm migrate trust`) then export to it."""
    from tpmcard.services.ca import ManufacturerCa
    from tpmcard.services.mtpm import public_point
    from tpmcard.services.verify import MigrationTarget

    ca = ManufacturerCa.load()
    target = MigrationTarget.from_json(target_file.read())
    key = target.verify(ca.certificate)
    if card_id is None:
        assert target.ek_certificate is not None  # verify() refused a target without one
        names = x509.load_der_x509_certificate(
            target.ek_certificate
        ).subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        card_id = str(names[0].value).rsplit(" ", 1)[-1] if names else "unknown"
    identity = card_id.encode()[:32] or b"unknown"
    out_file.write(ca.certify_migration_target(public_point(key), identity))
    click.echo(f"migration target {identity.decode(errors='replace')} certified")


@ca.command("issue")
@click.option("--ek", "ek_file", required=True, type=click.File("rb"), help="EK public key, PEM")
@click.option("--card-id", default="unknown")
@click.option("--out", "out_file", required=True, type=click.File("wb"), help="certificate, DER")
def ca_issue(ek_file: BinaryIO, card_id: str, out_file: BinaryIO) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from tpmcard.services.ca import ManufacturerCa

    key = serialization.load_pem_public_key(ek_file.read())
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise click.BadParameter("the EK is a P-256 public key")
    out_file.write(
        ManufacturerCa.load()
        .issue_ek_certificate(key, card_id)
        .public_bytes(serialization.Encoding.DER)
    )


# --- the attestation CA (docs/binding.md §8) --------------------------------------------------


@ca.command("enroll")
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


@ca.command("install")
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
            point = pins.install_attestation_ca(card, secret, use_puk=replace)
    console.print(
        kv_table("CA key installed", [("card", card.info.card_id.hex()), ("key", point.hex())])
    )


def _utc(seconds: int) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).isoformat(timespec="seconds")
