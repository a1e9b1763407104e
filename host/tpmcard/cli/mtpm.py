"""``tpmcard mtpm ...``, ``tpmcard ca ...`` and ``tpmcard verify``: presentation only.

The card is reached through :func:`open_mtpm` (a secured session's ``mtpm`` attribute); the
protocol lives in :mod:`tpmcard.services.mtpm`, the checks in :mod:`tpmcard.services.verify`, the
CA in :mod:`tpmcard.services.ca`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import click

from tpmcard.cli import JSON_HELP, Options, cli, console, kv_table, parse_hex, print_json
from tpmcard.cli.binding import Secrets
from tpmcard.errors import NotSupportedError
from tpmcard.services.mtpm import MtpmSession


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
        yield mtpm if isinstance(mtpm, MtpmSession) else MtpmSession(session)


def parse_pcrs(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise click.BadParameter("a comma-separated list of PCR indices, e.g. 0,1,8,9") from None


AUTH_FD_HELP = (
    "Read the object's auth value from this file descriptor (one line; an empty line is no "
    "auth) instead of none."
)
AUTH_PROMPT_HELP = "Prompt (hidden) for the object's auth value."
MIGRATABLE_HELP = (
    "Allow it to leave this card later (`tpmcard mtpm migrate export`); decided now, for good."
)
OWNER_FD_HELP = (
    "Read the owner auth from this file descriptor (one line). Without it: a hidden prompt when "
    "the card is owned, none when it is not."
)


def read_secret(secrets: Secrets, fd: int | None, prompt: bool, what: str) -> bytes:
    """An auth value from a descriptor, a hidden prompt, or none (empty)."""
    if fd is None and not prompt:
        return b""
    return secrets.read(fd, what).encode()


def read_owner_auth(m: MtpmSession, secrets: Secrets, fd: int | None) -> bytes:
    if fd is None and not m.status().owned:
        return b""  # an unowned card's owner auth is empty (docs/mtpm.md, Ownership)
    return secrets.read(fd, "owner auth").encode()


def parse_handle(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise click.BadParameter(f"{text!r}: an NV handle such as 0x01500001") from None
    if value >> 24 != 0x01:
        raise click.BadParameter(f"{text!r}: NV handles are 0x01000000..0x01ffffff")
    return value


@cli.group()
def mtpm() -> None:
    """The card's mobile TPM (PCRs 0-8 from the host TPM, 9-23 on the card).

    \b
    Auth values never go on the command line: --auth-fd N / --owner-auth-fd N (one line from
    that descriptor, e.g. `--auth-fd 3 3<authfile`), or a hidden prompt. File formats are those
    tpm2-tools reads where one exists (docs/mtpm.md): PCR values and NV data raw, quotes as
    TPMS_ATTEST/TPMT_SIGNATURE, public keys TPM2B_PUBLIC; sealed blobs and migration
    duplicates are the card's own formats (opaque bytes). IN/OUT may be - (stdin/stdout).
    """


# --- PCRs -------------------------------------------------------------------------------------


@mtpm.group()
def pcr() -> None:
    """Read, extend and reset PCRs of the combined view."""


ALL_PCRS = ",".join(map(str, range(24)))


def _pcr_read(opts: Options, pcrs: str, out_file: BinaryIO | None, as_json: bool) -> None:
    with open_mtpm(opts) as m:
        values = m.pcr_read(parse_pcrs(pcrs))
    if out_file is not None:
        out_file.write(b"".join(values.values()))
    if as_json:
        print_json({str(i): v.hex() for i, v in values.items()})
    elif out_file is None:
        console.print(kv_table("sha256", [(str(i), v.hex()) for i, v in values.items()]))


@pcr.command("read")
@click.option("--pcrs", default=ALL_PCRS, metavar="LIST", help="e.g. 0,1,8,9,10 (default all)")
@click.option(
    "-o",
    "--out",
    "out_file",
    type=click.File("wb"),
    help="Also write the values, 32 bytes each in index order (as `tpm2_pcrread -o`).",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def pcr_read(opts: Options, pcrs: str, out_file: BinaryIO | None, as_json: bool) -> None:
    """Read PCRs of the combined view (0-8: the host's, as quoted in this session)."""
    _pcr_read(opts, pcrs, out_file, as_json)


@pcr.command("extend")
@click.argument("index", type=int)
@click.argument("digest")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_obj
def pcr_extend(opts: Options, index: int, digest: str, as_json: bool) -> None:
    """Extend card PCR INDEX (9..23) with a SHA-256 DIGEST (64 hex digits); print the new value.

    PCRs 0-8 are the host TPM's: extend them there (tpm2_pcrextend).
    """
    with open_mtpm(opts) as m:
        value = m.extend(index, parse_hex(digest))
    if as_json:
        print_json({str(index): value.hex()})
    else:
        click.echo(value.hex())


@pcr.command("reset")
@click.argument("index", type=int)
@click.pass_obj
def pcr_reset(opts: Options, index: int) -> None:
    """Reset PCR 16 or 23 to zero."""
    with open_mtpm(opts) as m:
        m.pcr_reset(index)


@mtpm.command()
@click.option("--pcrs", required=True, help="e.g. 0,1,8,9,10")
@click.option(
    "--nonce", required=True, help="the verifier's nonce, hex (at most 64 bytes; jwt/eat: 8..64)"
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["tpm", "jwt", "eat"]),
    default="tpm",
    show_default=True,
    help="TPMS_ATTEST, a JWT (ES256) or an EAT (COSE_Sign1 CWT), all signed by the AK",
)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_obj
def quote(opts: Options, pcrs: str, nonce: str, fmt: str, out_dir: Path, as_json: bool) -> None:
    """Quote PCRs into directory OUT.

    \b
    tpm: quote.msg (TPMS_ATTEST), quote.sig (TPMT_SIGNATURE), ak.pem, pcrs.bin: for
      tpm2_checkquote -u ak.pem -m quote.msg -s quote.sig -f pcrs.bin -l sha256:LIST -q NONCE
    jwt: quote.jwt (JWS compact, ES256), eat: quote.cwt (COSE_Sign1 EAT); both verify with
      ak.pem in a stock JOSE/COSE library (docs/quote-formats.md); pcrs.bin as above.
    ak.pub, ek.pub (TPM2B_PUBLIC), ak-certify.msg/.sig (the EK's CERTIFY of the AK), ek.crt:
      the chain `tpmcard verify OUT --nonce NONCE` checks.
    """
    from tpmcard.services.quote_formats import TokenQuote
    from tpmcard.services.verify import QuoteBundle

    with open_mtpm(opts) as m:
        if fmt == "tpm":
            bundle = QuoteBundle.collect(m, parse_pcrs(pcrs), parse_hex(nonce))
            values = bundle.quote.pcr_values
            written = bundle.save(out_dir)
        else:
            token = TokenQuote.collect(m, fmt, parse_pcrs(pcrs), parse_hex(nonce))
            values = token.pcr_values
            written = token.save(out_dir)
    if as_json:
        print_json(
            {
                "format": fmt,
                "pcrs": {str(i): v.hex() for i, v in values.items()},
                "nonce": nonce.lower(),
                "files": [str(path) for path in written],
            }
        )
    else:
        for path in written:
            click.echo(str(path))


