"""``tpmcard mtpm key ...``: the mobile TPM's count-limited keys (docs/counted-keys.md).

Presentation only: :class:`tpmcard.services.counted_keys.CountedKeys` does the work."""

from __future__ import annotations

from typing import BinaryIO

import click
from cryptography.hazmat.primitives import serialization

from tpmcard.cli import JSON_HELP, Options, console, kv_table, parse_hex, print_json
from tpmcard.cli import mtpm as cli_mtpm  # open_mtpm looked up per call: one seam to replace
from tpmcard.cli.binding import Secrets
from tpmcard.cli.mtpm import (
    AUTH_FD_HELP,
    AUTH_PROMPT_HELP,
    OWNER_FD_HELP,
    mtpm,
    read_owner_auth,
    read_secret,
)
from tpmcard.services.counted_keys import CountedKey, CountedKeys, KeyKind
from tpmcard.services.mtpm_constants import MAX_KEY_BUDGET

KINDS = [k.label for k in KeyKind]
PUBLIC_OUT_HELP = "Write the ECDSA public key (PEM) to this file."


def parse_key_handle(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise click.BadParameter(f"{text!r}: a counted key handle such as 0x8c000001") from None
    if value >> 24 != 0x8C or value >> 32:
        raise click.BadParameter(f"{text!r}: counted key handles are 0x8cxxxxxx")
    return value


def _show(key: CountedKey, as_json: bool, public_out: BinaryIO | None = None) -> None:
    if public_out is not None and key.public_key is not None:
        public_out.write(
            key.public_key.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    if as_json:
        print_json(key.as_dict())
        return
    rows = [(k, str(v)) for k, v in key.as_dict().items()]
    console.print(kv_table("counted key", rows))


def _auth(auth_fd: int | None, auth_prompt: bool) -> bytes:
    return read_secret(Secrets(), auth_fd, auth_prompt, "auth value for the key")


@mtpm.group()
def key() -> None:
    """Count-limited keys: each use costs one of a budget set at creation; at zero the key is
    wiped for good (8 slots; docs/counted-keys.md)."""


def _making_options(f: click.decorators.FC) -> click.decorators.FC:
    for option in reversed(
        [
            click.option(
                "--uses",
                required=True,
                type=click.IntRange(1, MAX_KEY_BUDGET),
                help=f"the budget: 1..{MAX_KEY_BUDGET} uses, never raised",
            ),
            click.option("--auth-fd", type=int, metavar="N", help=AUTH_FD_HELP),
            click.option("--auth", "auth_prompt", is_flag=True, help=AUTH_PROMPT_HELP),
            click.option("--owner-auth-fd", type=int, metavar="N", help=OWNER_FD_HELP),
            click.option("--json", "as_json", is_flag=True, help=JSON_HELP),
        ]
    ):
        f = option(f)
    return f


@key.command("create")
@click.argument("kind", type=click.Choice(KINDS))
@_making_options
@click.option("--public-out", type=click.File("wb"), help=PUBLIC_OUT_HELP)
@click.pass_obj
def key_create(
    opts: Options,
    kind: str,
    uses: int,
    auth_fd: int | None,
    auth_prompt: bool,
    owner_auth_fd: int | None,
    as_json: bool,
    public_out: BinaryIO | None,
) -> None:
    """Make a KIND key on the card (its secret never leaves it); print its handle."""
    secrets = Secrets()
    with cli_mtpm.open_mtpm(opts) as m:
        owner = read_owner_auth(m, secrets, owner_auth_fd)
        auth = read_secret(secrets, auth_fd, auth_prompt, "auth value for the key")
        made = CountedKeys(m).create(KeyKind.from_label(kind), uses, auth, owner)
    _show(made, as_json, public_out)


@key.command("import")
@click.argument("kind", type=click.Choice([k for k in KINDS if k != "ecdsa-p256"]))
@click.argument("key_file", metavar="KEYFILE", type=click.File("rb"))
@_making_options
@click.pass_obj
def key_import(
    opts: Options,
    kind: str,
    key_file: BinaryIO,
    uses: int,
    auth_fd: int | None,
    auth_prompt: bool,
    owner_auth_fd: int | None,
    as_json: bool,
) -> None:
    """Bring in the raw key bytes of KEYFILE (HMAC 1..64, AES 16/32 bytes) inside the secure
    session; the budget limits this card's uses, not other copies of the bytes."""
    secret = key_file.read()
    secrets = Secrets()
    with cli_mtpm.open_mtpm(opts) as m:
        owner = read_owner_auth(m, secrets, owner_auth_fd)
        auth = read_secret(secrets, auth_fd, auth_prompt, "auth value for the key")
        made = CountedKeys(m).import_key(KeyKind.from_label(kind), secret, uses, auth, owner)
    _show(made, as_json)


def _use_options(f: click.decorators.FC) -> click.decorators.FC:
    for option in reversed(
        [
            click.argument("handle"),
            click.argument("in_file", metavar="IN", type=click.File("rb")),
            click.argument("out_file", metavar="OUT", type=click.File("wb")),
            click.option("--auth-fd", type=int, metavar="N", help=AUTH_FD_HELP),
            click.option("--auth", "auth_prompt", is_flag=True, help=AUTH_PROMPT_HELP),
            click.option("--json", "as_json", is_flag=True, help=JSON_HELP),
        ]
    ):
        f = option(f)
    return f


def _report(handle: int, written: bytes, out_file: BinaryIO, as_json: bool) -> None:
    out_file.write(written)
    if as_json:
        print_json({"handle": f"0x{handle:08x}", "bytes": len(written)})


@key.command("sign")
@_use_options
@click.pass_obj
def key_sign(
    opts: Options,
    handle: str,
    in_file: BinaryIO,
    out_file: BinaryIO,
    auth_fd: int | None,
    auth_prompt: bool,
    as_json: bool,
) -> None:
    """ECDSA P-256 SHA-256 over IN; the DER signature to OUT (one use)."""
    h, message, auth = parse_key_handle(handle), in_file.read(), _auth(auth_fd, auth_prompt)
    with cli_mtpm.open_mtpm(opts) as m:
        _report(h, CountedKeys(m).sign(h, message, auth), out_file, as_json)


@key.command("mac")
@_use_options
@click.pass_obj
def key_mac(
    opts: Options,
    handle: str,
    in_file: BinaryIO,
    out_file: BinaryIO,
    auth_fd: int | None,
    auth_prompt: bool,
    as_json: bool,
) -> None:
    """HMAC-SHA-256 over IN; the 32-byte MAC to OUT (one use)."""
    h, data, auth = parse_key_handle(handle), in_file.read(), _auth(auth_fd, auth_prompt)
    with cli_mtpm.open_mtpm(opts) as m:
        _report(h, CountedKeys(m).mac(h, data, auth), out_file, as_json)


@key.command("encrypt")
@_use_options
@click.option("--iv", required=True, help="16 bytes, hex")
@click.pass_obj
def key_encrypt(
    opts: Options,
    handle: str,
    in_file: BinaryIO,
    out_file: BinaryIO,
    auth_fd: int | None,
    auth_prompt: bool,
    as_json: bool,
    iv: str,
) -> None:
    """AES-CBC of IN (whole 16-byte blocks, no padding) to OUT (one use)."""
    h, data, auth = parse_key_handle(handle), in_file.read(), _auth(auth_fd, auth_prompt)
    with cli_mtpm.open_mtpm(opts) as m:
        _report(h, CountedKeys(m).encrypt(h, parse_hex(iv), data, auth), out_file, as_json)


@key.command("decrypt")
@_use_options
@click.option("--iv", required=True, help="16 bytes, hex")
@click.pass_obj
def key_decrypt(
    opts: Options,
    handle: str,
    in_file: BinaryIO,
    out_file: BinaryIO,
    auth_fd: int | None,
    auth_prompt: bool,
    as_json: bool,
    iv: str,
) -> None:
    """AES-CBC decryption of IN (whole blocks) to OUT (one use)."""
    h, data, auth = parse_key_handle(handle), in_file.read(), _auth(auth_fd, auth_prompt)
    with cli_mtpm.open_mtpm(opts) as m:
        _report(h, CountedKeys(m).decrypt(h, parse_hex(iv), data, auth), out_file, as_json)


@key.command("remaining")
@click.argument("handle")
@click.option("--public-out", type=click.File("wb"), help=PUBLIC_OUT_HELP)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_obj
def key_remaining(opts: Options, handle: str, public_out: BinaryIO | None, as_json: bool) -> None:
    """The key's kind and uses left (0: dead for good)."""
    with cli_mtpm.open_mtpm(opts) as m:
        found = CountedKeys(m).remaining(parse_key_handle(handle))
    _show(found, as_json, public_out)


@key.command("list")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_obj
def key_list(opts: Options, as_json: bool) -> None:
    """Every counted key on the card, live or dead."""
    with cli_mtpm.open_mtpm(opts) as m:
        keys = CountedKeys(m).list()
    if as_json:
        print_json([k.as_dict() for k in keys])
        return
    for k in keys:
        state = "dead" if k.dead else f"{k.remaining} uses left"
        click.echo(f"0x{k.handle:08x}  {k.kind.label:<12} {state}")


@key.command("delete")
@click.argument("handle")
@click.option("--owner-auth-fd", type=int, metavar="N", help=OWNER_FD_HELP)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_obj
def key_delete(opts: Options, handle: str, owner_auth_fd: int | None, as_json: bool) -> None:
    """Free the key's slot (live or dead); its handle is gone for good."""
    h = parse_key_handle(handle)
    with cli_mtpm.open_mtpm(opts) as m:
        CountedKeys(m).delete(h, read_owner_auth(m, Secrets(), owner_auth_fd))
    if as_json:
        print_json({"handle": f"0x{h:08x}", "deleted": True})
