"""The binding's TPM operations (:class:`tpmcard.channel.BindingTpm`) over tpmcard.tpm.adapter.Tpm.

Duck-typed on purpose: this module imports nothing from tpm2-pytss, so the channel package stays
importable (and testable) without the TSS libraries; it only calls the adapter's methods.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from tpmcard.channel.handshake import PcrPolicy
from tpmcard.ecpoint import load_point


class HostTpm(Protocol):
    """The host TPM as the layers above :mod:`tpmcard.tpm` use it; :class:`tpmcard.tpm.adapter.Tpm`
    is one, a test double another.

    Keys and evidence are the TPM layer's own types (``BindingKey``, ``KeyBlob``, ``Quote``,
    ``Certification``); this layer, which may not import the TPM layer, passes them through.
    """

    @property
    def tcti(self) -> str: ...

    def pcr_read(self, indices: Iterable[int], bank: str = "sha256") -> dict[int, bytes]: ...

    def create_binding_key(self, pcr_indices: Iterable[int], auth: bytes | None = None) -> Any: ...

    def create_attestation_key(self) -> Any: ...

    def ecdh_zgen(
        self, key: Any, peer_public_key: ec.EllipticCurvePublicKey, auth: bytes | None = None
    ) -> bytes: ...

    def certify(
        self, obj: Any, ak: Any, qualifying_data: bytes, obj_auth: bytes | None = None
    ) -> Any: ...

    def quote(self, ak: Any, pcr_indices: Iterable[int], qualifying_data: bytes) -> Any: ...

    def read_ek_certificate(self) -> bytes: ...

    def ek_public_key(self, kind: str) -> Any: ...

    def activate_credential(
        self, ak: Any, kind: str, credential_blob: bytes, encrypted_secret: bytes
    ) -> bytes: ...


class TpmBinding:
    """One host's binding: a ``Tpm``, its PCR-bound ``BindingKey`` and its AK ``KeyBlob``.

    ``auth`` is the binding key's authValue when its policy includes PolicyAuthValue (it is also
    what TPM2_Certify's ADMIN role takes).
    """

    def __init__(
        self,
        tpm: HostTpm,
        binding_key: Any,
        ak: Any,
        auth: bytes | None = None,
        ak_certificate: bytes = b"",
    ) -> None:
        self._tpm = tpm
        self._binding = binding_key
        self._ak = ak
        self._auth = auth
        self._ak_certificate = ak_certificate

    @property
    def policy(self) -> PcrPolicy:
        """The PCR policy the binding key was made with, as the card is to learn it."""
        return PcrPolicy(
            tuple(self._binding.pcr_selection.indices),
            bytes(self._binding.pcr_digest),
            bool(self._binding.needs_auth_value),
        )

    def binding_public(self) -> bytes:
        return bytes(self._binding.blob.public_area.raw)

    def ak_public(self) -> bytes:
        return bytes(self._ak.public_area.raw)

    def ecdh_zgen(self, peer_point: bytes) -> bytes:
        peer = load_point(peer_point)
        return bytes(self._tpm.ecdh_zgen(self._binding, peer, self._auth))

    def ak_certificate(self) -> bytes:
        return self._ak_certificate

    def certify_binding(self, qualifying_data: bytes) -> tuple[bytes, bytes]:
        certification = self._tpm.certify(self._binding, self._ak, qualifying_data, self._auth)
        return bytes(certification.attest), bytes(certification.signature_der)

    def quote(self, nonce: bytes, pcr_indices: Sequence[int]) -> tuple[bytes, bytes, list[bytes]]:
        quote = self._tpm.quote(self._ak, pcr_indices, nonce)
        values = [bytes(quote.pcr_values[i]) for i in sorted(set(pcr_indices))]
        return bytes(quote.attest), bytes(quote.signature_der), values
