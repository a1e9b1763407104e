"""Secure messaging (docs/binding.md "Secure messaging"): the host half against the vectors,
the card model against the same vectors, the tampering cases, and hypothesis properties."""

from __future__ import annotations

from typing import Any

import pytest
from binding_vectors import h, load
from card_model import Session
from hypothesis import given, settings
from hypothesis import strategies as st
from tpmcard.channel.kdf import SessionKeys
from tpmcard.channel.securemessaging import (
    SecureMessaging,
    SecureMessagingProcessor,
    pad,
    unpad,
)
from tpmcard.errors import ApduError, ChannelError

SM = load()["secure_messaging"]


def host() -> SecureMessaging:
    keys = SessionKeys(
        bytearray(16),
        bytearray(h(SM["s_enc"])),
        bytearray(h(SM["s_mac"])),
        bytearray(h(SM["s_rmac"])),
    )
    return SecureMessaging(keys, h(SM["initial_chain"]))


def card() -> Session:
    return Session(h(SM["s_enc"]), h(SM["s_mac"]), h(SM["s_rmac"]), h(SM["initial_chain"]))


def test_host_wraps_commands_and_unwraps_responses_in_sequence() -> None:
    sm = host()
    for step in SM["steps"]:
        c = step["command"]
        cla, data = sm.wrap_command(c["cla"], c["ins"], c["p1"], c["p2"], h(c["data"]))
        assert cla == step["wrapped_command"]["cla"]
        assert data.hex() == step["wrapped_command"]["data"], f"step {step['counter']}"
        payload, sw = sm.unwrap_response(h(step["wrapped_response"]))
        assert (payload.hex(), sw) == (step["response"]["data"], step["response"]["sw"])
    assert sm.counter == len(SM["steps"])


def test_card_model_unwraps_and_wraps_in_sequence() -> None:
    session = card()
    for step in SM["steps"]:
        w = step["wrapped_command"]
        plain = session.unwrap(w["cla"], w["ins"], w["p1"], w["p2"], h(w["data"]))
        assert plain.hex() == step["command"]["data"]
        assert session.chain.hex() == step["mac_chain_after"]
        wrapped = session.wrap(h(step["response"]["data"]), step["response"]["sw"])
        assert wrapped.hex() == step["wrapped_response"]


def test_vectors_cover_empty_block_multiblock_and_maximum_payloads() -> None:
    sizes = {len(s["command"]["data"]) // 2 for s in SM["steps"]}
    assert {0, 16, 4096} <= sizes and any(16 < n < 4096 for n in sizes)
    assert any(s["response"]["sw"] != 0x9000 for s in SM["steps"])


@pytest.mark.parametrize("case", SM["card_negative"], ids=lambda c: c["name"])
def test_card_refuses_tampered_commands(case: dict[str, Any]) -> None:
    """Through the card model's full APDU path: failure answers plain 6982 and ends the session."""
    from binding_vectors import card as vector_card

    model = vector_card()
    model.session = card()
    for i, c in enumerate(case["commands"]):
        out, sw = model.process(c["cla"], c["ins"], c["p1"], c["p2"], h(c["data"]))
        if i < case["fails_at"]:
            assert sw == 0x9000
        elif i == case["fails_at"]:
            assert (out, sw) == (b"", 0x6982)
            assert model.session is None
        else:  # anything after the failure: no session any more, same answer
            assert (out, sw) == (b"", 0x6982)


@pytest.mark.parametrize("case", SM["host_negative"], ids=lambda c: c["name"])
def test_host_refuses_tampered_responses(case: dict[str, Any]) -> None:
    sm = host()
    for i, response in enumerate(case["responses"]):
        c = SM["steps"][i]["command"]
        sm.wrap_command(c["cla"], c["ins"], c["p1"], c["p2"], h(c["data"]))
        if i < case["fails_at"]:
            sm.unwrap_response(h(response))
            continue
        with pytest.raises(ChannelError):
            sm.unwrap_response(h(response))
        assert sm.closed
        with pytest.raises(ChannelError):
            sm.wrap_command(0x80, 0xEE, 0, 0, b"")
        break


def test_keys_are_wiped_on_close() -> None:
    sm = host()
    keys = sm._keys
    sm.close()
    assert not any(keys.enc + keys.mac + keys.rmac)
    with pytest.raises(ChannelError):
        sm.wrap_command(0x80, 0xEE, 0, 0, b"")


def test_payload_limit() -> None:
    with pytest.raises(ValueError):
        host().wrap_command(0x80, 0xEE, 0, 0, bytes(4097))


def test_a_second_command_before_the_response_is_a_failure() -> None:
    sm = host()
    sm.wrap_command(0x80, 0xEE, 0, 0, b"a")
    with pytest.raises(ChannelError):
        sm.wrap_command(0x80, 0xEE, 0, 0, b"b")
    assert sm.closed


class Loopback:
    """A processor over the card model's Session, optionally tampering with the traffic."""

    def __init__(self, tamper: Any = None) -> None:
        self.session = card()
        self.tamper = tamper

    def send(
        self, cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = 0
    ) -> tuple[bytes, int]:
        try:
            plain = self.session.unwrap(cla, ins, p1, p2, data)
        except Exception:
            return b"", 0x6982
        response = self.session.wrap(plain[::-1], 0x9000 if plain[:1] != b"\xff" else 0x6A80)
        return (self.tamper(response) if self.tamper else response), 0x9000


def test_processor_round_trip_and_inner_status_word() -> None:
    link = Loopback()
    processor = SecureMessagingProcessor(link, host())
    assert processor(0x80, 0xEE, 0, 0, b"abc") == b"cba"
    with pytest.raises(ApduError) as info:
        processor(0x80, 0xEE, 0, 0, b"\xff\x01")
    assert info.value.sw == 0x6A80 and info.value.data == b"\x01\xff"
    assert not processor.closed  # an application error leaves the session open
    assert processor(0x80, 0xEE, 0, 0, b"") == b""


def test_processor_turns_an_outer_error_into_channel_error_and_refuses_further_use() -> None:
    link = Loopback()
    processor = SecureMessagingProcessor(link, host())
    link.session.chain = bytes(16)  # the card lost sync
    with pytest.raises(ChannelError):
        processor(0x80, 0xEE, 0, 0, b"x")
    with pytest.raises(ChannelError):
        processor(0x80, 0xEE, 0, 0, b"x")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=600)), min_size=1, max_size=6))
