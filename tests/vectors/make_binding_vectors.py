#!/usr/bin/env python3
"""Writes tests/vectors/binding.json: known answers for the TPM-card binding (docs/binding.md).

Standalone on purpose: it uses only the standard library and ``cryptography``, and builds every
TPM structure and protocol message by hand from docs/binding.md, without importing tpmcard. So
the host library (host/tpmcard/channel), the test model of the card (tests/unit/card_model.py)
and the Java card code are each checked against a third, independent computation. The X9.63 KDF,
the CMAC and one ECDSA signature are checked once more with the openssl CLI in
tests/unit/test_channel_vectors.py.

Every input is fixed: private scalars are hashes of their names, ECDSA is deterministic
(RFC 6979), so running this script again reproduces binding.json byte for byte (a unit test
checks that). Run: ``.venv/bin/python tests/vectors/make_binding_vectors.py``.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

from cryptography.hazmat.primitives import cmac, hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF

OUT = Path(__file__).with_name("binding.json")

# --- constants of docs/binding.md ---------------------------------------------------------------
LABEL_PIN = b"tpmcard pin v1"
LABEL_PAIRING = b"tpmcard pairing v1"
LABEL_SESSION = b"tpmcard session v1"
LABEL_TRANSCRIPT = b"tpmcard handshake v1"
KC_CARD_HELLO, KC_HOST, KC_CARD_FINAL = 0x01, 0x02, 0x03

TAG_BINDING_PUBLIC = 0xC1
TAG_AK_PUBLIC = 0xC2
TAG_PCR_SELECTION = 0xC3
TAG_POLICY_PCR_DIGEST = 0xC4
TAG_POLICY_OPTIONS = 0xC5
TAG_ATTEST = 0xC6
TAG_SIGNATURE = 0xC7
TAG_PCR_VALUES = 0xC8
TAG_HOST_EPHEMERAL = 0xC9
TAG_PIN_CRYPTOGRAM = 0xCA
TAG_HOST_CRYPTOGRAM = 0xCB
TAG_CARD_EPHEMERAL = 0xCC
TAG_CARD_CRYPTOGRAM = 0xCD
TAG_SLOT = 0xCE

CLA_PROPRIETARY = 0x80
CLA_SECURE_MESSAGING = 0x04
INS_PAIR = 0x50
INS_SESSION_INIT = 0x56
INS_SESSION_AUTH = 0x58
INS_CHANGE_REFERENCE_DATA = 0x24
INS_RESET_RETRY_COUNTER = 0x2C
P2_PIN = 0x80
P2_PUK = 0x81

# TPM 2.0 Part 2 constants.
TPM_GENERATED = 0xFF544347
ST_ATTEST_CERTIFY = 0x8017
ST_ATTEST_QUOTE = 0x8018
ALG_SHA256, ALG_NULL, ALG_ECDSA, ALG_ECC = 0x000B, 0x0010, 0x0018, 0x0023
ECC_NIST_P256 = 0x0003
CC_POLICY_PCR, CC_POLICY_AUTH_VALUE = 0x0000017F, 0x0000016B
FIXED_TPM, FIXED_PARENT, SENSITIVE_DATA_ORIGIN = 0x2, 0x10, 0x20
USER_WITH_AUTH, NO_DA, RESTRICTED, DECRYPT, SIGN = 0x40, 0x400, 0x10000, 0x20000, 0x40000

N_P256 = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


# --- helpers --------------------------------------------------------------------------------------
def sha256(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


def private_key(name: str) -> ec.EllipticCurvePrivateKey:
    scalar = (
        int.from_bytes(sha256(b"tpmcard vector key " + name.encode()), "big") % (N_P256 - 1) + 1
    )
    return ec.derive_private_key(scalar, ec.SECP256R1())


def scalar_hex(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_numbers().private_value.to_bytes(32, "big").hex()


def point(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    pub = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    return pub.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def ecdh_x(key: ec.EllipticCurvePrivateKey, peer: bytes) -> bytes:
    return key.exchange(
        ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), peer)
    )


def x963(z: bytes, info: bytes, length: int) -> bytes:
    return X963KDF(algorithm=hashes.SHA256(), length=length, sharedinfo=info).derive(z)


def aes_cmac(key: bytes, data: bytes) -> bytes:
    c = cmac.CMAC(algorithms.AES(key))
    c.update(data)
    return c.finalize()


def aes_ecb(key: bytes, block: bytes) -> bytes:
    e = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305 - one block: an IV
    return e.update(block) + e.finalize()


def aes_cbc(key: bytes, iv: bytes, data: bytes) -> bytes:
    e = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return e.update(data) + e.finalize()


def pad_m2(data: bytes) -> bytes:
    """ISO/IEC 9797-1 padding method 2: 80, then 00 up to the next 16-byte boundary."""
    data += b"\x80"
    return data + bytes(-len(data) % 16)


def tlv(tag: int, value: bytes) -> bytes:
    n = len(value)
    if n < 0x80:
        length = bytes([n])
    elif n <= 0xFF:
        length = bytes([0x81, n])
    else:
        length = b"\x82" + n.to_bytes(2, "big")
    return bytes([tag]) + length + value


def tpm2b(data: bytes) -> bytes:
    return struct.pack(">H", len(data)) + data


def sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    return key.sign(data, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))


def tpmt_public_ecc(
    key: ec.EllipticCurvePrivateKey,
    attributes: int,
    auth_policy: bytes,
    scheme: int,
    scheme_hash: int | None,
) -> bytes:
    """TPMT_PUBLIC of an ECC P-256 key (Part 2 §12.2.4), symmetric and kdf NULL."""
    nums = key.public_key().public_numbers()
    params = struct.pack(">H", ALG_NULL)  # symmetric: TPMT_SYM_DEF_OBJECT, NULL
    params += struct.pack(">H", scheme) + (struct.pack(">H", scheme_hash) if scheme_hash else b"")
    params += struct.pack(">HH", ECC_NIST_P256, ALG_NULL)  # curveID, kdf NULL
    unique = tpm2b(nums.x.to_bytes(32, "big")) + tpm2b(nums.y.to_bytes(32, "big"))
    return (
        struct.pack(">HHI", ALG_ECC, ALG_SHA256, attributes) + tpm2b(auth_policy) + params + unique
    )


def name_of(tpmt_public: bytes) -> bytes:
    return struct.pack(">H", ALG_SHA256) + sha256(tpmt_public)


def selection_bitmap(pcrs: list[int]) -> bytes:
    bitmap = bytearray(3)
    for i in pcrs:
        bitmap[i // 8] |= 1 << (i % 8)
    return bytes(bitmap)


def tpml_pcr_selection(bitmap: bytes) -> bytes:
    return struct.pack(">IHB", 1, ALG_SHA256, 3) + bitmap


def policy_digest(bitmap: bytes, pcr_digest: bytes, with_auth_value: bool) -> bytes:
    """TPM 2.0 Part 3 §23.7 PolicyPCR then, optionally, §23.17 PolicyAuthValue."""
    d = sha256(bytes(32), struct.pack(">I", CC_POLICY_PCR), tpml_pcr_selection(bitmap), pcr_digest)
    if with_auth_value:
        d = sha256(d, struct.pack(">I", CC_POLICY_AUTH_VALUE))
    return d


CLOCK_INFO = struct.pack(">QIIB", 0x0000000123456789, 3, 0, 1)  # clock, resetCount, restart, safe
FIRMWARE = struct.pack(">Q", 0x2023000000000000)


def attest_header(type_: int, signer_qn: bytes, extra: bytes) -> bytes:
    return (
        struct.pack(">IH", TPM_GENERATED, type_)
        + tpm2b(signer_qn)
        + tpm2b(extra)
        + CLOCK_INFO
        + FIRMWARE
    )


def pin_block(*pins: bytes) -> bytes:
    return pad_m2(b"".join(bytes([len(p)]) + p for p in pins))


def apdu_hex(cla: int, ins: int, p1: int, p2: int, data: bytes) -> dict[str, object]:
    return {"cla": cla, "ins": ins, "p1": p1, "p2": p2, "data": data.hex()}


# --- the vectors ----------------------------------------------------------------------------------
def kdf_vectors() -> list[dict[str, object]]:
    out = []
    for z_len, info_len, length in [(32, 0, 16), (32, 18, 48), (96, 50, 64), (20, 5, 33)]:
        z = sha256(b"z", bytes([z_len]))
        z = (z * 4)[:z_len]
        info = (sha256(b"info", bytes([info_len])) * 2)[:info_len]
        out.append(
            {
                "z": z.hex(),
                "shared_info": info.hex(),
                "length": length,
                "output": x963(z, info, length).hex(),
            }
        )
    return out


def main() -> None:
    card = private_key("card identity")
    binding = private_key("host binding")
    ak = private_key("host attestation key")
    attestation_ca = private_key("attestation ca")
    card_point = point(card)

    # Host PCR bank (SHA-256), policy over PCRs 4, 7 and 11.
    pcr_values = {i: sha256(b"pcr %d" % i) for i in range(24)}
    policy_pcrs = [4, 7, 11]
    policy_bitmap = selection_bitmap(policy_pcrs)
    policy_pcr_digest = sha256(*(pcr_values[i] for i in policy_pcrs))
    auth_policy = policy_digest(policy_bitmap, policy_pcr_digest, with_auth_value=False)
    auth_policy_with_value = policy_digest(policy_bitmap, policy_pcr_digest, with_auth_value=True)

    binding_attrs = FIXED_TPM | FIXED_PARENT | SENSITIVE_DATA_ORIGIN | DECRYPT | NO_DA
    ak_attrs = FIXED_TPM | FIXED_PARENT | SENSITIVE_DATA_ORIGIN | USER_WITH_AUTH | RESTRICTED | SIGN
    binding_public = tpmt_public_ecc(binding, binding_attrs, auth_policy, ALG_NULL, None)
    ak_public = tpmt_public_ecc(ak, ak_attrs, b"", ALG_ECDSA, ALG_SHA256)
    binding_name = name_of(binding_public)
    ak_name = name_of(ak_public)
    ak_qualified_name = struct.pack(">H", ALG_SHA256) + sha256(b"\x40\x00\x00\x01", ak_name)

    # ---- pairing (docs/binding.md "PAIR") ----
    challenge = sha256(b"card challenge 1")
    certify_attest = (
        attest_header(ST_ATTEST_CERTIFY, ak_qualified_name, challenge)
        + tpm2b(binding_name)
        + tpm2b(struct.pack(">H", ALG_SHA256) + sha256(b"qualified", binding_name))
    )
    certify_sig = sign(ak, certify_attest)
    # The attestation CA's AK certificate (docs/binding.md "AK certificate"); fixed fields, as
    # tests/unit/fake_tpm.py uses them.
    ak_certificate_signed = tlv(
        0xD1,
        tlv(0x80, b"\x01")
        + tlv(0x81, struct.pack(">Q", 0x0123456789ABCDEF))
        + tlv(0x82, point(ak))
        + tlv(0x83, ak_name)
        + tlv(0x84, sha256(b"fake EK certificate"))
        + tlv(0x85, struct.pack(">Q", 1_767_225_600))
        + tlv(0x86, struct.pack(">Q", 1_924_992_000)),
    )
    ak_certificate = ak_certificate_signed + tlv(0xD2, sign(attestation_ca, ak_certificate_signed))
    pin = b"123456"
    pin_eph = private_key("host pin ephemeral 1")
    context = (
        tlv(TAG_BINDING_PUBLIC, binding_public)
        + tlv(TAG_AK_PUBLIC, ak_public)
        + tlv(TAG_PCR_SELECTION, policy_bitmap)
        + tlv(TAG_POLICY_PCR_DIGEST, policy_pcr_digest)
        + tlv(TAG_POLICY_OPTIONS, b"\x00")
        + tlv(TAG_ATTEST, certify_attest)
        + tlv(TAG_SIGNATURE, certify_sig)
        + ak_certificate
    )
    header = bytes([INS_PAIR, 0x00, 0x00])
    pair = pin_command(card, card_point, pin_eph, challenge, header, context, [pin])
    slot = 2
    pair_response_prefix = tlv(TAG_SLOT, bytes([slot]))
    pair_receipt = aes_cmac(bytes.fromhex(pair["k_receipt"]), pair_response_prefix)
    z_ss = ecdh_x(card, point(binding))
    assert z_ss == ecdh_x(binding, card_point)
    pairing_info = LABEL_PAIRING + card_point + binding_name
    psk = x963(z_ss, pairing_info, 32)
    pairing = {
        "challenge": challenge.hex(),
        "certify_attest": certify_attest.hex(),
        "certify_signature": certify_sig.hex(),
        "ak_certificate": ak_certificate.hex(),
        "pin": pin.decode(),
        **pair,
        "command": apdu_hex(CLA_PROPRIETARY, INS_PAIR, 0, 0, bytes.fromhex(pair["command_data"])),
        "slot": slot,
        "response_data": (pair_response_prefix + tlv(TAG_CARD_CRYPTOGRAM, pair_receipt)).hex(),
        "z_static": z_ss.hex(),
        "pairing_shared_info": pairing_info.hex(),
        "pairing_secret": psk.hex(),
    }
    del pairing["command_data"]

    # PIN-authorised commands without pairing data: change PIN, unblock with the PUK.
    change = pin_command(
        card,
        card_point,
        private_key("host pin ephemeral 2"),
        sha256(b"card challenge 2"),
        bytes([INS_CHANGE_REFERENCE_DATA, 0, P2_PIN]),
        b"",
        [b"123456", b"24680135"],
    )
    change["challenge"] = sha256(b"card challenge 2").hex()
    change["command"] = apdu_hex(
        CLA_PROPRIETARY,
        INS_CHANGE_REFERENCE_DATA,
        0,
        P2_PIN,
        bytes.fromhex(change.pop("command_data")),
    )
    change["receipt"] = aes_cmac(bytes.fromhex(change["k_receipt"]), b"").hex()
    unblock = pin_command(
        card,
        card_point,
        private_key("host pin ephemeral 3"),
        sha256(b"card challenge 3"),
        bytes([INS_RESET_RETRY_COUNTER, 0, P2_PIN]),
        b"",
        [b"12345678", b"9999"],
    )
    unblock["challenge"] = sha256(b"card challenge 3").hex()
    unblock["command"] = apdu_hex(
        CLA_PROPRIETARY,
        INS_RESET_RETRY_COUNTER,
        0,
        P2_PIN,
        bytes.fromhex(unblock.pop("command_data")),
    )
    unblock["receipt"] = aes_cmac(bytes.fromhex(unblock["k_receipt"]), b"").hex()

    # ---- session handshake (docs/binding.md "SESSION INIT", "SESSION AUTH") ----
    host_eph = private_key("host session ephemeral")
    card_eph = private_key("card session ephemeral")
    eh, ec_ = point(host_eph), point(card_eph)
    z_ee = ecdh_x(card_eph, eh)
    z_es = ecdh_x(card_eph, point(binding))
    assert z_ee == ecdh_x(host_eph, ec_) and z_es == ecdh_x(binding, ec_)
    th1 = sha256(LABEL_TRANSCRIPT, bytes([slot]), card_point, binding_name, eh, ec_)
    session_info = LABEL_SESSION + th1
    keys = x963(z_ee + z_es + psk, session_info, 64)
    k_conf, s_enc, s_mac, s_rmac = keys[:16], keys[16:32], keys[32:48], keys[48:64]
    r_card1 = aes_cmac(k_conf, bytes([KC_CARD_HELLO]) + th1)
    th2 = sha256(th1, r_card1)
    quote_bitmap = bytes(
        a | b for a, b in zip(selection_bitmap(list(range(9))), policy_bitmap, strict=True)
    )
    quote_pcrs = [i for i in range(24) if quote_bitmap[i // 8] >> (i % 8) & 1]
    values = b"".join(pcr_values[i] for i in quote_pcrs)
    quote_attest = (
        attest_header(ST_ATTEST_QUOTE, ak_qualified_name, th2)
        + tpml_pcr_selection(quote_bitmap)
        + tpm2b(sha256(values))
    )
    quote_sig = sign(ak, quote_attest)
    auth_prefix = (
        tlv(TAG_ATTEST, quote_attest) + tlv(TAG_SIGNATURE, quote_sig) + tlv(TAG_PCR_VALUES, values)
    )
    th3 = sha256(th2, auth_prefix)
    r_host = aes_cmac(k_conf, bytes([KC_HOST]) + th3)
    r_card2 = aes_cmac(k_conf, bytes([KC_CARD_FINAL]) + th3)
    session = {
        "slot": slot,
        "host_ephemeral_private": scalar_hex(host_eph),
        "host_ephemeral_point": eh.hex(),
        "card_ephemeral_private": scalar_hex(card_eph),
        "card_ephemeral_point": ec_.hex(),
        "z_ephemeral": z_ee.hex(),
        "z_ephemeral_static": z_es.hex(),
        "th1": th1.hex(),
        "session_shared_info": session_info.hex(),
        "key_material": keys.hex(),
        "k_conf": k_conf.hex(),
        "s_enc": s_enc.hex(),
        "s_mac": s_mac.hex(),
        "s_rmac": s_rmac.hex(),
        "init_command": apdu_hex(
            CLA_PROPRIETARY, INS_SESSION_INIT, slot, 0, tlv(TAG_HOST_EPHEMERAL, eh)
        ),
        "init_response": (tlv(TAG_CARD_EPHEMERAL, ec_) + tlv(TAG_CARD_CRYPTOGRAM, r_card1)).hex(),
        "card_cryptogram_1": r_card1.hex(),
        "th2": th2.hex(),
        "quote_pcrs": quote_pcrs,
        "quote_selection": quote_bitmap.hex(),
        "quote_attest": quote_attest.hex(),
        "quote_signature": quote_sig.hex(),
        "pcr_values": values.hex(),
        "th3": th3.hex(),
        "host_cryptogram": r_host.hex(),
        "auth_command": apdu_hex(
            CLA_PROPRIETARY, INS_SESSION_AUTH, 0, 0, auth_prefix + tlv(TAG_HOST_CRYPTOGRAM, r_host)
        ),
        "card_cryptogram_2": r_card2.hex(),
        "auth_response": tlv(TAG_CARD_CRYPTOGRAM, r_card2).hex(),
        "initial_chain": r_card2.hex(),
    }

    doc = {
        "comment": "Known answers for docs/binding.md. Generated by make_binding_vectors.py; "
        "do not edit by hand. Hex strings; points are uncompressed (04||X||Y).",
        "cmac_rfc4493": {  # RFC 4493 §4, Example 2 and Example 1: a published, independent anchor
            "key": "2b7e151628aed2a6abf7158809cf4f3c",
            "message": "6bc1bee22e409f96e93d7e117393172a",
            "mac": "070a16b46b4d4144f79bdd9dd04a287c",
            "empty_mac": "bb1d6929e95937287fa37d129b756746",
        },
        "x963_kdf": kdf_vectors(),
        "keys": {
            "card_identity_private": scalar_hex(card),
            "card_identity_point": card_point.hex(),
            "binding_private": scalar_hex(binding),
            "binding_point": point(binding).hex(),
            "ak_private": scalar_hex(ak),
            "ak_point": point(ak).hex(),
            "attestation_ca_private": scalar_hex(attestation_ca),
            "attestation_ca_point": point(attestation_ca).hex(),
        },
        "tpm": {
            "pcr_values": {str(i): v.hex() for i, v in pcr_values.items()},
            "policy_pcrs": policy_pcrs,
            "policy_selection": policy_bitmap.hex(),
            "tpml_pcr_selection": tpml_pcr_selection(policy_bitmap).hex(),
            "policy_pcr_digest": policy_pcr_digest.hex(),
            "policy_digest": auth_policy.hex(),
            "policy_digest_with_auth_value": auth_policy_with_value.hex(),
            "binding_public": binding_public.hex(),
            "binding_name": binding_name.hex(),
            "ak_public": ak_public.hex(),
            "ak_name": ak_name.hex(),
        },
        "pairing": pairing,
        "change_pin": change,
        "unblock_pin": unblock,
        "session": session,
        "secure_messaging": secure_messaging(s_enc, s_mac, s_rmac, r_card2),
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n")


def pin_command(
    card: ec.EllipticCurvePrivateKey,
    card_point: bytes,
    eph: ec.EllipticCurvePrivateKey,
    challenge: bytes,
    header: bytes,
    context: bytes,
    pins: list[bytes],
) -> dict[str, str]:
    """A PIN-authorised command (docs/binding.md "PIN cryptogram")."""
    ep = point(eph)
    z = ecdh_x(eph, card_point)
    assert z == ecdh_x(card, ep)
    info = LABEL_PIN + challenge + header + ep + card_point + sha256(context)
    keys = x963(z, info, 48)
    k_enc, k_mac, k_receipt = keys[:16], keys[16:32], keys[32:48]
    plain = pin_block(*pins)
    ct = aes_cbc(k_enc, bytes(16), plain)
    mac = aes_cmac(k_mac, ct)
    data = context + tlv(TAG_HOST_EPHEMERAL, ep) + tlv(TAG_PIN_CRYPTOGRAM, ct + mac)
    return {
        "pin_ephemeral_private": scalar_hex(eph),
        "z_pin": z.hex(),
        "pin_shared_info": info.hex(),
        "k_enc": k_enc.hex(),
        "k_mac": k_mac.hex(),
        "k_receipt": k_receipt.hex(),
        "pin_block": plain.hex(),
        "pin_cryptogram": (ct + mac).hex(),
        "command_data": data.hex(),
    }


def secure_messaging(s_enc: bytes, s_mac: bytes, s_rmac: bytes, chain0: bytes) -> dict[str, object]:
    """docs/binding.md "Secure messaging": a sequence of commands and responses, then the
    tampered variants a card (commands) and a host (responses) must refuse."""
    payload_4096 = b"".join(sha256(b"payload", i.to_bytes(2, "big")) for i in range(128))
    plan = [  # (cla, ins, p1, p2, command payload, response payload, inner SW)
        (0x00, 0xCA, 0x7F, 0x49, b"", bytes.fromhex("7f4943") + sha256(b"r0") * 2, 0x9000),
        (0x80, 0xEE, 0x00, 0x00, b"hello", b"", 0x6A88),
        (0x80, 0xEE, 0x00, 0x00, bytes(range(16)), bytes(range(16)), 0x9000),
        (0x80, 0xEE, 0x01, 0x02, bytes(range(100)), b"", 0x9000),
        (0x80, 0xEE, 0x00, 0x00, payload_4096, payload_4096, 0x9000),
    ]
    chain = chain0
    steps = []
    for counter, (cla, ins, p1, p2, cmd, resp, sw) in enumerate(plan, start=1):
        cla_sm = (cla | CLA_SECURE_MESSAGING) & ~0x10
        ct = (
            aes_cbc(s_enc, aes_ecb(s_enc, counter.to_bytes(16, "big")), pad_m2(cmd)) if cmd else b""
        )
        mac_input = chain + bytes([cla_sm, ins, p1, p2]) + (len(ct) + 8).to_bytes(2, "big") + ct
        full = aes_cmac(s_mac, mac_input)
        chain = full
        rct = aes_cbc(
            s_enc,
            aes_ecb(s_enc, b"\x80" + counter.to_bytes(15, "big")),
            pad_m2(resp + sw.to_bytes(2, "big")),
        )
        rmac = aes_cmac(s_rmac, chain + rct + b"\x90\x00")[:8]
        steps.append(
            {
                "counter": counter,
                "command": {"cla": cla, "ins": ins, "p1": p1, "p2": p2, "data": cmd.hex()},
                "wrapped_command": apdu_hex(cla_sm, ins, p1, p2, ct + full[:8]),
                "mac_chain_after": full.hex(),
                "response": {"data": resp.hex(), "sw": sw},
                "wrapped_response": (rct + rmac).hex(),
            }
        )

    def wrapped(i: int) -> dict[str, object]:
        return dict(steps[i]["wrapped_command"])

    flipped = wrapped(1)
    raw = bytearray.fromhex(str(flipped["data"]))
    raw[-1] ^= 0x01
    flipped["data"] = raw.hex()
    flipped_ct = wrapped(3)
    raw = bytearray.fromhex(str(flipped_ct["data"]))
    raw[0] ^= 0x80
    flipped_ct["data"] = raw.hex()
    header_changed = wrapped(1)
    header_changed["p1"] = 0x01
    truncated = wrapped(3)
    truncated["data"] = str(truncated["data"])[:-2]
    unwrapped = dict(steps[1]["command"])
    card_negative = [
        {"name": "flipped_mac", "commands": [wrapped(0), flipped], "fails_at": 1},
        {
            "name": "flipped_ciphertext",
            "commands": [wrapped(0), wrapped(1), wrapped(2), flipped_ct],
            "fails_at": 3,
        },
        {"name": "header_changed", "commands": [wrapped(0), header_changed], "fails_at": 1},
        {"name": "replayed", "commands": [wrapped(0), wrapped(1), wrapped(1)], "fails_at": 2},
        {"name": "reordered", "commands": [wrapped(0), wrapped(2), wrapped(1)], "fails_at": 1},
        {"name": "dropped", "commands": [wrapped(0), wrapped(2)], "fails_at": 1},
        {
            "name": "truncated",
            "commands": [wrapped(0), wrapped(1), wrapped(2), truncated],
            "fails_at": 3,
        },
        {"name": "unprotected_during_session", "commands": [wrapped(0), unwrapped], "fails_at": 1},
        {
            "name": "valid_after_failure",
            "commands": [wrapped(0), flipped, wrapped(1)],
            "fails_at": 1,
        },
    ]
    r = [bytes.fromhex(str(s["wrapped_response"])) for s in steps]
    host_negative = [
        {
            "name": "flipped_response_mac",
            "responses": [r[0].hex(), (r[1][:-1] + bytes([r[1][-1] ^ 1])).hex()],
            "fails_at": 1,
        },
        {
            "name": "flipped_response_ciphertext",
            "responses": [r[0].hex(), (bytes([r[1][0] ^ 1]) + r[1][1:]).hex()],
            "fails_at": 1,
        },
        {"name": "replayed_response", "responses": [r[0].hex(), r[0].hex()], "fails_at": 1},
        {"name": "truncated_response", "responses": [r[0][:-1].hex()], "fails_at": 0},
        {"name": "empty_response", "responses": [""], "fails_at": 0},
    ]
    return {
        "s_enc": s_enc.hex(),
        "s_mac": s_mac.hex(),
        "s_rmac": s_rmac.hex(),
        "initial_chain": chain0.hex(),
        "steps": steps,
        "card_negative": card_negative,
        "host_negative": host_negative,
    }


if __name__ == "__main__":
    main()