# --- sealing ----------------------------------------------------------------------------------


@mtpm.command()
@click.option(
    "--pcrs", metavar="LIST", help="PCRs of the combined view, e.g. 0,9 (their current values)"
)
@click.option("--auth-fd", type=int, metavar="N", help=AUTH_FD_HELP)
@click.option("--auth", "auth_prompt", is_flag=True, help=AUTH_PROMPT_HELP)
@click.option("--migratable", is_flag=True, help=MIGRATABLE_HELP)
@click.option(
    "--any-of",
    "any_of",
    type=click.Path(exists=True, path_type=Path),
    help="Instead of --pcrs: any of the configurations in this JSON file "
    "(docs/flexible-sealing.md).",
)
@click.option(
    "--authority",
    type=click.Path(exists=True, path_type=Path),
    help="Instead of --pcrs: whatever this authority (PEM P-256 key) approves.",
)
@click.option("--policy-ref", default="", help="With --authority: the policyRef approvals name.")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.argument("source", metavar="IN", type=click.File("rb"))
@click.argument("target", metavar="OUT", type=click.File("wb"))
@click.pass_obj
def seal(
    opts: Options,
    pcrs: str | None,
    auth_fd: int | None,
    auth_prompt: bool,
    migratable: bool,
    any_of: Path | None,
    authority: Path | None,
    policy_ref: str,
    as_json: bool,
    source: BinaryIO,
    target: BinaryIO,
) -> None:
    """Seal IN (1..128 bytes) to the current values of PCRS; write the blob to OUT.

    The blob (the card's format, docs/mtpm.md) opens only on this card, while the PCRs hold
    those values, and with the auth value if one was given (an auth value needs an owned mobile
    TPM: `tpmcard mtpm owner take`). Only a --migratable blob can ever be exported. With
    --any-of or --authority the blob is flexible (docs/flexible-sealing.md): no auth value,
    never migratable.
    """
    from tpmcard.cli.mtpm_flexible import flexible_policy

    policy = flexible_policy(any_of, authority, policy_ref)
    if (policy is None) == (pcrs is None):
        raise click.UsageError("give one policy: --pcrs LIST, --any-of FILE or --authority PEM")
    if policy is not None and (auth_fd is not None or auth_prompt or migratable):
        raise click.UsageError("a flexible blob has no auth value and is never migratable")
    auth = read_secret(Secrets(), auth_fd, auth_prompt, "auth value for the sealed data")
    data = source.read()
    with open_mtpm(opts) as m:
        if policy is not None:
            blob = m.seal_flexible(data, policy)
        else:
            blob = m.seal(data, parse_pcrs(pcrs or ""), auth, migratable=migratable)
    target.write(blob)
    if as_json:
        print_json({"length": len(blob), "flexible": policy is not None})


