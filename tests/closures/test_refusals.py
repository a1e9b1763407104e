"""What the card refuses, over both transports (``bound_card``: the in-process simulator and
PC/SC): altered images, images sealed for another card, images over a bound, closures reaching
another closure's store; and after each refusal the session and the card go on."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from tpmcard.services.closures import Builder, PlainImage, author_hash, sealed_header
from tpmcard.services.closures import constants as C
from tpmcard.services.closures.session import ClosuresSession
from tpmcard.services.mtpm import MtpmError
from tpmcard.services.mtpm_constants import SW_WRONG_DATA
from tpmcard.services.session import SecureCardSession

from .conftest import refused

if TYPE_CHECKING:
    from conftest import BoundCard  # tests/conftest.py


def counter(name: str) -> PlainImage:
    """store[0..2) += 1, output the new count; with args, FAIL 7 after the store write."""
    b = Builder(name, memory=4, output=2, stack=4, store=2)
    b.pushb(0).pushb(0).pushb(2).sload()
    b.pushb(0).load16().pushb(1).add().pushb(0).store16()
    b.pushb(0).pushb(0).pushb(2).sstore()
    b.arglen().jz("done").pushb(7).fail()
    b.label("done").pushb(0).pushb(2).out().halt()
    return b.image()


def hello() -> PlainImage:
    b = Builder("hello", memory=8, output=5, stack=2)
    return b.pushb(0).data(b"hello").pushb(0).pushb(5).out().halt().image()


def test_an_altered_image_is_refused_anywhere(closures: ClosuresSession) -> None:
    sealed = closures.seal(hello())
    assert closures.run_image(sealed) == b"hello"
    for at in (C.S_HEADER + 12, C.SEALED_PREFIX, len(sealed) - 1, C.S_NONCE):
        altered = bytearray(sealed)
        altered[at] ^= 0x01
        assert refused(closures.run_image, bytes(altered)).reason == "invalid_object"
        assert refused(closures.load, bytes(altered)).reason == "invalid_object"
    assert closures.list() == []
    assert closures.run_image(sealed) == b"hello"  # the session goes on


def test_an_image_sealed_for_another_card_is_refused(
    bound_card: BoundCard, second_bound_card: BoundCard
) -> None:
    with bound_card.connect() as a:
        sealed = a.closures.seal(hello())
        assert a.closures.run_image(sealed) == b"hello"
    with second_bound_card.connect() as b:
        assert refused(b.closures.run_image, sealed).reason == "not_found"
        assert refused(b.closures.load, sealed).reason == "not_found"
        # The same plain image sealed by B is B's, and different bytes.
        own = b.closures.seal(hello())
        assert own != sealed and b.closures.run_image(own) == b"hello"


def test_images_over_a_bound_are_refused(closures: ClosuresSession) -> None:
    # Header fields over the card's caps: the host's builder refuses them, so the bytes are
    # made by hand; the card refuses them too (6A80).
    good = hello().encode()
    for offset, value in (
        (C.H_MEMORY, C.MAX_MEMORY + 1),
        (C.H_STEPS, C.MAX_STEPS + 1),
        (C.H_STORE, C.MAX_STORE + 1),
    ):
        bad = bytearray(good)
        bad[offset : offset + 2] = struct.pack(">H", value)
        with pytest.raises(MtpmError) as err:
            closures.mtpm.command(C.INS_CLOSURE_SEAL, data=bytes(bad), answer=200)
        assert err.value.sw == SW_WRONG_DATA
    # Over its own bounds while running: steps, stack, memory, output; no output, card usable.
    loop = Builder("spin", steps=50).label("l").jmp("l").image()
    assert refused(closures.run_image, closures.seal(loop)).violation == "steps"
    deep = Builder("deep", stack=4).label("l").pushb(1).jmp("l").image()
    assert refused(closures.run_image, closures.seal(deep)).violation == "stack"
    far = Builder("far", memory=8).pushb(8).load8().halt().image()
    assert refused(closures.run_image, closures.seal(far)).violation == "memory"
    # Stack, memory and output larger than the 260-byte window: refused before any step.
    big = Builder("big", memory=256, output=200, stack=32).halt().image()
    assert refused(closures.run_image, closures.seal(big)).violation == "no_room"
    assert closures.run_image(closures.seal(hello())) == b"hello"


def test_a_closure_reaches_only_its_own_store(closures: ClosuresSession) -> None:
    closures.load(counter("ctra"))
    closures.load(counter("ctrb"))
    try:
        assert [closures.run("ctra") for _ in range(3)] == [b"\0\1", b"\0\2", b"\0\3"]
        assert closures.run("ctrb") == b"\0\1"  # B's store is B's, untouched by A
        assert closures.store("ctra") == (2, 2)
        # A stop rolls the store write back.
        assert refused(closures.run, "ctra", b"x").fail_code == 7
        assert closures.run("ctra") == b"\0\4"
        # An image of another program cannot take A's name: renamed, it is an altered image;
        # loaded under the same name, refused; run from the host, it has no store at all.
        thief = closures.seal(counter("thief"))
        renamed = bytearray(thief)
        renamed[C.S_HEADER : C.S_HEADER + 8] = b"ctra\0\0\0\0"
        assert sealed_header(bytes(renamed)).name == "ctra"
        assert refused(closures.run_image, bytes(renamed)).reason == "invalid_object"
        assert refused(closures.load, counter("ctra")).reason == "exists"
        assert refused(closures.run_image, thief).violation == "store"
        assert closures.run("ctra") == b"\0\5"
        names = [c.name for c in closures.list()]
        assert names == ["ctra", "ctrb"]
    finally:
        closures.remove("ctra")
        closures.remove("ctrb")
    assert refused(closures.run, "ctra").reason == "not_found"
    # A new closure of the same name starts with an empty store.
    closures.load(counter("ctra"))
    try:
        assert closures.run("ctra") == b"\0\1"
    finally:
        closures.remove("ctra")


def test_an_image_run_has_no_store_not_even_an_empty_range(closures: ClosuresSession) -> None:
    """SLOAD / SSTORE of zero bytes at 0 from a host-held image: 6606 (no store), not a card
    error (the fuzzer found SLOAD 0 0 0 answering 6F00); the card answers the next run."""
    for op in ("sload", "sstore"):
        b = Builder("nostore", memory=0, output=0, stack=3, steps=8)
        sealed = closures.seal(getattr(b.pushb(0).pushb(0).pushb(0), op)().halt().image())
        assert refused(closures.run_image, sealed).violation == "store"
    assert closures.run_image(closures.seal(hello())) == b"hello"


def test_slots_fill_up(closures: ClosuresSession) -> None:
    names = [f"s{i}" for i in range(C.CLOSURE_SLOTS)]
    for name in names:
        closures.load(counter(name))
    try:
        assert refused(closures.load, counter("extra")).reason == "full"
    finally:
        for name in names:
            closures.remove(name)


def test_signed_images_need_the_registered_authority(bound_card: BoundCard) -> None:
    authority = ec.generate_private_key(ec.SECP256R1())
    signed = hello().sign(authority)
    assert signed.header.author == author_hash(authority.public_key())
    with bound_card.connect() as session:
        closures = session.closures
        assert refused(closures.seal, signed).reason == "untrusted_authority"
        assert refused(closures.authority_set, authority.public_key()).reason == "no_owner"
        session.mtpm.take_ownership(b"owner")
        try:
            closures.authority_set(authority.public_key(), b"owner")
            assert closures.authority_get() == bytes.fromhex(
                "04"
                + authority.public_key().public_numbers().x.to_bytes(32, "big").hex()
                + authority.public_key().public_numbers().y.to_bytes(32, "big").hex()
            )
            # Another key's signature, or an altered signed image: refused.
            other = hello().sign(ec.generate_private_key(ec.SECP256R1()))
            assert refused(closures.seal, other).reason == "untrusted_authority"
            forged = PlainImage(
                signed.header, signed.code.replace(b"hello", b"jello"), signed.signature
            )
            assert refused(closures.seal, forged).reason == "untrusted_authority"
            closures.load(signed, b"owner")
            (info,) = closures.list()
            assert info.signed and info.trusted and info.image_id == signed.image_id
            assert closures.run("hello") == b"hello"
            closures.authority_set(None, b"owner")
            (info,) = closures.list()
            assert info.signed and not info.trusted
            assert closures.authority_get() is None
            closures.remove("hello", b"owner")
        finally:
            session.mtpm.clear(b"owner")


def test_build_assembles_on_the_host(closures: ClosuresSession) -> None:
    image = closures.build('.name hi\n.output 2\npushb 0\ndata "hi"\npushb 0\npushb 2\nout\nhalt\n')
    assert closures.run_image(image) == b"hi"


def test_pcr_reads_the_sessions_combined_view(secure_session: SecureCardSession) -> None:
    b = Builder("pcrs", memory=64, output=64, stack=4)
    b.pushb(0).pushb(0).pcr().pushb(9).pushb(32).pcr().pushb(0).pushb(64).out().halt()
    out = secure_session.closures.run_image(b.image())
    values = secure_session.mtpm.pcr_read([0, 9])
    assert out == values[0] + values[9]
    assert values[0] == secure_session.host_pcrs[0]
