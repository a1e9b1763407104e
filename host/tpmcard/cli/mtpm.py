"""``tpmcard mtpm ...``, ``tpmcard ca ...`` and ``tpmcard verify``: presentation only.

The card is reached through :func:`open_mtpm` (a secured session's ``mtpm`` attribute); the
protocol lives in :mod:`tpmcard.mtpm`, the checks in :mod:`tpmcard.mtpm_verify`, the CA in
:mod:`tpmcard.ca`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import click
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tpmcard.cli import Options, cli, console, kv_table, print_json
from tpmcard.errors import NotSupportedError, TpmcardError
from tpmcard.mtpm import MtpmSession


@contextmanager
def open_mtpm(opts: Options) -> Iterator[MtpmSession]:
    """The mobile TPM of the paired card, over a secured session (``tpmcard.connect``)."""
    import tpmcard

    try:
        connect = tpmcard.connect
    except (AttributeError, ImportError) as exc:
        raise NotSupportedError(
            "this build has no secured session (tpmcard.connect); the mobile TPM needs one"
        ) from exc
    with connect(reader=opts.reader, tcti=opts.tcti) as session:
        mtpm = getattr(session, "mtpm", None)
        yield mtpm if isinstance(mtpm, MtpmSession) else MtpmSession.over(session)


def _pcrs(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise click.BadParameter("a comma-separated list of PCR indices, e.g. 0,1,8,9") from None


def _hex(text: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise click.BadParameter("hexadecimal bytes, e.g. 00112233") from None


@cli.group()
def mtpm() -> None:
    """The card's mobile TPM (PCRs 0-8 from the host TPM, 9-23 on the card)."""


@mtpm.command("pcr-read")
@click.option("--pcrs", default="0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def pcr_read(opts: Options, pcrs: str, as_json: bool) -> None:
    """Read PCRs of the combined view."""
    with open_mtpm(opts) as m:
        values = m.pcr_read(_pcrs(pcrs))
    if as_json:
        print_json({str(i): v.hex() for i, v in values.items()})
    else:
        console.print(kv_table("sha256", [(str(i), v.hex()) for i, v in values.items()]))


@mtpm.command()
@click.argument("index", type=int)
@click.argument("digest")
@click.pass_obj
def extend(opts: Options, index: int, digest: str) -> None:
    """Extend card PCR INDEX (9..23) with a SHA-256 DIGEST (hex)."""
    with open_mtpm(opts) as m:
        click.echo(m.extend(index, _hex(digest)).hex())


@mtpm.command("pcr-reset")
@click.argument("index", type=int)
@click.pass_obj
def pcr_reset(opts: Options, index: int) -> None:
    """Reset PCR 16 or 23."""
    with open_mtpm(opts) as m:
        m.pcr_reset(index)


@mtpm.command()
@click.option("--pcrs", required=True, help="e.g. 0,1,8,9,10")
@click.option("--nonce", required=True, help="the verifier's nonce, hex (at most 64 bytes)")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.pass_obj
def quote(opts: Options, pcrs: str, nonce: str, out_dir: Path) -> None:
    """Quote PCRs; write quote.msg, quote.sig, ak.pem, pcrs.bin (tpm2_checkquote) and the chain."""
    from tpmcard.mtpm_verify import QuoteBundle

    with open_mtpm(opts) as m:
        bundle = QuoteBundle.collect(m, _pcrs(pcrs), _hex(nonce))
    for path in bundle.save(out_dir):
        click.echo(str(path))


@mtpm.command()
@click.option("--pcrs", required=True)
@click.option("--in", "in_file", required=True, type=click.File("rb"))
@click.option("--out", "out_file", required=True, type=click.File("wb"))
@click.option("--auth", default="", help="optional auth value (text)")
@click.pass_obj
def seal(
    opts: Options,
    pcrs: str,
    in_file: BinaryIO,
    out_file: BinaryIO,
    auth: str,
) -> None:
    """Seal up to 128 bytes to the current values of PCRS."""
    with open_mtpm(opts) as m:
        out_file.write(m.seal(in_file.read(), _pcrs(pcrs), auth.encode()))


@mtpm.command()
@click.option("--in", "in_file", required=True, type=click.File("rb"))
@click.option("--out", "out_file", required=True, type=click.File("wb"))
@click.option("--auth", default="")
@click.pass_obj
def unseal(
    opts: Options, in_file: BinaryIO, out_file: BinaryIO, auth: str
) -> None:
    """Unseal a blob (only while the PCRs match)."""
    with open_mtpm(opts) as m:
        out_file.write(m.unseal(in_file.read(), auth.encode()))


@mtpm.command("ek-public")
@click.option("--out", "out_file", required=True, type=click.File("wb"))
@click.pass_obj
def ek_public(opts: Options, out_file: BinaryIO) -> None:
    """Write the EK public key (PEM), for `tpmcard ca issue`."""
    with open_mtpm(opts) as m:
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
@click.option("--owner-auth", default="")
@click.pass_obj
def ek_cert_set(opts: Options, certificate: BinaryIO, owner_auth: str) -> None:
    data = certificate.read()
    if data.startswith(b"-----"):
        data = x509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.DER)
    with open_mtpm(opts) as m:
        m.ek_cert_set(data, owner_auth.encode())