@mtpm.command()
@click.option("--auth-fd", type=int, metavar="N", help=AUTH_FD_HELP)
@click.option("--auth", "auth_prompt", is_flag=True, help=AUTH_PROMPT_HELP)
@click.option(
    "--approval",
    "approval_file",
    type=click.Path(exists=True, path_type=Path),
    help="For a blob sealed --authority: the authority's approval (`tpmcard mtpm approve`).",
)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.argument("source", metavar="IN", type=click.File("rb"))
@click.argument("target", metavar="OUT", type=click.File("wb"))
@click.pass_obj
def unseal(
    opts: Options,
    auth_fd: int | None,
    auth_prompt: bool,
    approval_file: Path | None,
    as_json: bool,
    source: BinaryIO,
    target: BinaryIO,
) -> None:
    """Unseal the blob IN into OUT (only while the PCRs satisfy its policy)."""
    from tpmcard.cli.mtpm_flexible import load_approval

    auth = read_secret(Secrets(), auth_fd, auth_prompt, "auth value for the sealed data")
    approval = load_approval(approval_file)
    blob = source.read()
    with open_mtpm(opts) as m:
        data = m.unseal(blob, auth, approval=approval)
    target.write(data)
    if as_json:
        print_json({"length": len(data)})


# --- NV indices -------------------------------------------------------------------------------


# --- counters ---------------------------------------------------------------------------------


# --- ownership --------------------------------------------------------------------------------


# --- migration --------------------------------------------------------------------------------


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
