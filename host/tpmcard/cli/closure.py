"""``tpmcard closure``: build closures on the host, seal, load, list, run and remove them on the
card (docs/closures.md).

Presentation only: :mod:`tpmcard.services.closures` assembles and talks to the card."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tpmcard.cli import JSON_HELP, Options, cli, console, kv_table, parse_hex, print_json
from tpmcard.cli import mtpm as cli_mtpm  # open_mtpm looked up per call: one seam to replace
from tpmcard.cli.binding import Secrets
from tpmcard.cli.mtpm import OWNER_FD_HELP, read_owner_auth
from tpmcard.services.closures import PlainImage, assemble, read_image, sealed_header
from tpmcard.services.closures.session import ClosuresSession


@contextmanager
def _closures(opts: Options) -> Iterator[ClosuresSession]:
    with cli_mtpm.open_mtpm(opts) as m:
        yield ClosuresSession(m)


def _show(title: str, data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(data)
    else:
        console.print(kv_table(title, [(k, str(v)) for k, v in data.items()]))


def _read(path: Path) -> PlainImage | bytes:
    try:
        return read_image(path.read_bytes())
    except OSError as exc:
        raise click.BadParameter(f"{path}: {exc.strerror}") from None


def _source_text(source: Path) -> str:
    if source.is_file():
        return source.read_text()
    from tpmcard.services.closures import examples

    if str(source) in examples.names():
        return examples.default_source(str(source))
    raise click.BadParameter(
        f"{source}: no such file, nor an example closure ({', '.join(examples.names())})",
        param_hint="SRC",
    )


def _load_pem(path: Path, private: bool) -> Any:
    data = path.read_bytes()
    try:
        if private:
            return serialization.load_pem_private_key(data, password=None)
        try:
            return serialization.load_pem_public_key(data)
        except ValueError:
            return serialization.load_pem_private_key(data, password=None).public_key()
    except (ValueError, TypeError) as exc:
        raise click.BadParameter(f"{path}: not an unencrypted PEM key ({exc})") from None


@cli.group()
def closure() -> None:
    """Small programs that run inside the card (docs/closures.md).

    \b
    build   assemble SRC.tcl (or an example's NAME) into a plain image (host only; --sign-key:
            an authority signs it)
    seal    seal a plain image to this card (a host-held image)
    load    put a closure into one of the card's slots (with its own store)
    list    the loaded closures
    run     run a loaded closure by NAME, or a host-held image (--image)
    remove  wipe a loaded closure and its store
    store   quota and use of a closure's store
    authority  the signing authority the card trusts (owner)
    example    the example closures shipped with tpmcard (HOTP, TOTP, a rate-limited signer,
               a PCR-gated secret)
    """


@closure.command()
@click.argument("source", metavar="SRC", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--out", "out_path", required=True, type=click.Path(path_type=Path),
              help="the plain image to write")  # fmt: skip
@click.option("--sign-key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="PEM private key (P-256) of the authority that signs the image")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def build(source: Path, out_path: Path, sign_key: Path | None, as_json: bool) -> None:
    """Assemble SRC (the assembler syntax of docs/closures.md) into a plain image. SRC is a file,
    or the name of an example closure (`tpmcard closure example list`)."""
    image = assemble(_source_text(source), name=None)
    if sign_key is not None:
        key = _load_pem(sign_key, private=True)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise click.BadParameter(f"{sign_key}: not an EC private key")
        image = image.sign(key)
    out_path.write_bytes(image.encode())
    h = image.header
    _show("closure image", {
        "name": h.name, "version": h.version, "code_length": h.code_length, "stack": h.stack,
        "memory": h.memory, "output": h.output, "store": h.store, "steps": h.steps,
        "signed": h.signed, "image_id": image.image_id.hex(), "file": str(out_path),
    }, as_json)  # fmt: skip


@closure.command()
@click.argument(
    "image_path", metavar="IMAGE", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("-o", "--out", "out_path", required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_obj
def seal(opts: Options, image_path: Path, out_path: Path, as_json: bool) -> None:
    """Seal a plain IMAGE to this card (encrypted and MACed under card-only keys)."""
    image = _read(image_path)
    if not isinstance(image, PlainImage):
        raise click.BadParameter(f"{image_path}: already sealed")
    with _closures(opts) as closures:
        sealed = closures.seal(image)
    out_path.write_bytes(sealed)
    _show("sealed closure", {"name": image.header.name, "length": len(sealed),
                             "file": str(out_path)}, as_json)  # fmt: skip


@closure.command()
@click.argument(
    "image_path", metavar="IMAGE", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--owner-auth-fd", type=int, metavar="N", help=OWNER_FD_HELP)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_obj
def load(opts: Options, image_path: Path, owner_auth_fd: int | None, as_json: bool) -> None:
    """Load IMAGE (sealed, or plain: sealed first) into a card slot."""
    image = _read(image_path)
    name = image.header.name if isinstance(image, PlainImage) else sealed_header(image).name
    with _closures(opts) as closures:
        slot = closures.load(image, read_owner_auth(closures.mtpm, Secrets(), owner_auth_fd))
    _show("loaded", {"name": name, "slot": slot}, as_json)


@closure.command("list")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_obj
def list_(opts: Options, as_json: bool) -> None:
    """The closures loaded on the card."""
    with _closures(opts) as closures:
        infos = [i.as_json() for i in closures.list()]
    if as_json:
        print_json(infos)
        return
    if not infos:
        console.print("no closures loaded")
    for info in infos:
        console.print(kv_table(str(info["name"]), [(k, str(v)) for k, v in info.items()]))


@closure.command()
@click.argument("name", required=False)
@click.option("--image", "image_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="run this host-held image (sealed, or plain: sealed first) instead")  # fmt: skip
@click.option("--arg", "args", multiple=True, metavar="HEX",
              help="argument bytes (hex); several are concatenated")  # fmt: skip
@click.option("-o", "--out", "out_path", type=click.Path(path_type=Path),
              help="write the output bytes here")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_obj
def run(
    opts: Options, name: str | None, image_path: Path | None, args: tuple[str, ...],
    out_path: Path | None, as_json: bool,
) -> None:  # fmt: skip
    """Run the loaded closure NAME, or --image FILE, with --arg bytes; prints the output (hex)."""
    if (name is None) == (image_path is None):
        raise click.UsageError("give a NAME or --image FILE (one of them)")
    data = b"".join(parse_hex(a) for a in args)
    with _closures(opts) as closures:
        if image_path is not None:
            output = closures.run_image(_read(image_path), data)
        else:
            assert name is not None
            output = closures.run(name, data)
    if out_path is not None:
        out_path.write_bytes(output)
    if as_json:
        print_json({"output": output.hex()})
    else:
        click.echo(output.hex())


@closure.command()
@click.argument("name")
@click.option("--owner-auth-fd", type=int, metavar="N", help=OWNER_FD_HELP)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_obj
def remove(opts: Options, name: str, owner_auth_fd: int | None, as_json: bool) -> None:
    """Remove the loaded closure NAME; its store is wiped."""
    with _closures(opts) as closures:
        closures.remove(name, read_owner_auth(closures.mtpm, Secrets(), owner_auth_fd))
    _show("removed", {"name": name}, as_json)


@closure.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_obj
def store(opts: Options, name: str, as_json: bool) -> None:
    """Quota and used bytes of the loaded closure NAME's store (never its contents)."""
    with _closures(opts) as closures:
        quota, used = closures.store(name)
    _show(f"store of {name}", {"name": name, "quota": quota, "used": used}, as_json)


