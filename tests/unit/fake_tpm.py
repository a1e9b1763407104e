"""A software stand-in for the host TPM, for the binding tests (no swtpm, no TSS).

It implements tpmcard.channel.handshake.BindingTpm the way a TPM would: the binding key's
ECDH_ZGen only works while the PCRs satisfy the key's PolicyPCR, quotes and certifications are
TPMS_ATTEST structures signed by the AK. The structures are built by hand from TPM 2.0 Part 2,
with the same fixed clock and firmware fields as tests/vectors/make_binding_vectors.py, and ECDSA
is deterministic (RFC 6979), so with the vector keys it reproduces binding.json byte for byte.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping, Sequence

from card_model import TEST_CA
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from tpmcard.errors import TpmPolicyError

ALG_SHA256, ALG_NULL, ALG_ECDSA, ALG_ECDH, ALG_ECC = 0x000B, 0x0010, 0x0018, 0x0019, 0x0023
FIXED_TPM, FIXED_PARENT, SENSITIVE_DATA_ORIGIN = 0x2, 0x10, 0x20
USER_WITH_AUTH, NO_DA, RESTRICTED, DECRYPT, SIGN = 0x40, 0x400, 0x10000, 0x20000, 0x40000
BINDING_ATTRIBUTES = FIXED_TPM | FIXED_PARENT | SENSITIVE_DATA_ORIGIN | DECRYPT | NO_DA
AK_ATTRIBUTES = (
    FIXED_TPM | FIXED_PARENT | SENSITIVE_DATA_ORIGIN | USER_WITH_AUTH | RESTRICTED | SIGN
)
CLOCK_INFO = struct.pack(">QIIB", 0x0000000123456789, 3, 0, 1)
FIRMWARE = struct.pack(">Q", 0x2023000000000000)


def sha256(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


def tpm2b(data: bytes) -> bytes:
    return struct.pack(">H", len(data)) + data


def bitmap(pcrs: Sequence[int]) -> bytes:
    out = bytearray(3)
    for i in pcrs:
        out[i // 8] |= 1 << (i % 8)
    return bytes(out)


def tpml(pcrs: Sequence[int]) -> bytes:
    return struct.pack(">IHB", 1, ALG_SHA256, 3) + bitmap(pcrs)


def policy_digest(pcrs: Sequence[int], pcr_digest: bytes, with_auth_value: bool) -> bytes:
    d = sha256(bytes(32), struct.pack(">I", 0x17F), tpml(sorted(pcrs)), pcr_digest)
    return sha256(d, struct.pack(">I", 0x16B)) if with_auth_value else d


def tpmt_public(
    key: ec.EllipticCurvePrivateKey,
    attributes: int,
    auth_policy: bytes,
    scheme: int,
    scheme_hash: int | None,
) -> bytes:
    nums = key.public_key().public_numbers()
    params = struct.pack(">H", ALG_NULL) + struct.pack(">H", scheme)
    params += struct.pack(">H", scheme_hash) if scheme_hash else b""
    params += struct.pack(">HH", 0x0003, ALG_NULL)
    return (
        struct.pack(">HHI", ALG_ECC, ALG_SHA256, attributes)
        + tpm2b(auth_policy)
        + params
        + tpm2b(nums.x.to_bytes(32, "big"))
        + tpm2b(nums.y.to_bytes(32, "big"))
    )


#: Fixed AK-certificate fields (docs/binding.md "AK certificate"), as in make_binding_vectors.py.
AK_CERTIFICATE_SERIAL = 0x0123456789ABCDEF
AK_CERTIFICATE_ISSUED_AT = 1_767_225_600  # 2026-01-01T00:00:00Z
AK_CERTIFICATE_NOT_AFTER = 1_924_992_000  # 2031-01-01T00:00:00Z
FAKE_EK_CERTIFICATE_DIGEST = sha256(b"fake EK certificate")


def tlv(tag: int, value: bytes) -> bytes:
    n = len(value)
    head = bytes([tag, n]) if n < 0x80 else bytes([tag, 0x81, n]) if n < 0x100 else None
    if head is None:
        head = bytes([tag, 0x82]) + n.to_bytes(2, "big")
    return head + value


def ak_certificate(ca: ec.EllipticCurvePrivateKey, ak_public: bytes) -> bytes:
    """The attestation CA's AK certificate for ``ak_public`` (D1 TLV || D2 TLV), deterministic."""
    nums = ak_public[-68:]  # TPM2B x || TPM2B y
    point = b"\x04" + nums[2:34] + nums[36:68]
    signed = tlv(
        0xD1,
        tlv(0x80, b"\x01")
        + tlv(0x81, struct.pack(">Q", AK_CERTIFICATE_SERIAL))
        + tlv(0x82, point)
        + tlv(0x83, struct.pack(">H", ALG_SHA256) + sha256(ak_public))
        + tlv(0x84, FAKE_EK_CERTIFICATE_DIGEST)
        + tlv(0x85, struct.pack(">Q", AK_CERTIFICATE_ISSUED_AT))
        + tlv(0x86, struct.pack(">Q", AK_CERTIFICATE_NOT_AFTER)),
    )
    signature = ca.sign(signed, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    return signed + tlv(0xD2, signature)


class FakeTpm:
    """Binding key with PolicyPCR over ``policy_pcrs`` at their values at construction."""

    def __init__(
        self,
        pcr_values: Mapping[int, bytes],
        policy_pcrs: Sequence[int],
        *,
        binding: ec.EllipticCurvePrivateKey | None = None,
        ak: ec.EllipticCurvePrivateKey | None = None,
        with_auth_value: bool = False,
        binding_attributes: int = BINDING_ATTRIBUTES,
        binding_scheme: tuple[int, int | None] = (ALG_NULL, None),
        ca: ec.EllipticCurvePrivateKey | None = None,
    ) -> None:
        """``ca`` signs the AK certificate (default: the model card's TEST_CA). A software
        "TPM" like this one is what finding 1 of issue 11 is about: only a CA that checked a
        genuine TPM (tpmcard.services.attestation) would certify its AK."""
        self.pcrs = {i: bytes(pcr_values.get(i, bytes(32))) for i in range(24)}
        self.policy_pcrs = tuple(sorted(set(policy_pcrs)))
        self.binding = binding or ec.generate_private_key(ec.SECP256R1())
        self.ak = ak or ec.generate_private_key(ec.SECP256R1())
        self.policy_pcr_digest = sha256(*(self.pcrs[i] for i in self.policy_pcrs))
        self.auth_policy = policy_digest(self.policy_pcrs, self.policy_pcr_digest, with_auth_value)
        self._binding_public = tpmt_public(
            self.binding, binding_attributes, self.auth_policy, *binding_scheme
        )
        self._ak_public = tpmt_public(self.ak, AK_ATTRIBUTES, b"", ALG_ECDSA, ALG_SHA256)
        self._ak_certificate = ak_certificate(ca or TEST_CA, self._ak_public)
        self.zgen_calls = 0

    @property
    def binding_name(self) -> bytes:
        return struct.pack(">H", ALG_SHA256) + sha256(self._binding_public)

    def extend(self, index: int, data: bytes) -> None:
        """TPM2_PCR_Extend of the SHA-256 bank."""
        self.pcrs[index] = sha256(self.pcrs[index], sha256(data))

    # --- BindingTpm ---
    def binding_public(self) -> bytes:
        return self._binding_public

    def ak_public(self) -> bytes:
        return self._ak_public

    def ak_certificate(self) -> bytes:
        return self._ak_certificate

    def ecdh_zgen(self, peer_point: bytes) -> bytes:
        current = sha256(*(self.pcrs[i] for i in self.policy_pcrs))
        if current != self.policy_pcr_digest:
            raise TpmPolicyError(
                "TPM2_PolicyPCR: the PCRs no longer match the binding key's policy",
                rc=0x99D,
                pcr_selection="sha256:" + ",".join(map(str, self.policy_pcrs)),
            )
        self.zgen_calls += 1
        peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), bytes(peer_point))
        return self.binding.exchange(ec.ECDH(), peer)

    def _attest(self, type_: int, extra: bytes, attested: bytes) -> tuple[bytes, bytes]:
        ak_name = struct.pack(">H", ALG_SHA256) + sha256(self._ak_public)
        signer = struct.pack(">H", ALG_SHA256) + sha256(b"\x40\x00\x00\x01", ak_name)
        attest = (
            struct.pack(">IH", 0xFF544347, type_)
            + tpm2b(signer)
            + tpm2b(extra)
            + CLOCK_INFO
            + FIRMWARE
            + attested
        )
        sig = self.ak.sign(attest, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
        return attest, sig

    def certify_binding(self, qualifying_data: bytes) -> tuple[bytes, bytes]:
        name = self.binding_name
        qualified = struct.pack(">H", ALG_SHA256) + sha256(b"qualified", name)
        return self._attest(0x8017, qualifying_data, tpm2b(name) + tpm2b(qualified))

    def quote(self, nonce: bytes, pcr_indices: Sequence[int]) -> tuple[bytes, bytes, list[bytes]]:
        chosen = sorted(set(pcr_indices))
        values = [self.pcrs[i] for i in chosen]
        attest, sig = self._attest(0x8018, nonce, tpml(chosen) + tpm2b(sha256(*values)))
        return attest, sig, values
