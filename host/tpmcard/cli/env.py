"""``tpmcard env pack|launch|attest|show``: the portable environment, presentation only.

The work is :mod:`tpmcard.services.env`'s; this module reads PINs, opens the host TPM and the
secured session (:func:`open_host`, which tests replace), and draws a progress bar on a terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import click
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

import tpmcard.services.env.attestation as env_attest
from tpmcard.cli import Options, cli, console, print_json
from tpmcard.cli.binding import PIN_FD_HELP, Secrets, parse_pcrs
from tpmcard.services.env import service
from tpmcard.services.env.format import DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE

Connect = Callable[[bytes | None], AbstractContextManager[Any]]


@contextmanager
def open_host(opts: Options) -> Iterator[tuple[Any, Connect]]:
    """The host TPM, and how to open a secured session with a card (by id) over it."""
    import tpmcard
    from tpmcard.services import client
    from tpmcard.tpm import Tpm

    tpm = Tpm.open(client.resolve_tcti(opts.tcti))
    try:

        def connect(card_id: bytes | None) -> AbstractContextManager[Any]:
            return tpmcard.connect(reader=opts.reader, tpm=tpm, card_id=card_id)

        yield tpm, connect
    finally:
        tpm.close()


class _Bar:
    """A progress bar on a terminal (nothing otherwise), shown from the first bytes on (not
    while the PIN is asked for); :meth:`stop` ends it early."""

    def __init__(self, what: str, total: int | None) -> None:
        self._bar: Progress | None = None
        self._started = False
        self.advance: Callable[[int], None] | None = None
        if console.is_terminal:
            bar = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=True,
            )
            task = bar.add_task(what, total=total)
            self._bar = bar

            def advance(n: int) -> None:
                if not self._started:
                    self._started = True
                    bar.start()
                bar.advance(task, n)

            self.advance = advance

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._bar is not None and self._started:
            self._bar.stop()
        self._bar = None
        self.advance = None


def _pcr_list(text: str | None) -> list[int]:
    return list(parse_pcrs(text)) if text else []


def _source_size(path: Path) -> int | None:
    return path.stat().st_size if path.is_file() else None


@cli.group()
def env() -> None:
    """Portable environments: an encrypted image that opens only on a measured host, with
    your PIN, through the card (docs/portable-environment.md).

    \b
    tpmcard env pack SRC IMAGE [--mtpm-pcrs 10] [--host-pcrs 0-7]
    tpmcard env launch IMAGE -- qemu-system-x86_64 -m 2G -drive file={},format=qcow2
    tpmcard env attest IMAGE --nonce HEX --out DIR ; tpmcard verify DIR --nonce HEX
    tpmcard env move IMAGE --target CERT DUP ; tpmcard env import IMAGE DUP (target card)
    """


@env.command()
@click.argument("source", metavar="SRC", type=click.Path(exists=True, path_type=Path))
@click.argument("image", metavar="IMAGE", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--pin-fd", type=int, metavar="N", help=PIN_FD_HELP)
@click.option(
    "--mtpm-pcrs",
    metavar="LIST",
    help="Mobile-TPM PCRs (10-22 but 16) also sealed to, at their current values, e.g. 10,11 "
    "or 10-12.",
)
@click.option(
    "--host-pcrs",
    metavar="LIST",
    help="Host PCRs 0-7 also sealed to, as this session's quote gave them (ties the image to "
    "this host's boot chain; a portable environment usually leaves them out).",
)
@click.option(
    "--migratable",
    is_flag=True,
    help="Allow the key to move to another card later (`tpmcard env move`); decided now.",
)
@click.option(
    "--chunk-size",
    type=click.IntRange(MIN_CHUNK_SIZE, MAX_CHUNK_SIZE),
    default=DEFAULT_CHUNK_SIZE,
    show_default=True,
    help="Plaintext bytes per authenticated chunk.",
)
@click.pass_obj
def pack(
    opts: Options,
    source: Path,
    image: Path,
    pin_fd: int | None,
    mtpm_pcrs: str | None,
    host_pcrs: str | None,
    migratable: bool,
    chunk_size: int,
) -> None:
    """Encrypt SRC (a disk image, or a directory as a tar stream) into IMAGE.

    The content key is sealed in the card's mobile TPM (owned: `tpmcard mtpm owner take`) to
    host PCR 8 as the launcher measures it, the chosen PCRs, and a PIN you choose now.
    """
    host, mobile = _pcr_list(host_pcrs), _pcr_list(mtpm_pcrs)
    try:
        service._check_pcrs(host, mobile)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    pin = Secrets().read(pin_fd, "environment PIN", confirm=True).encode()
    with open_host(opts) as (_tpm, connect), connect(None) as session:
        with _Bar("packing", _source_size(source)) as bar:
            header = service.pack(
                session,
                source,
                image,
                pin,
                host_pcrs=host,
                mtpm_pcrs=mobile,
                migratable=migratable,
                chunk_size=chunk_size,
                progress=bar.advance,
            )
    click.echo(
        f"{image}: {header.size} bytes ({header.kind}), card {header.card_id.hex()}, "
        f"image digest {header.digest.hex()}"
    )


@env.command(context_settings={"ignore_unknown_options": True})
@click.argument(
    "image", metavar="IMAGE", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.argument(
    "command", metavar="-- CMD [ARGS...]", nargs=-1, required=True, type=click.UNPROCESSED
)
@click.option("--pin-fd", type=int, metavar="N", help=PIN_FD_HELP)
@click.option(
    "--writeback",
    is_flag=True,
    help="When CMD exits, seal the (changed) environment back into IMAGE.",
)
@click.option(
    "--tmpfs",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Memory file system to unpack a directory environment into (default: "
    "$XDG_RUNTIME_DIR, else /dev/shm). A file environment goes to a memfd.",
)
@click.pass_obj
def launch(
    opts: Options,
    image: Path,
    command: tuple[str, ...],
    pin_fd: int | None,
    writeback: bool,
    tmpfs: Path | None,
) -> None:
    """Open IMAGE and run CMD with {} replaced by the decrypted environment's path.

    In this order: measure the launcher into host PCR 8; open the session with the card; read
    the PIN; unseal the key; decrypt into memory (never onto disk); extend mobile-TPM PCR 9
    with the image digest; run CMD; wipe. Exits with CMD's status.
    """
    secrets = Secrets()
    header = service.read_header(image)
    with open_host(opts) as (tpm, connect):
        with _Bar("decrypting", header.size) as bar:
            result = service.launch(
                image,
                list(command),
                host_tpm=tpm,
                connect=connect,
                read_pin=lambda: secrets.read(pin_fd, "environment PIN").encode(),
                writeback=writeback,
                progress=bar.advance,
                tmpfs=tmpfs,
                before_run=bar.stop,
            )
    if result.written_back is not None:
        click.echo(
            f"{image}: written back, image digest {result.written_back.digest.hex()}", err=True
        )
    sys.exit(result.status)


@env.command()
@click.argument(
    "image", metavar="IMAGE", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--nonce", required=True, help="the verifier's nonce, hex (at most 64 bytes)")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.pass_obj
def attest(opts: Options, image: Path, nonce: str, out_dir: Path) -> None:
    """Quote PCRs 0-9 into OUT for `tpmcard verify OUT --nonce HEX` and tpm2_checkquote
    (-l sha256:0,1,2,3,4,5,6,7,8,9), with environment.json: the PCR 8 and PCR 9 values this
    image's launch gives."""
    try:
        nonce_bytes = bytes.fromhex(nonce)
    except ValueError:
        raise click.BadParameter("hexadecimal bytes, e.g. 00112233") from None
    header = service.read_header(image)
    with open_host(opts) as (_tpm, connect), connect(header.card_id) as session:
        for path in env_attest.attest(session, header, nonce_bytes, out_dir):
            click.echo(str(path))


