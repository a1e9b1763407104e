"""JWT and EAT quotes (docs/quote-formats.md) over the real route, both transports: the card
builds and signs them, `tpmcard mtpm quote --format jwt|eat` writes them beside ak.pem, stock
libraries (PyJWT, pycose) accept them with ak.pem alone, and both those and `tpmcard verify`
(with the CA -> EK -> AK chain) refuse one altered byte and another nonce."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import cbor2
import jwt
import pytest
from click.testing import CliRunner
from pycose.keys import CoseKey
from pycose.messages import Sign1Message
from tpmcard.cli import cli
from tpmcard.services import quote_formats as Q
from tpmcard.services.mtpm import MtpmSession
from tpmcard.services.mtpm_constants import FORMAT_EAT, FORMAT_JWT, SW_WRONG_LENGTH
from tpmcard.tpm_structures import PcrSelection, pcr_composite_digest, selection_bitmap

if TYPE_CHECKING:
    pass  # tests/conftest.py

NONCE = "00112233445566778899aabbccddeeff"
PCRS = "0,1,8,9,10"


@pytest.fixture
def run(paired_cli: Callable[..., str]) -> Callable[..., str]:
    return paired_cli


def stock_accepts(fmt: str, token: bytes, ak_pem: bytes, nonce: bytes) -> bool:
    """The stock library's verdict with ak.pem only, and the nonce claim compared."""
    try:
        if fmt == "jwt":
            claims = jwt.decode(token, ak_pem, algorithms=["ES256"])
            return Q.b64url_decode(claims["eat_nonce"]) == nonce
        message = Sign1Message.decode(token)
        message.key = CoseKey.from_pem_public_key(ak_pem.decode())
        return bool(message.verify_signature()) and cbor2.loads(message.payload)[10] == nonce
    except Exception:  # noqa: BLE001 - any refusal of the library counts as a refusal
        return False


@pytest.mark.parametrize("fmt", ["jwt", "eat"])
def test_token_quotes_verify_with_stock_libraries_and_tpmcard_verify(
    fmt: str, run, tmp_path: Path, tpm2_pcrextend: Callable[[int, bytes], None]
) -> None:
    run("ca", "init")
    run("mtpm", "ek-public", "--out", str(tmp_path / "ek.pem"))
    run("ca", "issue", "--ek", str(tmp_path / "ek.pem"), "--card-id", "test",
        "--out", str(tmp_path / "ek.der"))  # fmt: skip
    run("mtpm", "ek-cert", "set", str(tmp_path / "ek.der"))
    tpm2_pcrextend(8, hashlib.sha256(fmt.encode()).digest())
    run("mtpm", "pcr", "extend", "9", "ab" * 32)
    out = tmp_path / "q"
    run("mtpm", "quote", "--format", fmt, "--pcrs", PCRS, "--nonce", NONCE, "--out", str(out))
    token_file = out / Q.FILES[fmt]
    assert token_file.exists() and (out / "ak.pem").exists() and not (out / "quote.msg").exists()
    token, ak_pem, nonce = (
        token_file.read_bytes(),
        (out / "ak.pem").read_bytes(),
        bytes.fromhex(NONCE),
    )

    assert stock_accepts(fmt, token, ak_pem, nonce)
    assert not stock_accepts(fmt, token, ak_pem, bytes(16))
    assert f"OK: {Q.FILES[fmt]}" in run("verify", str(out), "--nonce", NONCE)
    # The host PCR 8 just extended and card PCR 9 are what the card signed.
    pcr_file = (out / "pcrs.bin").read_bytes()
    assert len(pcr_file) == 5 * 32
    claims = Q.verify_token(
        fmt,
        token,
        Q.PublicArea.from_tpm2b((out / "ak.pub").read_bytes()),
        Q.PublicArea.from_tpm2b((out / "ek.pub").read_bytes()),
        nonce,
        {i: pcr_file[32 * k : 32 * k + 32] for k, i in enumerate([0, 1, 8, 9, 10])},
    )
    assert claims.pcrs == (0, 1, 8, 9, 10)

    runner = CliRunner()
    bad = runner.invoke(cli, ["verify", str(out), "--nonce", "ff" * 16])
    assert bad.exit_code == 1 and "nonce" in bad.output
    for position in (0, 5, len(token) // 2, len(token) - 1):
        altered = bytearray(token)
        altered[position] ^= 0x01
        assert not stock_accepts(fmt, bytes(altered), ak_pem, nonce), position
        token_file.write_bytes(bytes(altered))
        assert runner.invoke(cli, ["verify", str(out), "--nonce", NONCE]).exit_code == 1, position
    token_file.write_bytes(token)

    from tpmcard.services.ca import ManufacturerCa

    other = tmp_path / "other"
    ManufacturerCa.init(other)
    result = runner.invoke(
        cli, ["verify", str(out), "--nonce", NONCE, "--ca", str(other / "ca.pem")]
    )
    assert result.exit_code == 1 and "manufacturer CA" in result.output


def test_card_builds_what_it_signs_from_its_own_view(mtpm: MtpmSession) -> None:
    """The host gives only selection and nonce; the signed bytes are the card's view (the
    reference builder with the PCR values read), on a small window staged."""
    selection = PcrSelection.of([0, 8, 9, 23])
    values = mtpm.pcr_read(selection.indices)
    ek = mtpm.ek_public()
    ak = mtpm.ak_public().public_key()
    digest = pcr_composite_digest(values, selection)
    for fmt, nonce in (("jwt", bytes(8)), ("eat", bytes(range(64))), ("jwt", bytes(range(64)))):
        before = mtpm.staged
        signed, der = mtpm.quote_token(
            Q.FORMATS[fmt],
            selection_bitmap(selection.indices),
            nonce,
            Q.answer_max(fmt, selection.indices, len(nonce)),
        )
        assert signed == Q.to_be_signed(fmt, Q.ueid(ek), selection.indices, nonce, digest)
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        ak.verify(der, signed, ec.ECDSA(hashes.SHA256()))
        if mtpm.window < 600:
            assert mtpm.staged == before + 1  # larger than a 260-byte window
    from tpmcard.services.mtpm import MtpmError

    for fmt in (FORMAT_JWT, FORMAT_EAT):
        for n in (7, 65):
            with pytest.raises(MtpmError) as e:
                mtpm.quote_token(fmt, selection_bitmap([9]), bytes(n), 1024)
            assert e.value.sw == SW_WRONG_LENGTH
    with pytest.raises(ValueError):
        Q.TokenQuote.collect(mtpm, "jwt", [9], bytes(7))
