"""BER-TLV codec."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tpmcard import tlv
from tpmcard.errors import ProtocolError

tags = st.one_of(
    st.integers(0x01, 0x1E).map(lambda t: t | 0x80),
    st.integers(0x1F, 0x7F).map(lambda t: 0x5F00 | t),
    st.just(0x7F49),
)


@given(st.lists(st.tuples(tags, st.binary(max_size=400)), max_size=5))
def test_round_trip(items: list[tuple[int, bytes]]) -> None:
    raw = b"".join(tlv.encode(t, v) for t, v in items)
    assert [(x.tag, x.value) for x in tlv.parse(raw)] == items


@given(st.binary(max_size=200))
def test_parse_never_crashes(raw: bytes) -> None:
    try:
        tlv.parse(raw)
    except ProtocolError:
        pass


@pytest.mark.parametrize("raw", ["80", "8005aabb", "7f", "7f4981", "808301", "5fff8101"])
def test_truncated_or_malformed(raw: str) -> None:
    with pytest.raises(ProtocolError):
        tlv.parse(bytes.fromhex(raw))


def test_lengths() -> None:
    assert tlv.encode_length(0x7F) == b"\x7f"
    assert tlv.encode_length(0x80) == b"\x81\x80"
    assert tlv.encode_length(0x100) == b"\x82\x01\x00"


def test_duplicate_tag() -> None:
    with pytest.raises(ProtocolError):
        tlv.parse_dict(bytes.fromhex("800100800100"))