@env.command()
@click.argument(
    "image", metavar="IMAGE", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--json", "as_json", is_flag=True)
def show(image: Path, as_json: bool) -> None:
    """Print IMAGE's header (public: policy, card id, digest; the key stays sealed)."""
    header = service.read_header(image)
    data = {
        "kind": header.kind,
        "size": header.size,
        "chunk_size": header.chunk_size,
        "card_id": header.card_id.hex(),
        "image_digest": header.digest.hex(),
        "content_hash": header.content_hash.hex(),
        "policy": header.policy,
    }
    if as_json:
        print_json(data)
        return
    for key, value in data.items():
        click.echo(f"{key}: {value}")


OWNER_FD_HELP = (
    "Read the card owner's auth from this file descriptor (one line; read before the PIN when "
    "both come from one descriptor) instead of a prompt."
)


@env.command()
@click.argument(
    "image", metavar="IMAGE", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--target",
    "target_file",
    required=True,
    type=click.File("rb"),
    help="The target card's migration certificate (`tpmcard ca certify-target`).",
)
@click.argument("duplicate_file", metavar="DUPLICATE", type=click.File("wb"))
@click.option("--owner-auth-fd", type=int, metavar="N", help=OWNER_FD_HELP)
@click.option("--pin-fd", type=int, metavar="N", help=PIN_FD_HELP)
@click.pass_obj
def move(
    opts: Options,
    image: Path,
    target_file: Any,
    duplicate_file: Any,
    owner_auth_fd: int | None,
    pin_fd: int | None,
) -> None:
    """Move IMAGE's key from its card to another card (source host, source card).

    A move under the mobile TPM's migration rules: the key was packed --migratable, the target
    is certified by the migration CA this card's owner trusts (`tpmcard mtpm migrate trust`),
    the owner approves with the owner auth, and the PIN and policy must hold as for a launch
    (the launcher is measured into PCR 8 first). The key is revoked on this card; take
    DUPLICATE to the target card: `tpmcard env import IMAGE DUPLICATE`.
    """
    secrets = Secrets()
    owner = secrets.read(owner_auth_fd, "card owner auth").encode()
    pin = secrets.read(pin_fd, "environment PIN").encode()
    certificate = target_file.read()
    with open_host(opts) as (tpm, connect):
        duplicate = env_attest.export_key(tpm, connect, image, certificate, owner, pin)
    duplicate_file.write(duplicate)
    click.echo(f"{image}: key moved out of its card; import DUPLICATE on the target card")


@env.command("import")
@click.argument(
    "image", metavar="IMAGE", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.argument("duplicate_file", metavar="DUPLICATE", type=click.File("rb"))
@click.option("--owner-auth-fd", type=int, metavar="N", help=OWNER_FD_HELP)
@click.pass_obj
def import_(opts: Options, image: Path, duplicate_file: Any, owner_auth_fd: int | None) -> None:
    """Take a moved key into this card (target card, owned) and rebind IMAGE to it."""
    owner = Secrets().read(owner_auth_fd, "card owner auth").encode()
    with open_host(opts) as (_tpm, connect), connect(None) as session:
        header = env_attest.import_key(session, image, duplicate_file.read(), owner)
    click.echo(f"{image}: now bound to card {header.card_id.hex()}")