@closure.group()
def authority() -> None:
    """The authority whose signed images the card marks trusted (owner only)."""


@authority.command("set")
@click.argument(
    "key_path", metavar="KEY.pem", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--owner-auth-fd", type=int, metavar="N", help=OWNER_FD_HELP)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_obj
def authority_set(opts: Options, key_path: Path, owner_auth_fd: int | None, as_json: bool) -> None:
    """Register the P-256 key in KEY.pem (public, or the private key's public half)."""
    key = _load_pem(key_path, private=False)
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise click.BadParameter(f"{key_path}: not an EC key")
    with _closures(opts) as closures:
        closures.authority_set(key, read_owner_auth(closures.mtpm, Secrets(), owner_auth_fd))
    _show("closure authority", {"registered": True}, as_json)


@authority.command("remove")
@click.option("--owner-auth-fd", type=int, metavar="N", help=OWNER_FD_HELP)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_obj
def authority_remove(opts: Options, owner_auth_fd: int | None, as_json: bool) -> None:
    """Remove the registered authority (signed closures stay, no longer trusted)."""
    with _closures(opts) as closures:
        closures.authority_set(None, read_owner_auth(closures.mtpm, Secrets(), owner_auth_fd))
    _show("closure authority", {"registered": False}, as_json)


@authority.command("get")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_obj
def authority_get(opts: Options, as_json: bool) -> None:
    """The registered authority's point (04 || x || y, hex), or none."""
    with _closures(opts) as closures:
        point = closures.authority_get()
    _show("closure authority", {"point": point.hex() if point else None}, as_json)