def test_property_round_trip(commands: list[tuple[int, bytes]]) -> None:
    processor = SecureMessagingProcessor(Loopback(), host())
    for ins, payload in commands:
        if payload[:1] == b"\xff":
            continue
        assert processor(0x80, ins, 0, 0, payload) == payload[::-1]


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=300), st.data())
def test_property_any_bit_flip_in_a_command_is_refused(payload: bytes, data: st.DataObject) -> None:
    sm, session = host(), card()
    cla, wrapped = sm.wrap_command(0x80, 0xEE, 1, 2, payload)
    header = bytearray([cla, 0xEE, 1, 2])
    target = data.draw(st.sampled_from(["data", "header"]))
    buffer = bytearray(wrapped) if target == "data" else header
    bit = data.draw(st.integers(0, 8 * len(buffer) - 1))
    buffer[bit // 8] ^= 1 << (bit % 8)
    if target == "data":
        wrapped = bytes(buffer)
    if target == "header" and (header[0] & 0x10):  # the chaining bit is not part of the MAC
        return
    with pytest.raises(Exception):  # noqa: B017 - CardError, whatever check caught it
        session.unwrap(header[0], header[1], header[2], header[3], wrapped)


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 0xFFFF), st.data())
def test_property_any_bit_flip_or_cut_in_a_response_is_refused(
    payload: bytes, sw: int, data: st.DataObject
) -> None:
    sm, session = host(), card()
    cla, wrapped = sm.wrap_command(0x80, 0xEE, 0, 0, b"q")
    session.unwrap(cla, 0xEE, 0, 0, wrapped)
    response = bytearray(session.wrap(payload, sw))
    if data.draw(st.booleans()):
        bit = data.draw(st.integers(0, 8 * len(response) - 1))
        response[bit // 8] ^= 1 << (bit % 8)
    else:
        response = response[: data.draw(st.integers(0, len(response) - 1))]
    with pytest.raises(ChannelError):
        sm.unwrap_response(bytes(response))


@given(st.binary(max_size=100))
def test_property_padding_round_trip(data: bytes) -> None:
    padded = pad(data)
    assert len(padded) % 16 == 0 and len(padded) > len(data)
    assert unpad(padded) == data


@pytest.mark.parametrize("bad", [b"", bytes(16), b"\x01" * 16, b"\x80" + bytes(16)])
def test_bad_padding_is_refused(bad: bytes) -> None:
    with pytest.raises(ValueError):
        unpad(bad)
