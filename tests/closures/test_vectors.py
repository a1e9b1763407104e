"""tests/vectors/closures.json (the known answers ClosureEngineTest also runs): the host's
assembler and builder give the stored bytes, and the card gives the outputs and status words over
both transports (``secure_session``: the real route, INVOKE in secure messaging, a 260-byte
service window, so images go through staging)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tpmcard.services.closures import Builder, PlainImage, assemble
from tpmcard.services.closures.session import ClosureError, ClosuresSession
from tpmcard.services.session import SecureCardSession

VECTORS: list[dict[str, Any]] = json.loads(
    (Path(__file__).parents[1] / "vectors" / "closures.json").read_text()
)["vectors"]
PATCHED = {"badop", "datapast"}  # bytes the assembler cannot write (see the generator)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_the_assembler_gives_the_stored_image(vector: dict[str, Any]) -> None:
    image = assemble(vector["source"]).encode()
    stored = bytes.fromhex(vector["image"])
    if vector["name"] in PATCHED:
        assert (
            len(image) == len(stored)
            and sum(a != b for a, b in zip(image, stored, strict=True)) == 1
        )
    else:
        assert image == stored
    assert PlainImage.decode(stored).encode() == stored


def test_the_builder_gives_the_assemblers_bytes() -> None:
    b = Builder("sha", memory=96, output=32, stack=4)
    b.pushb(64).pushb(0).arglen().sha256().pushb(64).pushb(32).out().halt()
    (sha,) = [v for v in VECTORS if v["name"] == "sha"]
    assert b.image().encode().hex() == sha["image"]


def _run(closures: ClosuresSession, vector: dict[str, Any], sealed: bytes, args: bytes) -> bytes:
    if vector["load"]:
        return closures.run(vector["name"], args)
    return closures.run_image(sealed, args)


def test_vectors_run_on_the_card(secure_session: SecureCardSession) -> None:
    closures = secure_session.closures
    for vector in VECTORS:
        sealed = closures.seal(bytes.fromhex(vector["image"]))
        if vector["load"]:
            closures.load(sealed)
        try:
            for run in vector["runs"]:
                args = bytes.fromhex(run["args"])
                if "output" in run:
                    assert _run(closures, vector, sealed, args).hex() == run["output"], vector[
                        "name"
                    ]
                else:
                    with pytest.raises(ClosureError) as err:
                        _run(closures, vector, sealed, args)
                    assert err.value.sw == int(run["sw"], 16), vector["name"]
                assert secure_session.mtpm.status() is not None  # the card answers on
        finally:
            if vector["load"]:
                closures.remove(vector["name"])