@ek_cert.command("get")
@click.option("--out", "out_file", required=True, type=click.File("wb"))
@click.pass_obj
def ek_cert_get(opts: Options, out_file: BinaryIO) -> None:
    with open_mtpm(opts) as m:
        data = m.ek_cert_get()
    if data is None:
        raise TpmcardError("the card holds no EK certificate: issue one with `tpmcard ca issue`")
    out_file.write(data)


@mtpm.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def status(opts: Options, as_json: bool) -> None:
    """Ownership, clock, reset count, storage key id, NV indices."""
    with open_mtpm(opts) as m:
        data = m.status().as_dict()
        data["nv"] = [
            {"handle": f"0x{i.handle:08x}", "counter": i.counter, "size": i.size}
            for i in m.nv_list()
        ]
    if as_json:
        print_json(data)
    else:
        console.print(kv_table("mobile TPM", [(k, str(v)) for k, v in data.items()]))


@cli.group()
def ca() -> None:
    """The manufacturer CA that certifies mobile-TPM EKs (keys in $TPMCARD_STATE_DIR/ca)."""


@ca.command("init")
@click.option("--force", is_flag=True, help="replace an existing CA")
def ca_init(force: bool) -> None:
    from tpmcard.ca import ManufacturerCa, ca_dir

    ManufacturerCa.init(force=force)
    click.echo(str(ca_dir() / "ca.pem"))


@ca.command("issue")
@click.option("--ek", "ek_file", required=True, type=click.File("rb"), help="EK public key, PEM")
@click.option("--card-id", default="unknown")
@click.option("--out", "out_file", required=True, type=click.File("wb"), help="certificate, DER")
def ca_issue(ek_file: BinaryIO, card_id: str, out_file: BinaryIO) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from tpmcard.ca import ManufacturerCa

    key = serialization.load_pem_public_key(ek_file.read())
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise click.BadParameter("the EK is a P-256 public key")
    out_file.write(
        ManufacturerCa.load()
        .issue_ek_certificate(key, card_id)
        .public_bytes(serialization.Encoding.DER)
    )


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--nonce", required=True, help="the nonce you gave `tpmcard mtpm quote`, hex")
@click.option(
    "--ca",
    "ca_file",
    type=click.File("rb"),
    help="CA certificate (default: $TPMCARD_STATE_DIR/ca/ca.pem)",
)
def verify(directory: Path, nonce: str, ca_file: BinaryIO | None) -> None:
    """Verify a quote directory: AK -> EK -> CA chain, magic, type, signer, nonce, PCR digest."""
    from tpmcard.ca import ca_dir
    from tpmcard.mtpm_verify import QuoteBundle

    pem = ca_file.read() if ca_file is not None else (ca_dir() / "ca.pem").read_bytes()
    bundle = QuoteBundle.load(directory)
    parsed = bundle.verify(_hex(nonce), x509.load_pem_x509_certificate(pem))
    click.echo(
        f"OK: quote of {bundle.quote.pcr_selection} by the AK certified by the EK, "
        f"clock {parsed.clock_info.clock}"
    )
