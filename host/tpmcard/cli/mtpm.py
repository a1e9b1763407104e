"""``tpmcard mtpm ...``, ``tpmcard ca ...`` and ``tpmcard verify``: presentation only.

The card is reached through :func:`open_mtpm` (a secured session's ``mtpm`` attribute); the
protocol lives in :mod:`tpmcard.mtpm`, the checks in :mod:`tpmcard.mtpm_verify`, the CA in
:mod:`tpmcard.ca`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import click
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tpmcard.cli import Options, cli, console, kv_table, print_json
from tpmcard.cli.binding import Secrets
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


def _secret(secrets: Secrets, fd: int | None, prompt: bool, what: str) -> bytes:
    """An auth value from a descriptor, a hidden prompt, or none (empty)."""
    if fd is None and not prompt:
        return b""
    return secrets.read(fd, what).encode()


def _owner_auth(m: MtpmSession, secrets: Secrets, fd: int | None) -> bytes:
    if fd is None and not m.status().owned:
        return b""  # an unowned card's owner auth is empty (docs/mtpm.md, Ownership)
    return secrets.read(fd, "owner auth").encode()


def _handle(text: str) -> int:
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
        values = m.pcr_read(_pcrs(pcrs))
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
@click.pass_obj
def pcr_extend(opts: Options, index: int, digest: str) -> None:
    """Extend card PCR INDEX (9..23) with a SHA-256 DIGEST (64 hex digits); print the new value.

    PCRs 0-8 are the host TPM's: extend them there (tpm2_pcrextend).
    """
    with open_mtpm(opts) as m:
        click.echo(m.extend(index, _hex(digest)).hex())


@pcr.command("reset")
@click.argument("index", type=int)
@click.pass_obj
def pcr_reset(opts: Options, index: int) -> None:
    """Reset PCR 16 or 23 to zero."""
    with open_mtpm(opts) as m:
        m.pcr_reset(index)


# The flat spellings of the first release, kept for scripts.
@mtpm.command("pcr-read", hidden=True)
@click.option("--pcrs", default=ALL_PCRS)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def pcr_read_flat(opts: Options, pcrs: str, as_json: bool) -> None:
    _pcr_read(opts, pcrs, None, as_json)


mtpm.add_command(click.Command("extend", callback=pcr_extend.callback, params=pcr_extend.params,
                               hidden=True))  # fmt: skip
mtpm.add_command(click.Command("pcr-reset", callback=pcr_reset.callback, params=pcr_reset.params,
                               hidden=True))  # fmt: skip


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
@click.pass_obj
def quote(opts: Options, pcrs: str, nonce: str, fmt: str, out_dir: Path) -> None:
    """Quote PCRs into directory OUT.

    \b
    tpm: quote.msg (TPMS_ATTEST), quote.sig (TPMT_SIGNATURE), ak.pem, pcrs.bin: for
      tpm2_checkquote -u ak.pem -m quote.msg -s quote.sig -f pcrs.bin -l sha256:LIST -q NONCE
    jwt: quote.jwt (JWS compact, ES256), eat: quote.cwt (COSE_Sign1 EAT); both verify with
      ak.pem in a stock JOSE/COSE library (docs/quote-formats.md); pcrs.bin as above.
    ak.pub, ek.pub (TPM2B_PUBLIC), ak-certify.msg/.sig (the EK's CERTIFY of the AK), ek.crt:
      the chain `tpmcard verify OUT --nonce NONCE` checks.
    """
    from tpmcard.mtpm_verify import QuoteBundle
    from tpmcard.quote_formats import TokenQuote

    with open_mtpm(opts) as m:
        if fmt == "tpm":
            written = QuoteBundle.collect(m, _pcrs(pcrs), _hex(nonce)).save(out_dir)
        else:
            written = TokenQuote.collect(m, fmt, _pcrs(pcrs), _hex(nonce)).save(out_dir)
    for path in written:
        click.echo(str(path))


# --- sealing ----------------------------------------------------------------------------------


def _in_out(argument: BinaryIO | None, option: BinaryIO | None, what: str) -> BinaryIO:
    chosen = argument if argument is not None else option
    if chosen is None:
        raise click.UsageError(f"missing {what}")
    return chosen


@mtpm.command()
@click.option("--pcrs", required=True, metavar="LIST", help="PCRs of the combined view, e.g. 0,9")
@click.option("--auth-fd", type=int, metavar="N", help=AUTH_FD_HELP)
@click.option("--auth", "auth_prompt", is_flag=True, help=AUTH_PROMPT_HELP)
@click.option("--migratable", is_flag=True, help=MIGRATABLE_HELP)
@click.argument("in_arg", metavar="IN", type=click.File("rb"), required=False)
@click.argument("out_arg", metavar="OUT", type=click.File("wb"), required=False)
@click.option("--in", "in_opt", type=click.File("rb"), hidden=True)
@click.option("--out", "out_opt", type=click.File("wb"), hidden=True)
@click.pass_obj
def seal(
    opts: Options,
    pcrs: str,
    auth_fd: int | None,
    auth_prompt: bool,
    migratable: bool,
    in_arg: BinaryIO | None,
    out_arg: BinaryIO | None,
    in_opt: BinaryIO | None,
    out_opt: BinaryIO | None,
) -> None:
    """Seal IN (1..128 bytes) to the current values of PCRS; write the blob to OUT.

    The blob (the card's format, docs/mtpm.md) opens only on this card, while the PCRs hold
    those values, and with the auth value if one was given (an auth value needs an owned mobile
    TPM: `tpmcard mtpm owner take`). Only a --migratable blob can ever be exported.
    """
    source, target = _in_out(in_arg, in_opt, "IN"), _in_out(out_arg, out_opt, "OUT")
    auth = _secret(Secrets(), auth_fd, auth_prompt, "auth value for the sealed data")
    with open_mtpm(opts) as m:
        target.write(m.seal(source.read(), _pcrs(pcrs), auth, migratable=migratable))


@mtpm.command()
@click.option("--auth-fd", type=int, metavar="N", help=AUTH_FD_HELP)
@click.option("--auth", "auth_prompt", is_flag=True, help=AUTH_PROMPT_HELP)
@click.argument("in_arg", metavar="IN", type=click.File("rb"), required=False)
@click.argument("out_arg", metavar="OUT", type=click.File("wb"), required=False)
@click.option("--in", "in_opt", type=click.File("rb"), hidden=True)
@click.option("--out", "out_opt", type=click.File("wb"), hidden=True)
@click.pass_obj
def unseal(
    opts: Options,
    auth_fd: int | None,
    auth_prompt: bool,
    in_arg: BinaryIO | None,
    out_arg: BinaryIO | None,
    in_opt: BinaryIO | None,
    out_opt: BinaryIO | None,
) -> None:
    """Unseal the blob IN into OUT (only while the PCRs hold the sealed values)."""
    source, target = _in_out(in_arg, in_opt, "IN"), _in_out(out_arg, out_opt, "OUT")
    auth = _secret(Secrets(), auth_fd, auth_prompt, "auth value for the sealed data")
    blob = source.read()
    with open_mtpm(opts) as m:
        data = m.unseal(blob, auth)
    target.write(data)


# --- NV indices -------------------------------------------------------------------------------


@mtpm.group()
def nv() -> None:
    """NV indices on the card (8 of up to 256 bytes, handles 0x01xxxxxx)."""


@nv.command("define")
@click.argument("handle")
@click.option("--size", required=True, type=click.IntRange(1, 256), help="bytes, 1..256")
@click.option("--auth-fd", type=int, metavar="N", help=AUTH_FD_HELP)
@click.option("--auth", "auth_prompt", is_flag=True, help=AUTH_PROMPT_HELP)
@click.option("--owner-auth-fd", type=int, metavar="N", help=OWNER_FD_HELP)
@click.option("--migratable", is_flag=True, help=MIGRATABLE_HELP)
@click.pass_obj
def nv_define(
    opts: Options,
    handle: str,
    size: int,
    auth_fd: int | None,
    auth_prompt: bool,
    owner_auth_fd: int | None,
    migratable: bool,
) -> None:
    """Define a data index HANDLE (e.g. 0x01500001) of --size bytes, zero-filled."""
    secrets = Secrets()
    with open_mtpm(opts) as m:
        owner = _owner_auth(m, secrets, owner_auth_fd)
        auth = _secret(secrets, auth_fd, auth_prompt, "auth value for the NV index")
        m.nv_define(_handle(handle), size, auth, owner, migratable=migratable)


@nv.command("write")
@click.argument("handle")
@click.argument("in_file", metavar="IN", type=click.File("rb"))
@click.option("--offset", default=0, type=click.IntRange(0, 255))
@click.option("--auth-fd", type=int, metavar="N", help=AUTH_FD_HELP)
@click.option("--auth", "auth_prompt", is_flag=True, help=AUTH_PROMPT_HELP)
@click.pass_obj
def nv_write(
    opts: Options,
    handle: str,
    in_file: BinaryIO,
    offset: int,
    auth_fd: int | None,
    auth_prompt: bool,
) -> None:
    """Write the bytes of IN at --offset (as `tpm2_nvwrite -i IN`)."""
    auth = _secret(Secrets(), auth_fd, auth_prompt, "auth value for the NV index")
    data = in_file.read()
    with open_mtpm(opts) as m:
        m.nv_write(_handle(handle), data, offset, auth)


@nv.command("read")
@click.argument("handle")
@click.argument("out_file", metavar="OUT", type=click.File("wb"))
@click.option("--size", type=click.IntRange(1, 256), help="bytes (default: to the end)")
@click.option("--offset", default=0, type=click.IntRange(0, 255))
@click.option("--auth-fd", type=int, metavar="N", help=AUTH_FD_HELP)
@click.option("--auth", "auth_prompt", is_flag=True, help=AUTH_PROMPT_HELP)
@click.pass_obj
def nv_read(
    opts: Options,
    handle: str,
    out_file: BinaryIO,
    size: int | None,
    offset: int,
    auth_fd: int | None,
    auth_prompt: bool,
) -> None:
    """Read the index into OUT, raw (as `tpm2_nvread -o OUT`)."""
    index = _handle(handle)
    auth = _secret(Secrets(), auth_fd, auth_prompt, "auth value for the NV index")
    with open_mtpm(opts) as m:
        if size is None:
            sizes = {i.handle: i.size for i in m.nv_list()}
            if index not in sizes:
                raise TpmcardError(
                    f"no NV index 0x{index:08x} on this card (`tpmcard mtpm nv list`)"
                )
            size = sizes[index] - offset
        data = m.nv_read(index, size, offset, auth)
    out_file.write(data)


@nv.command("undefine")
@click.argument("handle")
@click.option("--owner-auth-fd", type=int, metavar="N", help=OWNER_FD_HELP)
@click.pass_obj
def nv_undefine(opts: Options, handle: str, owner_auth_fd: int | None) -> None:
    """Delete the index (data or counter)."""
    with open_mtpm(opts) as m:
        m.nv_undefine(_handle(handle), _owner_auth(m, Secrets(), owner_auth_fd))


@nv.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def nv_list(opts: Options, as_json: bool) -> None:
    """The defined indices: handle, kind, size."""
    with open_mtpm(opts) as m:
        indices = m.nv_list()
    rows = [
        {"handle": f"0x{i.handle:08x}", "kind": "counter" if i.counter else "data", "size": i.size}
        for i in indices
    ]
    if as_json:
        print_json(rows)
    elif not rows:
        click.echo("no NV index defined")
    else:
        lines = [(str(r["handle"]), f"{r['kind']}, {r['size']} bytes") for r in rows]
        console.print(kv_table("NV indices", lines))


# --- counters ---------------------------------------------------------------------------------


@mtpm.group()
def counter() -> None:
    """Monotonic counters (NV indices of 8 bytes that only ever increase)."""


@counter.command("define")
@click.argument("handle")
@click.option("--auth-fd", type=int, metavar="N", help=AUTH_FD_HELP)
@click.option("--auth", "auth_prompt", is_flag=True, help=AUTH_PROMPT_HELP)
@click.option("--owner-auth-fd", type=int, metavar="N", help=OWNER_FD_HELP)
@click.option("--migratable", is_flag=True, help="Allow it to move (never copy) to another card.")
@click.pass_obj
def counter_define(
    opts: Options,
    handle: str,
    auth_fd: int | None,
    auth_prompt: bool,
    owner_auth_fd: int | None,
    migratable: bool,
) -> None:
    """Define counter HANDLE; print its start value (the card's high-water mark)."""
    secrets = Secrets()
    with open_mtpm(opts) as m:
        owner = _owner_auth(m, secrets, owner_auth_fd)
        auth = _secret(secrets, auth_fd, auth_prompt, "auth value for the counter")
        click.echo(str(m.counter_define(_handle(handle), auth, owner, migratable=migratable)))


@counter.command("increment")
@click.argument("handle")
@click.option("--auth-fd", type=int, metavar="N", help=AUTH_FD_HELP)
@click.option("--auth", "auth_prompt", is_flag=True, help=AUTH_PROMPT_HELP)
@click.pass_obj
def counter_increment(opts: Options, handle: str, auth_fd: int | None, auth_prompt: bool) -> None:
    """Add one; print the new value."""
    auth = _secret(Secrets(), auth_fd, auth_prompt, "auth value for the counter")
    with open_mtpm(opts) as m:
        click.echo(str(m.counter_increment(_handle(handle), auth)))


@counter.command("read")
@click.argument("handle")
@click.option(
    "-o",
    "--out",
    "out_file",
    type=click.File("wb"),
    help="Also write the 8-byte big-endian value (as `tpm2_nvread` of a counter index).",
)
@click.option("--auth-fd", type=int, metavar="N", help=AUTH_FD_HELP)
@click.option("--auth", "auth_prompt", is_flag=True, help=AUTH_PROMPT_HELP)
@click.pass_obj
def counter_read(
    opts: Options, handle: str, out_file: BinaryIO | None, auth_fd: int | None, auth_prompt: bool
) -> None:
    """Print the value (decimal)."""
    auth = _secret(Secrets(), auth_fd, auth_prompt, "auth value for the counter")
    with open_mtpm(opts) as m:
        value = m.counter_read(_handle(handle), auth)
    if out_file is not None:
        out_file.write(value.to_bytes(8, "big"))
    click.echo(str(value))


@counter.command("undefine")
@click.argument("handle")
@click.option("--owner-auth-fd", type=int, metavar="N", help=OWNER_FD_HELP)
@click.pass_obj
def counter_undefine(opts: Options, handle: str, owner_auth_fd: int | None) -> None:
    """Delete the counter (a new one starts above every value it reached)."""
    with open_mtpm(opts) as m:
        m.counter_undefine(_handle(handle), _owner_auth(m, Secrets(), owner_auth_fd))


# --- ownership --------------------------------------------------------------------------------


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
    with open_mtpm(opts) as m:
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
    with open_mtpm(opts) as m:
        m.clear(_owner_auth(m, Secrets(), owner_auth_fd))
    click.echo("cleared: the card's mobile TPM is unowned, with new storage keys")


@owner.command("da-reset")
@click.option("--owner-auth-fd", type=int, metavar="N", help=OWNER_FD_HELP)
@click.pass_obj
def owner_da_reset(opts: Options, owner_auth_fd: int | None) -> None:
    """Lift the lockout of sealed-object and NV auth values (after 16 wrong values in a row)."""
    with open_mtpm(opts) as m:
        m.da_reset(_owner_auth(m, Secrets(), owner_auth_fd))
    click.echo("sealed-object and NV auth values have their tries back")


@owner.command("status")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def owner_status(opts: Options, as_json: bool) -> None:
    """Owned or not, owner tries left, clock, reset count, storage key id."""
    with open_mtpm(opts) as m:
        data = m.status().as_dict()
    if as_json:
        print_json(data)
    else:
        console.print(kv_table("mobile TPM owner", [(k, str(v)) for k, v in data.items()]))


# --- migration --------------------------------------------------------------------------------


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
    with open_mtpm(opts) as m:
        m.migration_anchor_set(key, _owner_auth(m, Secrets(), owner_auth_fd))
    click.echo("migration CA installed: exports go only to targets it certified")


@migrate.command("target")
@click.argument("out_file", metavar="OUT", type=click.File("w"))
@click.pass_obj
def migrate_target(opts: Options, out_file: Any) -> None:
    """Write this card's certified migration key (JSON: TPM2B_PUBLIC, the EK's CERTIFY of it
    as TPMS_ATTEST + TPMT_SIGNATURE, the EK and its certificate, all hex), for the CA."""
    from tpmcard.mtpm_verify import MigrationTarget

    with open_mtpm(opts) as m:
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
    from tpmcard.mtpm import MigrationCertificate

    if (sealed_file is None) == (nv_handle is None):
        raise click.UsageError("give exactly one of --sealed BLOB and --nv HANDLE")
    certificate = target_file.read()
    try:
        MigrationCertificate.parse(certificate)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--target") from None
    secrets = Secrets()
    with open_mtpm(opts) as m:
        owner_auth = _owner_auth(m, secrets, owner_auth_fd)
        auth = _secret(secrets, auth_fd, auth_prompt, "auth value of the object")
        if sealed_file is not None:
            duplicate = m.migrate_export_sealed(
                sealed_file.read(), certificate, owner_auth, auth, move=move
            )
        else:
            assert nv_handle is not None
            duplicate = m.migrate_export_nv(
                _handle(nv_handle), certificate, owner_auth, auth, move=move
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
    from tpmcard.mtpm import duplicate_kind

    duplicate = in_file.read()
    try:
        kind = duplicate_kind(duplicate)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if kind == "sealed" and out_file is None:
        raise click.UsageError("a sealed duplicate needs OUT for the new blob")
    with open_mtpm(opts) as m:
        owner_auth = _owner_auth(m, Secrets(), owner_auth_fd)
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
    from tpmcard.ca import ca_dir

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
@click.option("--owner-auth-fd", type=int, metavar="N", help=OWNER_FD_HELP)
@click.pass_obj
def ek_cert_set(opts: Options, certificate: BinaryIO, owner_auth_fd: int | None) -> None:
    """Store the EK certificate (DER or PEM) on the card."""
    data = certificate.read()
    if data.startswith(b"-----"):
        data = x509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.DER)
    with open_mtpm(opts) as m:
        m.ek_cert_set(data, _owner_auth(m, Secrets(), owner_auth_fd))


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
    """The CA (keys in $TPMCARD_STATE_DIR/ca): mobile-TPM EKs, host TPMs' AKs (enroll, install)."""


@ca.command("init")
@click.option("--force", is_flag=True, help="replace an existing CA")
def ca_init(force: bool) -> None:
    from tpmcard.ca import ManufacturerCa, ca_dir

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
    from tpmcard.ca import ManufacturerCa
    from tpmcard.mtpm import public_point
    from tpmcard.mtpm_verify import MigrationTarget

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
    """Verify a quote directory: AK -> EK -> CA chain, then each quote in it (quote.msg: magic,
    type, signer, nonce, PCR digest; quote.jwt / quote.cwt: signature, nonce, card id, PCRs)."""
    from tpmcard.ca import ca_dir
    from tpmcard.mtpm_verify import QuoteBundle
    from tpmcard.quote_formats import FILES, TokenQuote

    pem = ca_file.read() if ca_file is not None else (ca_dir() / "ca.pem").read_bytes()
    ca = x509.load_pem_x509_certificate(pem)
    tokens = TokenQuote.present(directory)
    if (directory / "quote.msg").exists() or not tokens:
        bundle = QuoteBundle.load(directory)
        parsed = bundle.verify(_hex(nonce), ca)
        click.echo(
            f"OK: quote of {bundle.quote.pcr_selection} by the AK certified by the EK, "
            f"clock {parsed.clock_info.clock}"
        )
    for fmt in tokens:
        claims = TokenQuote.load(directory, fmt).verify(_hex(nonce), ca)
        click.echo(
            f"OK: {FILES[fmt]} ({fmt}) of PCRs {','.join(map(str, claims.pcrs))} "
            f"by the AK certified by the EK, ueid {claims.ueid.hex()}"
        )
