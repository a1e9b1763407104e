"""Count-limited keys (docs/counted-keys.md) end to end: host library -> secured session ->
CoreApplet INVOKE -> MtpmApplet -> CountedKeys, over both transports (sim and PC/SC).

Each test leaves the module's card as it found it: unowned, no counted key."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from tpmcard.services.ca import ManufacturerCa
from tpmcard.services.counted_keys import (
    CountedKey,
    CountedKeyError,
    CountedKeys,
    KeyExhaustedError,
    KeyKind,
    KeyKindError,
)
from tpmcard.services.mtpm import MtpmError, MtpmSession, public_point

if TYPE_CHECKING:
    from conftest import BoundCard  # tests/conftest.py

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "counted_keys.json").read_text()
)


def _verifies(key: CountedKey, message: bytes, der: bytes) -> bool:
    assert key.public_key is not None
    try:
        key.public_key.verify(der, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def _certificate_for(mtpm: MtpmSession, tmp_path: Path) -> tuple[ManufacturerCa, bytes]:
    """A migration CA and a certificate it made for this card's own (certified) migration key:
    everything an export needs, so only the counted key's own rule can refuse it."""
    ca = ManufacturerCa.init(tmp_path / "ca")
    return ca, ca.certify_migration_target(public_point(mtpm.migration_public()), b"target")


def test_a_key_is_refused_at_zero_after_a_card_reset_and_after_migration_attempts(
    bound_card: BoundCard, tmp_path: Path
) -> None:
    try:
        with bound_card.connect() as session:
            keys = session.counted_keys
            session.mtpm.take_ownership(b"owner")
            key = keys.create(KeyKind.ECDSA_P256, 2, owner_auth=b"owner")
            assert key.handle >> 24 == 0x8C and key.remaining == 2
            for i in range(2):
                message = f"order {i}".encode()
                signature = keys.sign(key.handle, message)
                assert _verifies(key, message, signature)
                assert not _verifies(key, b"another message", signature)
                assert keys.remaining(key.handle).remaining == 1 - i
            with pytest.raises(KeyExhaustedError) as err:
                keys.sign(key.handle, b"one more")
            assert err.value.sw == 0x6984 and err.value.reason == "exhausted"
            assert session.mtpm.status().owned  # the session survives the refusal
            # Migration: the anchor and a trusted target certificate are there; a counted key
            # still never leaves, copied or moved, dead or alive, and nothing changes.
            ca, certificate = _certificate_for(session.mtpm, tmp_path)
            session.mtpm.migration_anchor_set(ca.certificate.public_key(), b"owner")  # type: ignore[arg-type]
            live = keys.create(KeyKind.HMAC_SHA256, 3, owner_auth=b"owner")
            for handle in (key.handle, live.handle):
                for move in (False, True):
                    with pytest.raises(CountedKeyError) as refused:
                        keys.migrate_export(handle, certificate, b"owner", move=move)
                    assert refused.value.sw == 0x6A87 and refused.value.reason == "not_migratable"
            assert keys.remaining(live.handle).remaining == 3
            assert keys.remaining(key.handle).remaining == 0
            with pytest.raises(MtpmError) as wrong_owner:
                keys.migrate_export(live.handle, certificate, b"not the owner")
            assert wrong_owner.value.reason == "owner_auth"
            assert len(keys.mac(live.handle, b"still works")) == 32
        bound_card.reset()
        with bound_card.connect() as session:
            keys = session.counted_keys
            with pytest.raises(KeyExhaustedError):
                keys.sign(key.handle, b"after the reset")
            listed = {k.handle: k for k in keys.list()}
            assert listed[key.handle].dead and listed[live.handle].remaining == 2
            assert keys.remaining(key.handle).public_key == key.public_key  # dead, still named
    finally:
        with bound_card.connect() as session:
            session.mtpm.clear(b"owner")  # CLEAR removes every counted key
            assert session.counted_keys.list() == []
            with pytest.raises(CountedKeyError) as gone:
                session.counted_keys.remaining(key.handle)
            assert gone.value.reason == "not_found"


def test_known_answers_through_the_counted_path(mtpm: MtpmSession) -> None:
    keys = CountedKeys(mtpm)
    assert len(VECTORS["hmac_sha256"]) == 4 and len(VECTORS["aes_cbc"]) == 4
    for v in VECTORS["hmac_sha256"]:
        key = keys.import_key(KeyKind.HMAC_SHA256, bytes.fromhex(v["key"]), 1)
        try:
            assert keys.mac(key.handle, bytes.fromhex(v["data"])) == bytes.fromhex(v["mac"]), v
            with pytest.raises(KeyExhaustedError):
                keys.mac(key.handle, bytes.fromhex(v["data"]))
        finally:
            keys.delete(key.handle)
    for v in VECTORS["aes_cbc"]:
        secret = bytes.fromhex(v["key"])
        kind = KeyKind.AES_128 if len(secret) == 16 else KeyKind.AES_256
        key = keys.import_key(kind, secret, 2)
        iv, plaintext = bytes.fromhex(v["iv"]), bytes.fromhex(v["plaintext"])
        ciphertext = bytes.fromhex(v["ciphertext"])
        try:
            assert keys.encrypt(key.handle, iv, plaintext) == ciphertext, v["name"]
            assert keys.decrypt(key.handle, iv, ciphertext) == plaintext
            assert keys.remaining(key.handle).dead
        finally:
            keys.delete(key.handle)
    assert keys.list() == []


