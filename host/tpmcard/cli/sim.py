"""``tpmcard sim``: the simulated card (serve it over PC/SC, reset it) and the embedded TPM."""

from __future__ import annotations

import click

from tpmcard.cli import Options, cli, console


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
@click.pass_obj
def serve(opts: Options, slot: int) -> None:
    """Put the simulated card behind PC/SC (pcscd + vsmartcard-vpcd) until Ctrl-C.

    It is the same card as the in-process 'sim' reader (same persistent store), so while it is
    served, use it as --reader 'Virtual PCD 00 00'. pyscard, opensc-tool and GlobalPlatformPro
    see it too. pcscd is started if none is running (as root); otherwise start it with
    'sudo systemctl start pcscd'.
    """
    from tpmcard.sim import vpcd

    def ready(stack: vpcd.SimStack) -> None:
        console.print(
            f"serving the simulated card in reader [bold]{stack.reader}[/]; Ctrl-C to stop"
        )

    vpcd.serve(port=vpcd.VPCD_PORT + slot, on_ready=ready)
    console.print("stopped; the card's state is saved")


@sim.command()
@click.option("--card/--no-card", default=True, show_default=True, help="Erase the simulated card.")
@click.option("--tpm/--no-tpm", default=True, show_default=True, help="Erase the embedded swtpm.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def reset(opts: Options, card: bool, tpm: bool, yes: bool) -> None:
    """Start over with a fresh simulated card and/or a fresh embedded TPM.

    A fresh card has a new identity key; a fresh TPM has new keys and PCRs at zero. Pairings
    made with the old ones stop working.
    """
    what = " and ".join(
        w for w, on in (("the simulated card", card), ("the embedded TPM", tpm)) if on
    )
    if not what:
        raise click.UsageError("nothing to reset")
    if not yes:
        click.confirm(f"Erase {what}?", abort=True)
    if card:
        from tpmcard.transport.jcardsim import erase_card

        erase_card()
        console.print("simulated card erased: the next use installs a fresh card")
    if tpm:
        from tpmcard.tpm import Swtpm

        Swtpm().reset()
        console.print("embedded TPM erased: the next use starts a fresh TPM")
