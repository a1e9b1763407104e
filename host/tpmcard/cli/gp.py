"""``tpmcard gp``: load the suite onto a card with GlobalPlatformPro (docs/deployment.md).

Presentation only: the plans (which gptool runs, with which arguments) come from
:mod:`tpmcard.services.gp`. Card keys come from ``$TPMCARD_GP_KEY_FILE`` (mode 0600),
``$TPMCARD_GP_KEY`` or ``$TPMCARD_GP_KEY_ENC/_MAC/_DEK``, never from this command line; gptool
receives them through a private pipe, not its argv.
"""

from __future__ import annotations

from collections.abc import Callable

import click

from tpmcard.cli import JSON_HELP, Options, cli, console, print_json
from tpmcard.services import gp
from tpmcard.transport import list_readers


def _reader(opts: Options) -> str:
    if not opts.reader or opts.reader.strip().lower() == "sim":
        return gp.resolve_reader_name(opts.reader, [])  # refused, with the reason, before PC/SC
    return gp.resolve_reader_name(opts.reader, list_readers())


def _profile(name: str) -> gp.DeploymentProfile:
    return gp.load_profile(name)


def _show_plan(plan: list[gp.GpInvocation]) -> None:
    for step in plan:
        console.print(
            f"[bold]{step.purpose}[/]: gptool {' '.join(step.redacted())}", highlight=False
        )


def _progress() -> Callable[[gp.GpInvocation], None]:
    def show(step: gp.GpInvocation) -> None:
        console.print(f"-> {step.purpose}", highlight=False)

    return show


profile_option = click.option(
    "--profile", default="default", show_default=True, help="Deployment profile in gp/profiles."
)
dry_run_option = click.option(
    "--dry-run",
    is_flag=True,
    help="Print the gptool runs (secrets redacted) instead of running them.",
)


@cli.group("gp")
def gp_group() -> None:
    """Load, replace and remove the suite on a card with GlobalPlatformPro.

    \b
    Needs the CAP files (`gradle cap -PJC_HOME=<JavaCard SDK>`) and GlobalPlatformPro
    (`TPMCARD_GP_JAR=<gp.jar>`); neither is available from the registries this project's
    machines reach (docs/deployment.md). The reader is the global --reader (a PC/SC reader).
    """


@gp_group.command("install")
@profile_option
@dry_run_option
@click.pass_obj
def install(opts: Options, profile: str, dry_run: bool) -> None:
    """Load and install every package of the suite, in the profile's order."""
    prof, reader = _profile(profile), _reader(opts)
    if dry_run:
        _show_plan(gp.plan_install(prof, gp.read_suite_caps(prof), gp.load_card_keys(), reader))
        return
    gp.install(reader, prof, progress=_progress())
    console.print("installed")


@gp_group.command("uninstall")
@profile_option
@dry_run_option
@click.confirmation_option(prompt="Delete the whole suite and all its data from the card?")
@click.pass_obj
def uninstall(opts: Options, profile: str, dry_run: bool) -> None:
    """Delete every package of the suite, with its applets and their data."""
    prof, reader = _profile(profile), _reader(opts)
    if dry_run:
        _show_plan(gp.plan_uninstall(prof, gp.load_card_keys(), reader))
        return
    gp.uninstall(reader, prof, progress=_progress())
    console.print("uninstalled")


@gp_group.command("upgrade")
@click.argument("name")
@click.option(
    "--with-dependents",
    is_flag=True,
    help="Also reinstall the packages that import NAME (they lose their data too).",
)
@profile_option
@dry_run_option
@click.pass_obj
def upgrade(opts: Options, name: str, with_dependents: bool, profile: str, dry_run: bool) -> None:
    """Replace one package (e.g. an algorithm provider); the rest of the suite keeps its data."""
    prof, reader = _profile(profile), _reader(opts)
    if dry_run:
        caps = gp.read_suite_caps(prof)
        plan = gp.plan_upgrade(prof, caps, name, gp.load_card_keys(), reader, with_dependents)
        _show_plan(plan)
        return
    gp.upgrade(reader, name, with_dependents, prof, progress=_progress())
    console.print(f"upgraded {name}")


@gp_group.command("list")
@profile_option
@dry_run_option
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_obj
def list_card(opts: Options, profile: str, dry_run: bool, as_json: bool) -> None:
    """List the card's packages and applets (GET STATUS)."""
    prof, reader = _profile(profile), _reader(opts)
    if dry_run:
        _show_plan(gp.plan_list(prof, gp.load_card_keys(), reader))
        return
    listing = gp.list_card(reader, prof)
    if as_json:
        print_json([entry.as_dict() for entry in gp.parse_listing(listing)])
    else:
        click.echo(listing)