def _refused(keys: CountedKeys, call: Callable[[], object], reason: str, sw: int) -> None:
    with pytest.raises(CountedKeyError) as err:
        call()
    assert (err.value.reason, err.value.sw) == (reason, sw)


def test_bad_input_gets_its_status_word_and_the_session_survives(mtpm: MtpmSession) -> None:
    keys = CountedKeys(mtpm)
    ecdsa = keys.create(KeyKind.ECDSA_P256, 4)
    aes = keys.create(KeyKind.AES_128, 4)
    iv = bytes(16)
    try:
        # Wrong lengths: not whole blocks, no block, wrong AES key size.
        _refused(keys, lambda: keys.encrypt(aes.handle, iv, bytes(15)), "length", 0x6700)
        _refused(keys, lambda: keys.decrypt(aes.handle, iv, b""), "length", 0x6700)
        _refused(keys, lambda: keys.import_key(KeyKind.AES_256, bytes(16), 1), "length", 0x6700)
        # Unknown handles: never made, of a deleted key.
        _refused(keys, lambda: keys.sign(0x8C070001, b"m"), "not_found", 0x6A88)
        _refused(keys, lambda: keys.sign(0x01500001, b"m"), "not_found", 0x6A88)
        # Wrong kind for the operation.
        with pytest.raises(KeyKindError) as kind:
            keys.sign(aes.handle, b"m")
        assert kind.value.sw == 0x6981 and kind.value.reason == "key_kind"
        with pytest.raises(KeyKindError):
            keys.encrypt(ecdsa.handle, iv, bytes(16))
        with pytest.raises(KeyKindError):
            keys.mac(ecdsa.handle, b"m")
        # Oversized: data plus answer beyond the service window (the card answers, not the host).
        window = mtpm.window
        blocks = (window - 21) // 32 + 1  # handle 4, auth 1, IV 16, n blocks in and out
        _refused(keys, lambda: keys.encrypt(aes.handle, iv, bytes(16 * blocks)), "length", 0x6700)
        _refused(keys, lambda: keys.sign(ecdsa.handle, bytes(window - 72)), "length", 0x6700)
        # An auth value needs an owner (as SEAL); a wrong one costs no use.
        _refused(keys, lambda: keys.create(KeyKind.AES_128, 1, auth=b"pw"), "no_owner", 0x6A82)
        mtpm.take_ownership(b"owner")
        try:
            guarded = keys.create(KeyKind.HMAC_SHA256, 2, auth=b"pw", owner_auth=b"owner")
            with pytest.raises(MtpmError) as auth:
                keys.mac(guarded.handle, b"m", auth=b"px")
            assert auth.value.reason == "auth"
            assert keys.remaining(guarded.handle).remaining == 2
            assert len(keys.mac(guarded.handle, b"m", auth=b"pw")) == 32
        finally:
            mtpm.clear(b"owner")
        assert keys.list() == []  # CLEAR took all three
        # Nothing above cost a use, and the session still answers.
        assert not mtpm.status().owned
    finally:
        for k in keys.list():
            keys.delete(k.handle)


def test_cli_key_commands(paired_cli: Callable[..., str], tmp_path: Path) -> None:
    made = json.loads(
        paired_cli(
            "mtpm", "key", "create", "ecdsa-p256", "--uses", "1", "--json",
            "--public-out", str(tmp_path / "pub.pem"),
        )
    )  # fmt: skip
    handle = made["handle"]
    assert made["remaining"] == 1 and not made["dead"]
    public = serialization.load_pem_public_key((tmp_path / "pub.pem").read_bytes())
    assert isinstance(public, ec.EllipticCurvePublicKey)
    (tmp_path / "msg").write_bytes(b"pay 10 EUR")
    paired_cli("mtpm", "key", "sign", handle, str(tmp_path / "msg"), str(tmp_path / "sig"))
    public.verify((tmp_path / "sig").read_bytes(), b"pay 10 EUR", ec.ECDSA(hashes.SHA256()))
    left = json.loads(paired_cli("mtpm", "key", "remaining", handle, "--json"))
    assert left == {**made, "remaining": 0, "dead": True}
    assert json.loads(paired_cli("mtpm", "key", "list", "--json")) == [
        {"handle": handle, "kind": "ecdsa-p256", "remaining": 0, "dead": True}
    ]
    (tmp_path / "k").write_bytes(bytes(range(16)))
    aes = json.loads(
        paired_cli("mtpm", "key", "import", "aes-128", str(tmp_path / "k"), "--uses", "9", "--json")
    )
    (tmp_path / "pt").write_bytes(bytes.fromhex("00112233445566778899aabbccddeeff"))
    out = json.loads(
        paired_cli(
            "mtpm", "key", "encrypt", aes["handle"], str(tmp_path / "pt"), str(tmp_path / "ct"),
            "--iv", "00" * 16, "--json",
        )
    )  # fmt: skip
    assert out["bytes"] == 16
    assert (tmp_path / "ct").read_bytes() == bytes.fromhex("69c4e0d86a7b0430d8cdb78070b4c55a")
    for h in (handle, aes["handle"]):
        assert json.loads(paired_cli("mtpm", "key", "delete", h, "--json"))["deleted"]
    assert json.loads(paired_cli("mtpm", "key", "list", "--json")) == []
