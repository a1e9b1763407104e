"""Property tests of the host's closure codecs: headers and plain images round-trip, a header
outside the card's caps never encodes, any bytes either decode to an image that encodes back to
them or raise ClosureFormatError, and the builder and the assembler agree on random programs."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tpmcard.services.closures import (
    Builder,
    ClosureFormatError,
    Header,
    PlainImage,
    assemble,
    read_image,
)
from tpmcard.services.closures import constants as C
from tpmcard.services.closures.builder import INSTRUCTIONS

NAMES = st.from_regex(r"[A-Za-z0-9_.-]{1,8}", fullmatch=True)
HEADERS = st.builds(
    Header,
    name=NAMES,
    version=st.integers(0, 0xFFFF),
    stack=st.integers(1, C.MAX_STACK),
    memory=st.integers(0, C.MAX_MEMORY),
    output=st.integers(0, C.MAX_OUTPUT),
    store=st.integers(0, C.MAX_STORE),
    steps=st.integers(1, C.MAX_STEPS),
    code_length=st.integers(1, C.MAX_CODE),
)


@given(HEADERS)
def test_headers_round_trip(header: Header) -> None:
    raw = header.encode()
    assert len(raw) == C.HEADER_LENGTH
    assert Header.decode(raw) == header


@given(HEADERS, st.sampled_from(["stack", "memory", "output", "store", "steps"]))
def test_a_header_over_a_cap_never_encodes(header: Header, field: str) -> None:
    caps = {"stack": C.MAX_STACK, "memory": C.MAX_MEMORY, "output": C.MAX_OUTPUT,
            "store": C.MAX_STORE, "steps": C.MAX_STEPS}  # fmt: skip
    bad = Header(**{**header.__dict__, field: caps[field] + 1})
    with pytest.raises(ClosureFormatError):
        bad.encode()


@given(st.binary(max_size=600))
@settings(max_examples=300)
def test_any_bytes_decode_faithfully_or_raise(data: bytes) -> None:
    try:
        image = read_image(data)
    except ClosureFormatError:
        return
    assert (image.encode() if isinstance(image, PlainImage) else image) == data


def _programs() -> st.SearchStrategy[list[tuple[str, int | bytes | None]]]:
    plain = [m for m, (_, kind) in INSTRUCTIONS.items() if kind is None]
    step = st.one_of(
        st.tuples(st.sampled_from(plain), st.none()),
        st.tuples(st.just("push"), st.integers(-0x8000, 0xFFFF)),
        st.tuples(st.just("pushb"), st.integers(0, 0xFF)),
        st.tuples(st.sampled_from(["jmp", "jz", "jnz"]), st.integers(0, 0xFFFF)),
        st.tuples(st.just("data"), st.binary(max_size=20)),
    )
    return st.lists(step, min_size=1, max_size=40)


@given(_programs())
def test_the_builder_and_the_assembler_agree(program: list[tuple[str, int | bytes | None]]) -> None:
    b = Builder("prop")
    lines = [".name prop"]
    for mnemonic, operand in program:
        b.op(mnemonic, operand)
        if operand is None:
            lines.append(mnemonic.upper())
        elif isinstance(operand, bytes):
            lines.append(f'{mnemonic} x"{operand.hex()}"')
        else:
            lines.append(f"{mnemonic} {operand}")
    assert assemble("\n".join(lines)).encode() == b.image().encode()


def test_labels_resolve_and_an_undefined_one_is_refused() -> None:
    image = assemble(".name l\nstart: pushb 1\n jnz start\n jmp end\nend: halt\n")
    assert image.code == bytes([C.OP_PUSHB, 1, C.OP_JNZ, 0, 0, C.OP_JMP, 0, 8, C.OP_HALT])
    with pytest.raises(ClosureFormatError, match="undefined label"):
        assemble(".name l\n jmp nowhere\n")
    with pytest.raises(ClosureFormatError, match="line 2"):
        assemble(".name l\n bogus 1\n")
    assert struct.unpack(">H", image.header.encode()[C.H_CODE : C.H_CODE + 2])[0] == 9
