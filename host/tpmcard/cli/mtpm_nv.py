"""``tpmcard mtpm nv`` and ``tpmcard mtpm counter``: the mobile TPM's NV indices and its
monotonic counters.

Presentation only: :class:`tpmcard.services.mtpm.MtpmSession` does the work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

import click

from tpmcard.cli import JSON_HELP, Options, console, kv_table, print_json
from tpmcard.cli import mtpm as cli_mtpm  # open_mtpm looked up per call: one seam to replace
from tpmcard.cli.binding import Secrets
from tpmcard.cli.mtpm import (
    AUTH_FD_HELP,
    AUTH_PROMPT_HELP,
    MIGRATABLE_HELP,
    OWNER_FD_HELP,
    mtpm,
    parse_handle,
    read_owner_auth,
    read_secret,
)
from tpmcard.errors import TpmcardError
from tpmcard.services.mtpm import MtpmSession


@contextmanager
def _defining(
    opts: Options, owner_auth_fd: int | None, auth_fd: int | None, auth_prompt: bool, what: str
) -> Iterator[tuple[MtpmSession, bytes, bytes]]:
    """The mobile TPM, its owner auth and the new index's auth value, for a define command."""
    secrets = Secrets()
    with cli_mtpm.open_mtpm(opts) as m:
        owner = read_owner_auth(m, secrets, owner_auth_fd)
        yield m, owner, read_secret(secrets, auth_fd, auth_prompt, f"auth value for the {what}")


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
    with _defining(opts, owner_auth_fd, auth_fd, auth_prompt, "NV index") as (m, owner, auth):
        m.nv_define(parse_handle(handle), size, auth, owner, migratable=migratable)


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
    auth = read_secret(Secrets(), auth_fd, auth_prompt, "auth value for the NV index")
    data = in_file.read()
    with cli_mtpm.open_mtpm(opts) as m:
        m.nv_write(parse_handle(handle), data, offset, auth)


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
    index = parse_handle(handle)
    auth = read_secret(Secrets(), auth_fd, auth_prompt, "auth value for the NV index")
    with cli_mtpm.open_mtpm(opts) as m:
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
    with cli_mtpm.open_mtpm(opts) as m:
        m.nv_undefine(parse_handle(handle), read_owner_auth(m, Secrets(), owner_auth_fd))


@nv.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def nv_list(opts: Options, as_json: bool) -> None:
    """The defined indices: handle, kind, size."""
    with cli_mtpm.open_mtpm(opts) as m:
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
    with _defining(opts, owner_auth_fd, auth_fd, auth_prompt, "counter") as (m, owner, auth):
        click.echo(str(m.counter_define(parse_handle(handle), auth, owner, migratable=migratable)))


@counter.command("increment")
@click.argument("handle")
@click.option("--auth-fd", type=int, metavar="N", help=AUTH_FD_HELP)
@click.option("--auth", "auth_prompt", is_flag=True, help=AUTH_PROMPT_HELP)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_obj
def counter_increment(
    opts: Options, handle: str, auth_fd: int | None, auth_prompt: bool, as_json: bool
) -> None:
    """Add one; print the new value."""
    auth = read_secret(Secrets(), auth_fd, auth_prompt, "auth value for the counter")
    with cli_mtpm.open_mtpm(opts) as m:
        value = m.counter_increment(parse_handle(handle), auth)
    print_json({"handle": handle, "value": value}) if as_json else click.echo(str(value))


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
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_obj
def counter_read(
    opts: Options,
    handle: str,
    out_file: BinaryIO | None,
    auth_fd: int | None,
    auth_prompt: bool,
    as_json: bool,
) -> None:
    """Print the value (decimal)."""
    auth = read_secret(Secrets(), auth_fd, auth_prompt, "auth value for the counter")
    with cli_mtpm.open_mtpm(opts) as m:
        value = m.counter_read(parse_handle(handle), auth)
    if out_file is not None:
        out_file.write(value.to_bytes(8, "big"))
    print_json({"handle": handle, "value": value}) if as_json else click.echo(str(value))


@counter.command("undefine")
@click.argument("handle")
@click.option("--owner-auth-fd", type=int, metavar="N", help=OWNER_FD_HELP)
@click.pass_obj
def counter_undefine(opts: Options, handle: str, owner_auth_fd: int | None) -> None:
    """Delete the counter (a new one starts above every value it reached)."""
    with cli_mtpm.open_mtpm(opts) as m:
        m.counter_undefine(parse_handle(handle), read_owner_auth(m, Secrets(), owner_auth_fd))
