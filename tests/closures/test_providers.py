"""PCALL over both transports (``secure_session``: the in-process simulator and PC/SC): closures
call the algorithm provider applets (docs/closures.md "Providers") with keys of their own. The
programs are tests/vectors/closures.json's ``provider_programs`` (ClosureProvidersTest runs them
too). A closure's P-256 key signs and the signature verifies; SHA3-256 through the provider is
FIPS 202's; keys stay with their owners (another closure, a host-held image, the host through the
core); REMOVE deletes them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from tpmcard.services.algorithms import (
    ALG_ECDSA_P256_SHA256,
    KEY_EC_P256,
    KeyHandle,
    KeyNotFoundError,
)
from tpmcard.services.closures import Builder, PlainImage, assemble
from tpmcard.services.closures import constants as C
from tpmcard.services.closures.session import ClosuresSession
from tpmcard.services.session import SecureCardSession

from .conftest import refused

PROGRAMS: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "vectors" / "closures.json").read_text()
)["provider_programs"]


def program(name: str) -> PlainImage:
    image = assemble(PROGRAMS[name]["source"])
    assert image.encode().hex() == PROGRAMS[name]["image"]  # the assembler gives the stored bytes
    return image


def renamed(image: PlainImage, name: str) -> PlainImage:
    """The same code under another name: another closure (slot)."""
    return PlainImage.decode(bytes(name.encode().ljust(8, b"\0")) + image.encode()[8:])


def verifies(point: bytes, message: bytes, der: bytes) -> bool:
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    try:
        key.verify(der, message, ec.ECDSA(hashes.SHA256()))
    except Exception:  # noqa: BLE001 - cryptography's InvalidSignature
        return False
    return True


def test_a_closure_key_signs_and_the_signature_verifies(closures: ClosuresSession) -> None:
    closures.load(program("pkey"))
    try:
        made = closures.run("pkey")
        assert len(made) == 4 + 65
        handle, point = made[:4], made[4:]
        for message in (b"m", b"a closure-held P-256 key"):
            assert verifies(point, message, closures.run("pkey", handle + message))
        assert closures.run("pkey", handle) == b""  # the closure deletes its key
        assert refused(closures.run, "pkey", handle + b"m").violation == "key"
    finally:
        closures.remove("pkey")


def test_sha3_through_the_provider_is_the_fips_202_answer(closures: ClosuresSession) -> None:
    sealed = closures.seal(program("sha3"))
    for run in PROGRAMS["sha3"]["runs"]:
        assert closures.run_image(sealed, bytes.fromhex(run["args"])).hex() == run["output"]


def test_keys_stay_with_their_owners(secure_session: SecureCardSession) -> None:
    closures = secure_session.closures
    algorithms = secure_session.algorithms
    pkey = program("pkey")
    closures.load(pkey)
    closures.load(renamed(pkey, "p2ey"))
    host_key = algorithms.generate_key(KEY_EC_P256)
    try:
        handle = closures.run("pkey")[:4]
        # another closure, and the same code from a host-held image (no slot)
        assert refused(closures.run, "p2ey", handle + b"m").violation == "key"
        assert refused(closures.run, "p2ey", handle).violation == "key"
        image = closures.seal(renamed(pkey, "p3ey"))
        assert refused(closures.run_image, image, handle + b"m").violation == "key"
        assert refused(closures.run_image, image).violation == "key"
        # the host, through the core, neither uses nor deletes the closure's key
        theirs = KeyHandle(ALG_ECDSA_P256_SHA256, KEY_EC_P256, handle)
        with pytest.raises(KeyNotFoundError):
            algorithms.sign(theirs, b"m")
        with pytest.raises(KeyNotFoundError):
            algorithms.delete_key(theirs)
        # and no closure uses the host's
        assert refused(closures.run, "pkey", host_key.handle + b"m").violation == "key"
        assert host_key.public_key is not None
        assert verifies(host_key.public_key, b"m", algorithms.sign(host_key, b"m"))
        made = closures.run("pkey", handle + b"still mine")
        assert made  # the owner signs after every refusal
    finally:
        algorithms.delete_key(host_key)
        closures.remove("pkey")
        closures.remove("p2ey")


def test_remove_deletes_the_closures_keys(closures: ClosuresSession) -> None:
    pkey = program("pkey")
    # the ECDSA provider has 4 key slots: without the deletions a later round gets 6A84
    for _ in range(6):
        closures.load(pkey)
        handle = closures.run("pkey")[:4]
        closures.remove("pkey")
    closures.load(pkey)
    try:
        # a reloaded closure does not own the removed one's key
        assert refused(closures.run, "pkey", handle + b"m").violation == "key"
    finally:
        closures.remove("pkey")


def test_bad_calls_stop_with_their_status_words(closures: ClosuresSession) -> None:
    def call(prov: int, op: int, src: int, length: int, dst: int) -> bytes:
        b = Builder("bad", memory=64, output=0, stack=8)
        b.pushb(prov).push(op).pushb(src).pushb(length).pushb(dst).pcall().halt()
        return closures.seal(b.image())

    run = closures.run_image
    assert refused(run, call(9, 0x34, 0, 0, 0)).sw == 0x6A82  # no such provider
    assert refused(run, call(2, 0x40, 0, 0, 0)).sw == C.SW_CLOSURE_OPERAND  # a stream
    assert refused(run, call(2, 0x34, 0, 8, 4)).sw == C.SW_CLOSURE_OPERAND  # dst in the data
    assert refused(run, call(2, 0x34, 0, 0, 40)).sw == C.SW_CLOSURE_MEMORY  # no room after dst
    sealed = closures.seal(program("sha3"))
    assert closures.run_image(sealed, b"abc").hex() == PROGRAMS["sha3"]["runs"][1]["output"]


def test_a_provider_the_owner_disabled_is_refused_to_closures(
    secure_session: SecureCardSession,
) -> None:
    """PCALL reaches only providers the registry has enabled: the card
    refuses it as absent (6A82) while the SHA3 provider is disabled, and gives the FIPS 202 answer
    again once it is enabled."""
    closures, algorithms = secure_session.closures, secure_session.algorithms
    sha3 = next(p for p in algorithms.list() if p.name.startswith("sha3"))
    sealed = closures.seal(program("sha3"))
    run = PROGRAMS["sha3"]["runs"][0]
    algorithms.disable(sha3.aid)
    try:
        assert refused(closures.run_image, sealed, bytes.fromhex(run["args"])).sw == 0x6A82
        assert secure_session.core.echo(b"still here") == b"still here"
    finally:
        algorithms.enable(sha3.aid)
    assert closures.run_image(sealed, bytes.fromhex(run["args"])).hex() == run["output"]
