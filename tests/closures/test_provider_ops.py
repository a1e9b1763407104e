"""PCALL KEY IMPORT and the keyed symmetric providers over both transports (``secure_session``):
a loaded closure imports key bytes it holds in its code (a DATA instruction; docs/closures.md
"Providers": "a closure imports key bytes it holds") into the HMAC, AES-GCM and
ChaCha20-Poly1305 providers, and uses the handle it gets. The answers are the published ones
(RFC 4231, RFC 8439 §2.8.2 from tests/vectors/algorithms.json) and ``cryptography``'s; a flipped
tag is refused with the provider's 6300 and no plaintext; a deleted key, and the keys of a removed
closure, are refused (660C) and free their provider slots.

Each closure is made by :func:`keyed`: with no args it imports its key (output: the handle); with
args ``INS ‖ data`` it calls the provider with that one-shot command on memory[1..arglen) and
outputs the answer (MAC, ct‖tag, plaintext; nothing for KEY DELETE). The sizes fit jCardSim's
228-byte staged window (memory 160 + output 48 + stack 12): an AEAD call carries at most 32 bytes
of text with 12 of AAD, which is why the RFC 8439 message is cut to its first 32 bytes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from tpmcard.services.closures import PlainImage, assemble
from tpmcard.services.closures.session import ClosuresSession

from .conftest import refused

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "vectors" / "algorithms.json").read_text()
)
RFC4231_2 = next(v for v in VECTORS["hmac"] if v["source"] == "RFC 4231 test case 2")
RFC8439 = next(v for v in VECTORS["chacha20_poly1305"] if v["source"] == "RFC 8439 section 2.8.2")
MV4 = next(v for v in VECTORS["aes_gcm"] if "test case 4" in v["source"])

# provider numbers and key types (ProviderConstants)
HMAC, AES_GCM, CHACHA = 0x03, 0x01, 0x04
KEY_AES_256, KEY_HMAC_SHA256, KEY_CHACHA20 = 0x02, 0x03, 0x05
DELETE, ENCRYPT, DECRYPT, MAC = 0x24, 0x30, 0x32, 0x36
SW_VERIFICATION_FAILED, SW_NO_SPACE = 0x6300, 0x6A84


def keyed(name: str, prov: int, key_type: int, key: bytes) -> PlainImage:
    """A closure holding ``key`` in its code for provider ``prov`` (see the module text)."""
    return assemble(
        f"""
.name   {name}
.stack  6
.memory 160
.output 48
.steps  60
    arglen
    jz import
    pushb {prov}
    pushb 0
    load8           ; op: the INS in args[0], P1 0
    pushb 1         ; src: the provider's data after the INS
    arglen
    pushb 1
    sub
    arglen          ; dst: the answer after the data
    pcall
    arglen
    swap
    out
    halt
