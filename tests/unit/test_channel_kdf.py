"""tpmcard.channel.kdf against tests/vectors/binding.json (docs/binding.md "Key derivation")."""

from __future__ import annotations

import pytest
from binding_vectors import h, load
from tpmcard.channel.kdf import (
    derive_pairing_secret,
    derive_pin_keys,
    derive_session_keys,
    pin_shared_info,
    wipe,
    x963_kdf,
)


@pytest.mark.parametrize(
    "case", load()["x963_kdf"], ids=lambda c: f"z{len(c['z']) // 2}-L{c['length']}"
)
def test_x963_kdf_known_answers(case: dict[str, object]) -> None:
    out = x963_kdf(h(str(case["z"])), h(str(case["shared_info"])), int(str(case["length"])))
    assert out.hex() == case["output"]


@pytest.mark.parametrize("name", ["pairing", "change_pin", "unblock_pin"])
def test_pin_keys(name: str) -> None:
    v = load()
    case = v[name]
    keys = derive_pin_keys(h(case["z_pin"]), h(case["pin_shared_info"]))
    assert (keys.enc.hex(), keys.mac.hex(), keys.receipt.hex()) == (
        case["k_enc"],
        case["k_mac"],
        case["k_receipt"],
    )


def test_pin_shared_info_layout() -> None:
    v = load()
    case = v["pairing"]
    data = h(case["command"]["data"])
    eph_tlv = data.rfind(b"\xc9\x41\x04")
    context = data[:eph_tlv]
    info = pin_shared_info(
        h(case["challenge"]),
        0x50,
        0,
        0,
        data[eph_tlv + 2 : eph_tlv + 67],
        h(v["keys"]["card_identity_point"]),
        context,
    )
    assert info.hex() == case["pin_shared_info"]


def test_pairing_secret() -> None:
    v = load()
    secret = derive_pairing_secret(
        h(v["pairing"]["z_static"]),
        h(v["keys"]["card_identity_point"]),
        h(v["tpm"]["binding_name"]),
    )
    assert secret.hex() == v["pairing"]["pairing_secret"]


def test_session_keys_and_wipe() -> None:
    s = load()["session"]
    keys = derive_session_keys(
        h(s["z_ephemeral"]),
        h(s["z_ephemeral_static"]),
        h(load()["pairing"]["pairing_secret"]),
        h(s["th1"]),
    )
    assert (keys.confirmation + keys.enc + keys.mac + keys.rmac).hex() == s["key_material"]
    keys.wipe()
    assert not any(keys.confirmation + keys.enc + keys.mac + keys.rmac)


def test_wipe_zeroes_in_place() -> None:
    buffer = bytearray(b"secret")
    alias = buffer
    wipe(buffer)
    assert alias == bytes(6)
