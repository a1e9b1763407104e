"""``tpmcard mtpm owner``, ``tpmcard mtpm migrate`` and the EK commands: ownership, moving
objects to another card (docs/mtpm.md "Migration"), the EK and its certificate.

Presentation only: :class:`tpmcard.services.mtpm.MtpmSession` does the work."""

from __future__ import annotations

from typing import Any, BinaryIO

import click
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tpmcard.cli import JSON_HELP, Options, console, kv_table, print_json
from tpmcard.cli import mtpm as cli_mtpm  # open_mtpm looked up per call: one seam to replace
from tpmcard.cli.binding import Secrets
from tpmcard.cli.mtpm import (
    AUTH_FD_HELP,
    AUTH_PROMPT_HELP,
    OWNER_FD_HELP,
    mtpm,
    parse_handle,
    read_owner_auth,
    read_secret,
)
from tpmcard.errors import TpmcardError


@mtpm.group()
def owner() -> None:
    """Ownership of the mobile TPM (owner auth: 8 tries, then blocked)."""


@owner.command("take")
@click.option(
    "--owner-auth-fd",
    type=int,
    metavar="N",
    help="Read the new owner auth from this descriptor (one line) instead of a prompt.",
)
@click.pass_obj
def owner_take(opts: Options, owner_auth_fd: int | None) -> None:
    """Take ownership with a new owner auth (1..32 bytes)."""
    value = Secrets().read(owner_auth_fd, "new owner auth", confirm=True).encode()
    if not value:
        raise click.BadParameter("the owner auth cannot be empty")
    with cli_mtpm.open_mtpm(opts) as m:
        m.take_ownership(value)
    click.echo("the card's mobile TPM is now owned")


@owner.command("clear")
@click.option("--owner-auth-fd", type=int, metavar="N", help=OWNER_FD_HELP)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def owner_clear(opts: Options, owner_auth_fd: int | None, yes: bool) -> None:
    """TPM2_Clear: every sealed blob dies, every NV index and counter goes, no owner."""
    if not yes and owner_auth_fd is None:
        click.confirm("Clear the mobile TPM (all sealed data, NV indices, counters)?", abort=True)
    with cli_mtpm.open_mtpm(opts) as m:
        m.clear(read_owner_auth(m, Secrets(), owner_auth_fd))
    click.echo("cleared: the card's mobile TPM is unowned, with new storage keys")


@owner.command("da-reset")
@click.option("--owner-auth-fd", type=int, metavar="N", help=OWNER_FD_HELP)
@click.pass_obj
def owner_da_reset(opts: Options, owner_auth_fd: int | None) -> None:
    """Lift the lockout of sealed-object and NV auth values (after 16 wrong values in a row)."""
    with cli_mtpm.open_mtpm(opts) as m:
        m.da_reset(read_owner_auth(m, Secrets(), owner_auth_fd))
    click.echo("sealed-object and NV auth values have their tries back")


@owner.command("status")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def owner_status(opts: Options, as_json: bool) -> None:
    """Owned or not, owner tries left, clock, reset count, storage key id."""
    with cli_mtpm.open_mtpm(opts) as m:
        data = m.status().as_dict()
    if as_json:
        print_json(data)
    else:
        console.print(kv_table("mobile TPM owner", [(k, str(v)) for k, v in data.items()]))


@mtpm.group()
def migrate() -> None:
    """Copy or move sealed data and NV indices to another card.

    \b
    Once, on the source card (owner): tpmcard mtpm migrate trust [--ca ca.pem]
    On the target card:  tpmcard mtpm migrate target TARGET.json
    At the CA:           tpmcard ca certify-target TARGET.json TARGET.cert
    On the source card:  tpmcard mtpm migrate export --target TARGET.cert --sealed BLOB DUP
                         (or --nv HANDLE; --move to remove it from the source)
    On the target card:  tpmcard mtpm migrate import DUP [NEWBLOB]
    The CA checks the target's migration key (its EK certificate, the EK's CERTIFY); the source
    card checks the CA's certificate itself. Only objects sealed or defined --migratable leave,
    with the owner's auth on both cards and the object's own auth value and PCR policy.
    """


