"""``tpmcard sim``: the simulated card (serve it over PC/SC, reset it) and the embedded TPM."""

from __future__ import annotations

import click

from tpmcard.cli import Options, cli, console
from tpmcard.transport.jcardsim import PROFILE_ENV, profile_descriptions, profile_names

_PROFILE_HELP = (
    "Card profile of a new card (default $"
    + PROFILE_ENV
    + ", else full): "
    + "; ".join(f"{name}: {text}" for name, text in profile_descriptions().items())
    + ". Data from JCAlgTest; docs/simulator.md."
)


@cli.group()
def sim() -> None:
    """The simulated card and the embedded swtpm."""


@sim.command()
@click.option(
    "--slot",
    type=click.IntRange(0, 1),
    default=0,
    show_default=True,
    help="vpcd reader: 0 is 'Virtual PCD 00 00' (port 35963), 1 is 'Virtual PCD 00 01'.",
)
@click.option(
    "--profile",
    type=click.Choice(profile_names()),
    default=None,
    help="Profile of the card if there is none yet (an existing card keeps its own; "
    "asking for another is an error).",
)
@click.pass_obj
def serve(opts: Options, slot: int, profile: str | None) -> None:
    """Put the simulated card behind PC/SC (pcscd + vsmartcard-vpcd) until Ctrl-C.

    It is the same card as the in-process 'sim' reader (same persistent store), so while it is
    served, use it as --reader 'Virtual PCD 00 00'. pyscard, opensc-tool and GlobalPlatformPro
    see it too. pcscd is started if none is running (as root); otherwise start it with
    'sudo systemctl start pcscd'.
    """
    from tpmcard.sim import vpcd

    def ready(stack: vpcd.SimStack) -> None:
        console.print(
            f"serving the simulated card (profile {stack.card.profile}) in reader "
            f"[bold]{stack.reader}[/]; Ctrl-C to stop"
        )

    vpcd.serve(port=vpcd.VPCD_PORT + slot, profile=profile, on_ready=ready)
    console.print("stopped; the card's state is saved")


@sim.command()
@click.option("--card/--no-card", default=True, show_default=True, help="Erase the simulated card.")
@click.option("--tpm/--no-tpm", default=True, show_default=True, help="Erase the embedded swtpm.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--profile", type=click.Choice(profile_names()), default=None, help=_PROFILE_HELP)
@click.pass_obj
def reset(opts: Options, card: bool, tpm: bool, yes: bool, profile: str | None) -> None:
    """Start over with a fresh simulated card and/or a fresh embedded TPM.

    A fresh card has a new identity key; a fresh TPM has new keys and PCRs at zero. Pairings
    made with the old ones stop working. With --profile the new card is made at once, as that
    card (algorithms, transient RAM, int support); without it, the next use makes one of
    profile $TPMCARD_SIM_PROFILE, else full.
    """
    what = " and ".join(
        w for w, on in (("the simulated card", card), ("the embedded TPM", tpm)) if on
    )
    if not what:
        raise click.UsageError("nothing to reset")
    if profile is not None and not card:
        raise click.UsageError("--profile makes a new card: it needs --card")
    if not yes:
        click.confirm(f"Erase {what}?", abort=True)
    if card:
        from tpmcard.transport.jcardsim import erase_card

        erase_card()
        if profile is None:
            console.print("simulated card erased: the next use installs a fresh card")
        else:
            from tpmcard.transport.jcardsim import JCardSimConnection

            JCardSimConnection(profile=profile, purpose="tpmcard sim reset").close()
            console.print(f"simulated card erased; a fresh {profile} card is installed")
    if tpm:
        from tpmcard.tpm import Swtpm

        Swtpm().reset()
        console.print("embedded TPM erased: the next use starts a fresh TPM")