import:
    pushb 0
    data x"{key.hex()}"
    pushb {prov}
    push {key_type << 8 | 0x22:#06x}  ; KEY IMPORT, P1 the key type
    pushb 0
    pushb {len(key)}
    pushb {len(key)}
    pcall
    pushb {len(key)}
    swap
    out
    halt
"""
    )


def aead_data(handle: bytes, nonce: bytes, aad: bytes, text: bytes) -> bytes:
    return handle + bytes([len(nonce)]) + nonce + len(aad).to_bytes(2, "big") + aad + text


def test_an_imported_hmac_key_macs_rfc_4231_case_2(closures: ClosuresSession) -> None:
    key, message = bytes.fromhex(RFC4231_2["key"]), bytes.fromhex(RFC4231_2["message"])
    assert (key, message) == (b"Jefe", b"what do ya want for nothing?")
    closures.load(keyed("pchmac", HMAC, KEY_HMAC_SHA256, key))
    try:
        handle = closures.run("pchmac")
        assert len(handle) == 4
        mac = closures.run("pchmac", bytes([MAC]) + handle + message)
        assert mac.hex() == RFC4231_2["mac"]
        ours = hmac.HMAC(key, hashes.SHA256())
        ours.update(message)
        assert mac == ours.finalize()
        assert closures.run("pchmac", bytes([DELETE]) + handle) == b""
        assert refused(closures.run, "pchmac", bytes([MAC]) + handle + message).violation == "key"
    finally:
        closures.remove("pchmac")


AEADS: dict[str, tuple[int, int, type[AESGCM] | type[ChaCha20Poly1305], bytes, Any]] = {
    # AES-256-GCM: McGrew & Viega case 4's key doubled (their case 16), nonce, AAD and text cut
    "aes": (AES_GCM, KEY_AES_256, AESGCM, bytes.fromhex(MV4["key"]) * 2, MV4),
    "chacha": (CHACHA, KEY_CHACHA20, ChaCha20Poly1305, bytes.fromhex(RFC8439["key"]), RFC8439),
}


@pytest.mark.parametrize("which", sorted(AEADS))
def test_an_imported_aead_key_seals_and_opens(closures: ClosuresSession, which: str) -> None:
    prov, key_type, oracle, key, vector = AEADS[which]
    nonce = bytes.fromhex(vector["nonce"])
    aad = bytes.fromhex(vector["aad"])[:12]
    text = bytes.fromhex(vector["plaintext"])[:32]
    name = "pc" + which
    closures.load(keyed(name, prov, key_type, key))
    try:
        handle = closures.run(name)
        assert len(handle) == 4
        sealed = closures.run(name, bytes([ENCRYPT]) + aead_data(handle, nonce, aad, text))
        assert sealed == oracle(key).encrypt(nonce, text, aad)
        if which == "chacha":  # the same key stream as RFC 8439's: its ciphertext's first bytes
            assert sealed[:32].hex() == RFC8439["ciphertext"][:64]
        opened = closures.run(name, bytes([DECRYPT]) + aead_data(handle, nonce, aad, sealed))
        assert opened == text
        for bit in (0, 7):  # a flipped tag bit (first and last tag byte): 6300, no plaintext
            bad = bytearray(sealed)
            bad[-1 if bit else -16] ^= 1 << bit
            err = refused(
                closures.run, name, bytes([DECRYPT]) + aead_data(handle, nonce, aad, bytes(bad))
            )
            assert err.sw == SW_VERIFICATION_FAILED
            assert err.data == b""
        other_aad = bytes(12)
        err = refused(
            closures.run, name, bytes([DECRYPT]) + aead_data(handle, nonce, other_aad, sealed)
        )
        assert err.sw == SW_VERIFICATION_FAILED and err.data == b""
        # the closure survives its refusals and still opens the genuine message
        assert closures.run(name, bytes([DECRYPT]) + aead_data(handle, nonce, aad, sealed)) == text
        assert closures.run(name, bytes([DELETE]) + handle) == b""
        after = bytes([ENCRYPT]) + aead_data(handle, nonce, aad, text)
        assert refused(closures.run, name, after).violation == "key"
        assert refused(closures.run, name, bytes([DELETE]) + handle).violation == "key"
    finally:
        closures.remove(name)


@pytest.mark.parametrize(
    "prov, key_type, key",
    [
        (HMAC, KEY_HMAC_SHA256, b"Jefe"),
        (AES_GCM, KEY_AES_256, bytes(range(32))),
        (CHACHA, KEY_CHACHA20, bytes(range(32))),
    ],
    ids=["hmac", "aes", "chacha"],
)
def test_remove_deletes_imported_keys(
    closures: ClosuresSession, prov: int, key_type: int, key: bytes
) -> None:
    image = keyed("pcrm", prov, key_type, key)
    # each provider has 4 key slots: without REMOVE's deletions a later round gets 6A84
    handles = []
    for _ in range(6):
        closures.load(image)
        handles.append(closures.run("pcrm"))
        closures.remove("pcrm")
    closures.load(image)
    try:
        use = bytes([MAC]) if prov == HMAC else bytes([ENCRYPT])
        for handle in set(handles):
            data = handle + b"m" if prov == HMAC else aead_data(handle, bytes(12), b"", b"m")
            # a reloaded closure of the same name owns nothing of the removed one's
            assert refused(closures.run, "pcrm", use + data).violation == "key"
        # its own import works, and a full provider answers 6A84 (not a lost key)
        mine = [closures.run("pcrm") for _ in range(4)]
        assert len(set(mine)) == 4
        assert refused(closures.run, "pcrm").sw == SW_NO_SPACE
    finally:
        closures.remove("pcrm")


def test_bad_imports_stop_with_their_status_words(closures: ClosuresSession) -> None:
    # from a host-held image (no slot): no key of its own (660C), nothing imported
    image = closures.seal(keyed("pcimg", AES_GCM, KEY_AES_256, bytes(32)))
    assert refused(closures.run_image, image).violation == "key"
    bad = {
        "pcty": (AES_GCM, KEY_HMAC_SHA256, bytes(32), 0x6981),  # a type the provider does not take
        "pclen": (AES_GCM, KEY_AES_256, bytes(20), 0x6700),  # a key of the wrong length
        "pccc": (CHACHA, KEY_CHACHA20, bytes(16), 0x6700),
    }
    for name, (prov, key_type, key, sw) in bad.items():
        closures.load(keyed(name, prov, key_type, key))
        try:
            assert refused(closures.run, name).sw == sw
        finally:
            closures.remove(name)
    # nothing half-made: a good import still gets a handle and uses it
    closures.load(keyed("pcok", HMAC, KEY_HMAC_SHA256, b"Jefe"))
    try:
        handle = closures.run("pcok")
        mac = closures.run("pcok", bytes([MAC]) + handle + bytes.fromhex(RFC4231_2["message"]))
        assert mac.hex() == RFC4231_2["mac"]
    finally:
        closures.remove("pcok")
