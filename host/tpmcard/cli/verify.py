"""``tpmcard verify``: check a quote directory from ``tpmcard mtpm quote`` on any host.

Presentation only: the checks are :class:`tpmcard.services.verify.QuoteBundle`'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import click
from cryptography import x509

from tpmcard.cli import cli, parse_hex


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--nonce", required=True, help="the nonce you gave `tpmcard mtpm quote`, hex")
@click.option(
    "--ca",
    "ca_file",
    type=click.File("rb"),
    help="CA certificate (default: $TPMCARD_STATE_DIR/ca/ca.pem)",
)
@click.option(
    "--image",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A portable environment (`tpmcard env attest`): PCR 9 must hold its digest and PCR 8 "
    "its launcher's measurement. Without it, DIR/environment.json is checked if present.",
)
def verify(directory: Path, nonce: str, ca_file: BinaryIO | None, image: Path | None) -> None:
    """Verify a quote directory: AK -> EK -> CA chain, then each quote in it (quote.msg: magic,
    type, signer, nonce, PCR digest; quote.jwt / quote.cwt: signature, nonce, card id, PCRs),
    and a portable environment's PCR 8 and 9."""
    from tpmcard.services.ca import ca_dir
    from tpmcard.services.env.attestation import ATTESTATION_FILE, verify_environment
    from tpmcard.services.quote_formats import FILES, TokenQuote
    from tpmcard.services.verify import QuoteBundle

    pem = ca_file.read() if ca_file is not None else (ca_dir() / "ca.pem").read_bytes()
    ca = x509.load_pem_x509_certificate(pem)
    tokens = TokenQuote.present(directory)
    if (directory / "quote.msg").exists() or not tokens:
        bundle = QuoteBundle.load(directory)
        parsed = bundle.verify(parse_hex(nonce), ca)
        if image is not None or (directory / ATTESTATION_FILE).exists():
            verify_environment(bundle.quote.pcr_values, directory, image)
            click.echo("OK: PCR 9 holds the environment's image digest, PCR 8 its launcher")
        click.echo(
            f"OK: quote of {bundle.quote.pcr_selection} by the AK certified by the EK, "
            f"clock {parsed.clock_info.clock}"
        )
    for fmt in tokens:
        claims = TokenQuote.load(directory, fmt).verify(parse_hex(nonce), ca)
        click.echo(
            f"OK: {FILES[fmt]} ({fmt}) of PCRs {','.join(map(str, claims.pcrs))} "
            f"by the AK certified by the EK, ueid {claims.ueid.hex()}"
        )
