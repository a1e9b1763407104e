"""``tpmcard tpm serve``: the embedded swtpm, kept running for other programs (tpm2-tools).

The embedded TPM normally lives only as long as one tpmcard command, on a port chosen at start,
so its TCTI is useless to anyone else. ``serve`` keeps it running in the foreground and prints
that TCTI; Ctrl-C (or SIGTERM) saves its state with TPM2_Shutdown(STATE) and stops it, exactly
as every tpmcard command does on exit.
"""

from __future__ import annotations

import signal
import sys
import time
from types import FrameType

import click

from tpmcard.cli import Options, cli, err_console
from tpmcard.errors import TpmcardError
from tpmcard.tpm.swtpm import Swtpm


@cli.group()
def tpm() -> None:
    """The host TPM (the embedded swtpm unless --tcti / TPMCARD_TCTI names another)."""


class _Stop(Exception):
    """SIGINT or SIGTERM, turned into an exception so that the finally block stops swtpm
    cleanly. SIGINT gets its own handler too: a shell starts background jobs with SIGINT
    ignored, and Python then never raises KeyboardInterrupt."""


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise _Stop


@tpm.command()
@click.pass_obj
def serve(opts: Options) -> None:
    """Run the embedded swtpm in the foreground; print its TCTI on stdout.

    \b
    Other programs reach the same TPM (same state, same PCRs) while it runs:
      TPM2TOOLS_TCTI=<printed TCTI> tpm2_pcrread sha256:0,1,8
      tpmcard --tcti <printed TCTI> mtpm pcr read
    (a tpmcard command without --tcti would try to start the embedded swtpm itself, and finds
    its state in use). Ctrl-C stops it with TPM2_Shutdown(STATE), so PCRs persist.
    """
    if opts.tcti:
        raise TpmcardError(
            f"--tcti / TPMCARD_TCTI names a TPM that is already running ({opts.tcti}); "
            "`tpmcard tpm serve` runs the embedded one: unset it"
        )
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    swtpm = Swtpm()
    try:
        swtpm.start()
        click.echo(swtpm.tcti)
        sys.stdout.flush()
        err_console.print(
            f"embedded TPM running (pid {swtpm.pid}, state in {swtpm.state_dir}, "
            f"{'resumed' if swtpm.resumed else 'fresh start'}).\n"
            f"  export TPM2TOOLS_TCTI='{swtpm.tcti}'   or   tpmcard --tcti '{swtpm.tcti}' ...\n"
            "Ctrl-C stops it (state saved).",
            highlight=False,
        )
        while swtpm.running:
            time.sleep(0.2)
        raise TpmcardError(f"swtpm exited on its own; see {swtpm.log_file}")
    except _Stop:
        err_console.print("stopping the embedded TPM (TPM2_Shutdown(STATE))", highlight=False)
    finally:
        swtpm.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