@migrate.command("trust")
@click.option("--ca", "ca_file", type=click.File("rb"),
              help="CA certificate (default: $TPMCARD_STATE_DIR/ca/ca.pem)")  # fmt: skip
@click.option("--owner-auth-fd", type=int, metavar="N", help=OWNER_FD_HELP)
@click.pass_obj
def migrate_trust(opts: Options, ca_file: BinaryIO | None, owner_auth_fd: int | None) -> None:
    """Install the CA whose migration target certificates this card accepts (owner only)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    key = _ca_certificate(ca_file).public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise TpmcardError("the migration CA must have a P-256 key")
    with cli_mtpm.open_mtpm(opts) as m:
        m.migration_anchor_set(key, read_owner_auth(m, Secrets(), owner_auth_fd))
    click.echo("migration CA installed: exports go only to targets it certified")


@migrate.command("target")
@click.argument("out_file", metavar="OUT", type=click.File("w"))
@click.pass_obj
def migrate_target(opts: Options, out_file: Any) -> None:
    """Write this card's certified migration key (JSON: TPM2B_PUBLIC, the EK's CERTIFY of it
    as TPMS_ATTEST + TPMT_SIGNATURE, the EK and its certificate, all hex), for the CA."""
    from tpmcard.services.verify import MigrationTarget

    with cli_mtpm.open_mtpm(opts) as m:
        target = MigrationTarget.collect(m)
    out_file.write(target.to_json())


@migrate.command("export")
@click.option("--target", "target_file", required=True, type=click.File("rb"),
              help="the target's certificate (`tpmcard ca certify-target`)")  # fmt: skip
@click.option("--sealed", "sealed_file", type=click.File("rb"), help="a sealed blob to migrate")
@click.option("--nv", "nv_handle", help="an NV index or counter to migrate")
@click.option("--move", is_flag=True, help="remove it here (default: copy; counters only move)")
@click.option("--auth-fd", type=int, metavar="N", help=AUTH_FD_HELP)
@click.option("--auth", "auth_prompt", is_flag=True, help=AUTH_PROMPT_HELP)
@click.option("--owner-auth-fd", type=int, metavar="N", help=OWNER_FD_HELP)
@click.argument("out_file", metavar="OUT", type=click.File("wb"))
@click.pass_obj
def migrate_export(
    opts: Options,
    target_file: BinaryIO,
    sealed_file: BinaryIO | None,
    nv_handle: str | None,
    move: bool,
    auth_fd: int | None,
    auth_prompt: bool,
    owner_auth_fd: int | None,
    out_file: BinaryIO,
) -> None:
    """Wrap migratable sealed data or an NV index to the certified target key; write the
    duplicate to OUT. The card checks the certificate, the owner auth, and the object's own
    auth value and PCR policy. A move revokes the blob (or undefines the index) here in the
    same step: if OUT is lost, the object is lost."""
    from tpmcard.services.mtpm import MigrationCertificate

    if (sealed_file is None) == (nv_handle is None):
        raise click.UsageError("give exactly one of --sealed BLOB and --nv HANDLE")
    certificate = target_file.read()
    try:
        MigrationCertificate.parse(certificate)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--target") from None
    secrets = Secrets()
    with cli_mtpm.open_mtpm(opts) as m:
        owner_auth = read_owner_auth(m, secrets, owner_auth_fd)
        auth = read_secret(secrets, auth_fd, auth_prompt, "auth value of the object")
        if sealed_file is not None:
            duplicate = m.migrate_export_sealed(
                sealed_file.read(), certificate, owner_auth, auth, move=move
            )
        else:
            assert nv_handle is not None
            duplicate = m.migrate_export_nv(
                parse_handle(nv_handle), certificate, owner_auth, auth, move=move
            )
    out_file.write(duplicate)


@migrate.command("import")
@click.argument("in_file", metavar="IN", type=click.File("rb"))
@click.argument("out_file", metavar="[OUT]", type=click.File("wb"), required=False)
@click.option("--owner-auth-fd", type=int, metavar="N", help=OWNER_FD_HELP)
@click.pass_obj
def migrate_import(
    opts: Options, in_file: BinaryIO, out_file: BinaryIO | None, owner_auth_fd: int | None
) -> None:
    """Import the duplicate IN: sealed data is re-sealed under this card's keys and written to
    OUT; an NV index is defined here."""
    from tpmcard.services.mtpm import duplicate_kind

    duplicate = in_file.read()
    try:
        kind = duplicate_kind(duplicate)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if kind == "sealed" and out_file is None:
        raise click.UsageError("a sealed duplicate needs OUT for the new blob")
    with cli_mtpm.open_mtpm(opts) as m:
        owner_auth = read_owner_auth(m, Secrets(), owner_auth_fd)
        if kind == "sealed":
            blob = m.migrate_import_sealed(duplicate, owner_auth)
        else:
            m.migrate_import_nv(duplicate, owner_auth)
    if kind == "sealed":
        assert out_file is not None
        out_file.write(blob)
    else:
        click.echo("NV index imported (`tpmcard mtpm nv list`)")


def _ca_certificate(ca_file: BinaryIO | None) -> x509.Certificate:
    from tpmcard.services.ca import ca_dir

    path = ca_dir() / "ca.pem"
    if ca_file is None and not path.exists():
        raise TpmcardError(f"no CA certificate at {path}: give --ca FILE")
    pem = ca_file.read() if ca_file is not None else path.read_bytes()
    return x509.load_pem_x509_certificate(pem)


@mtpm.command("ek-public")
@click.option("--out", "out_file", required=True, type=click.File("wb"))
@click.pass_obj
def ek_public(opts: Options, out_file: BinaryIO) -> None:
    """Write the EK public key (PEM), for `tpmcard ca issue`."""
    with cli_mtpm.open_mtpm(opts) as m:
        key = m.ek_public().public_key()
    out_file.write(
        key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


@mtpm.group("ek-cert")
def ek_cert() -> None:
    """The EK certificate stored on the card."""


@ek_cert.command("set")
@click.argument("certificate", type=click.File("rb"))
@click.option("--owner-auth-fd", type=int, metavar="N", help=OWNER_FD_HELP)
@click.pass_obj
def ek_cert_set(opts: Options, certificate: BinaryIO, owner_auth_fd: int | None) -> None:
    """Store the EK certificate (DER or PEM) on the card."""
    data = certificate.read()
    if data.startswith(b"-----"):
        data = x509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.DER)
    with cli_mtpm.open_mtpm(opts) as m:
        m.ek_cert_set(data, read_owner_auth(m, Secrets(), owner_auth_fd))


@ek_cert.command("get")
@click.option("--out", "out_file", required=True, type=click.File("wb"))
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_obj
def ek_cert_get(opts: Options, out_file: BinaryIO, as_json: bool) -> None:
    """Write the EK certificate (DER) to --out; --json also describes it."""
    with cli_mtpm.open_mtpm(opts) as m:
        data = m.ek_cert_get()
    if data is None:
        raise TpmcardError("the card holds no EK certificate: issue one with `tpmcard ca issue`")
    out_file.write(data)
    if as_json:
        certificate = x509.load_der_x509_certificate(data)
        print_json(
            {
                "subject": certificate.subject.rfc4514_string(),
                "issuer": certificate.issuer.rfc4514_string(),
                "serial": f"{certificate.serial_number:x}",
                "not_after": certificate.not_valid_after_utc.isoformat(),
                "der": data.hex(),
            }
        )
