"""Pairing, PIN management and session opening of the TPM-card binding (docs/binding.md).

Every function takes a ``send_apdu(cla, ins, p1, p2, data, le) -> bytes`` callable that raises
:class:`~tpmcard.errors.ApduError` on a status word other than 9000, and, where the TPM takes
part, an object with the :class:`BindingTpm` operations. Neither is imported here, so the whole
protocol runs in unit tests against a software card model and a software TPM.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from tpmcard import constants as C
from tpmcard import tlv
from tpmcard.apdu import CheckedProcessor
from tpmcard.channel.kdf import (
    derive_pairing_secret,
    derive_session_keys,
    wipe,
)
from tpmcard.channel.securemessaging import (
    SecureMessaging,
    SecureMessagingProcessor,
    aes_cmac,
)
from tpmcard.ecpoint import load_point, point_bytes
from tpmcard.errors import (
    ApduError,
    ChannelError,
    PcrPolicyError,
    ProtocolError,
    TpmError,
)
from tpmcard.tpm_structures import (
    EMPTY_POLICY,
    ClockInfo,
    PcrSelection,
    attest_clock_info,
    policy_auth_value,
    policy_pcr,
    selection_bitmap,
)

LABEL_TRANSCRIPT = b"tpmcard handshake v1"
# Key-confirmation message types (docs/binding.md "Key confirmation").
KC_CARD_HELLO = 0x01
KC_HOST = 0x02
KC_CARD_FINAL = 0x03
#: PCRs every session quote covers besides the policy PCRs: the boot chain (TCG PC Client PFP
#: §3.3.4: 0-7 firmware and boot loader, 8 the OS loader on common Linux loaders).
SESSION_PCRS = tuple(range(C.SESSION_PCR_COUNT))
#: PCRs that software can reset from locality 0 (TCG PC Client Platform Firmware Profile §3.3.4:
#: 16 debug, 23 application support): a policy over them binds nothing, so PAIR refuses them.
#: 17-22 are reset only by a dynamic launch from localities 2-4.
RESETTABLE_PCRS = (16, 23)


def check_pairing_pcrs(pcrs: Sequence[int]) -> None:
    """Refuse a pairing policy over a resettable PCR (the card refuses it as well, 6A80)."""
    bad = sorted(set(pcrs) & set(RESETTABLE_PCRS))
    if bad:
        raise PcrPolicyError(
            f"PCR {', '.join(map(str, bad))} can be reset by any program on the host (TCG PC "
            "Client: resettable from locality 0), so a pairing bound to it binds nothing; "
            "choose PCRs from 0-15 (default 0-7)"
        )


class BindingTpm(Protocol):
    """What the handshake needs from the host TPM (implemented in tpmcard.tpm).

    Points are uncompressed P-256 (04 || X || Y, 65 bytes); signatures are X9.62 DER.
    """

    def binding_public(self) -> bytes:
        """The marshalled TPMT_PUBLIC of the binding key (fixedTPM, fixedParent, PolicyPCR)."""
        ...

    def ak_public(self) -> bytes:
        """The marshalled TPMT_PUBLIC of the attestation key (restricted signing, ECDSA-SHA256)."""
        ...

    def ecdh_zgen(self, peer_point: bytes) -> bytes:
        """TPM2_ECDH_ZGen with the binding key under its PCR policy: the 32-byte x of d*P."""
        ...

    def certify_binding(self, qualifying_data: bytes) -> tuple[bytes, bytes]:
        """TPM2_Certify of the binding key by the AK: (TPMS_ATTEST, DER signature)."""
        ...

    def ak_certificate(self) -> bytes:
        """The AK's certificate from the attestation CA (D1 TLV || D2 TLV,
        tpmcard.services.attestation)."""
        ...

    def quote(self, nonce: bytes, pcr_indices: Sequence[int]) -> tuple[bytes, bytes, list[bytes]]:
        """TPM2_Quote by the AK of the SHA-256 bank over ``pcr_indices`` (sizeofSelect 3):
        (TPMS_ATTEST, DER signature, the PCR values in ascending index order)."""
        ...


@dataclass(frozen=True)
class PcrPolicy:
    """The binding key's authPolicy: TPM2_PolicyPCR over ``pcrs`` (SHA-256 bank) with
    ``pcr_digest`` = SHA-256 of their values in ascending order, then TPM2_PolicyAuthValue
    if ``with_auth_value``."""

    pcrs: tuple[int, ...]
    pcr_digest: bytes
    with_auth_value: bool = False

    def __post_init__(self) -> None:
        selection = PcrSelection.of(self.pcrs)  # validates 0..23, non-empty
        object.__setattr__(self, "pcrs", selection.indices)
        if len(self.pcr_digest) != C.DIGEST_LENGTH:
            raise ValueError("the PCR digest of a SHA-256 policy is 32 bytes")

    @classmethod
    def from_values(
        cls, pcr_values: Mapping[int, bytes], pcrs: Sequence[int], with_auth_value: bool = False
    ) -> PcrPolicy:
        chosen = sorted(set(pcrs))
        digest = hashlib.sha256(b"".join(pcr_values[i] for i in chosen)).digest()
        return cls(tuple(chosen), digest, with_auth_value)

    @property
    def selection(self) -> bytes:
        """The three-byte pcrSelect bitmap (PCR i is bit i % 8 of byte i // 8)."""
        return selection_bitmap(self.pcrs)

    @property
    def options(self) -> int:
        return C.POLICY_OPTION_AUTH_VALUE if self.with_auth_value else 0

    def digest(self) -> bytes:
        """TPM 2.0 Part 3 §23.7 (and §23.17): the authPolicy the binding key must carry."""
        digest = policy_pcr(EMPTY_POLICY, PcrSelection.of(self.pcrs), self.pcr_digest)
        return policy_auth_value(digest) if self.with_auth_value else digest


@dataclass(frozen=True)
class Pairing:
    """What the host keeps about one pairing: no secret, all of it also on the card."""

    slot: int
    card_identity: bytes  # the card identity point, pinned at pairing
    binding_name: bytes  # TPM Name of the binding key
    policy: PcrPolicy

    def to_dict(self) -> dict[str, object]:
        return {
            "slot": self.slot,
            "card_identity": self.card_identity.hex(),
            "binding_name": self.binding_name.hex(),
            "policy_pcrs": list(self.policy.pcrs),
            "policy_pcr_digest": self.policy.pcr_digest.hex(),
            "policy_with_auth_value": self.policy.with_auth_value,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> Pairing:
        pcrs = d["policy_pcrs"]
        if not isinstance(pcrs, list):
            raise ValueError("policy_pcrs must be a list")
        return cls(
            slot=int(str(d["slot"])),
            card_identity=bytes.fromhex(str(d["card_identity"])),
            binding_name=bytes.fromhex(str(d["binding_name"])),
            policy=PcrPolicy(
                tuple(int(i) for i in pcrs),
                bytes.fromhex(str(d["policy_pcr_digest"])),
                bool(d["policy_with_auth_value"]),
            ),
        )


@dataclass(frozen=True)
class PairingSlot:
    """One used slot of the card's pairing table, as LIST PAIRINGS reports it."""

    slot: int
    binding_name: bytes
    policy: PcrPolicy


@dataclass(frozen=True)
class PairingTable:
    capacity: int
    slots: tuple[PairingSlot, ...]


def parse_point(point: bytes, what: str) -> ec.EllipticCurvePublicKey:
    try:
        return load_point(point)
    except ValueError as exc:
        raise ProtocolError(f"{what}: {exc}") from None


def tlv_fields(data: bytes, tags: Sequence[int], what: str) -> list[bytes]:
    """The values of exactly these TLVs in this order (the card is strict; so is the host)."""
    items = tlv.parse(data)
    if [item.tag for item in items] != list(tags):
        raise ProtocolError(f"malformed {what} from the card")
    return [item.value for item in items]


# --- PIN cryptograms (docs/binding.md "PIN cryptogram") ------------------------------------------


# --- pairing (docs/binding.md "PAIR") -------------------------------------------------------------


# --- sessions (docs/binding.md "Session handshake") -----------------------------------------------


def transcript_start(
    slot: int, card_identity: bytes, binding_name: bytes, host_point: bytes, card_point: bytes
) -> bytes:
    """th1 = SHA-256(label || slot || card identity || binding Name || eH || eC)."""
    return hashlib.sha256(
        LABEL_TRANSCRIPT + bytes((slot,)) + card_identity + binding_name + host_point + card_point
    ).digest()


def key_confirmation(key: bytes | bytearray, kind: int, transcript_hash: bytes) -> bytes:
    return aes_cmac(key, bytes((kind,)), transcript_hash)


def quote_pcrs(policy: PcrPolicy) -> tuple[int, ...]:
    """The PCRs of every session quote: 0..8 and the policy PCRs, ascending."""
    return tuple(sorted(set(SESSION_PCRS) | set(policy.pcrs)))


@dataclass
class SecureSession:
    """An open session: ``send_apdu`` protects every command. Close it (or use ``with``)."""

    send_apdu: SecureMessagingProcessor
    pairing: Pairing
    #: The host PCR values the card accepted and keeps for this session (0..8 and the policy PCRs).
    pcr_values: dict[int, bytes] = field(default_factory=dict)
    #: The TPMS_CLOCK_INFO of the handshake's quote, which the card verified with it and keeps
    #: for this session (its services read it, e.g. a closure's CLOCK).
    clock: ClockInfo | None = None

    def close(self, notify_card: bool = True) -> None:
        """End the session: tell the card (SESSION CLOSE) unless told not to, then forget the
        keys. Idempotent; a failure to reach the card is raised after the keys are gone."""
        if self.send_apdu.closed:
            return
        try:
            if notify_card:
                self.send_apdu(C.CLA_PROPRIETARY, C.INS_SESSION_CLOSE, 0, 0, b"", 0)
        finally:
            self.send_apdu.close()

    def __enter__(self) -> SecureSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(notify_card=exc_type is None)


def open_session(
    send_apdu: CheckedProcessor,
    tpm: BindingTpm,
    pairing: Pairing,
    *,
    ephemeral: ec.EllipticCurvePrivateKey | None = None,
) -> SecureSession:
    """SESSION INIT + SESSION AUTH: two command APDUs after SELECT (each may need chaining or
    extended length below). Raises ChannelError when the card refuses or fails to prove itself,
    and the TPM layer's errors when the TPM refuses (e.g. PCRs outside the binding policy)."""
    ephemeral = ephemeral or ec.generate_private_key(ec.SECP256R1())
    host_point = point_bytes(ephemeral)
    try:
        response = send_apdu(
            C.CLA_PROPRIETARY,
            C.INS_SESSION_INIT,
            pairing.slot,
            0,
            tlv.encode(C.TAG_HOST_EPHEMERAL, host_point),
            0,
        )
    except ApduError as exc:
        raise _session_refused(exc, pairing) from exc
    card_point, card_hello = tlv_fields(
        response, [C.TAG_CARD_EPHEMERAL, C.TAG_CARD_CRYPTOGRAM], "SESSION INIT answer"
    )
    card_ephemeral = parse_point(card_point, "the card's ephemeral key")

    th1 = transcript_start(
        pairing.slot, pairing.card_identity, pairing.binding_name, host_point, card_point
    )
    z_ee = bytearray(ephemeral.exchange(ec.ECDH(), card_ephemeral))
    z_es = bytearray(tpm.ecdh_zgen(card_point))
    z_ss = bytearray(tpm.ecdh_zgen(pairing.card_identity))
    secret = derive_pairing_secret(z_ss, pairing.card_identity, pairing.binding_name)
    keys = derive_session_keys(z_ee, z_es, secret, th1)
    wipe(z_ee, z_es, z_ss, secret)
    try:
        if not hmac.compare_digest(
            key_confirmation(keys.confirmation, KC_CARD_HELLO, th1), card_hello
        ):
            raise ChannelError(
                "the card failed key confirmation: it is not the paired card, the pairing is "
                "gone from it, or the TPM binding key differs; pair again"
            )
        th2 = hashlib.sha256(th1 + card_hello).digest()
        pcrs = quote_pcrs(pairing.policy)
        attest, signature, values = tpm.quote(th2, pcrs)
        if len(values) != len(pcrs) or any(len(v) != C.DIGEST_LENGTH for v in values):
            raise TpmError("the TPM quote returned PCR values that do not match the selection")
        by_index = dict(zip(pcrs, values, strict=True))
        policy_values = b"".join(by_index[i] for i in pairing.policy.pcrs)
        if hashlib.sha256(policy_values).digest() != pairing.policy.pcr_digest:
            raise ChannelError(
                f"this host's PCRs {list(pairing.policy.pcrs)} no longer hold the values "
                "paired with the card "
                "(firmware, boot loader or configuration changed?); the card would refuse"
            )
        prefix = (
            tlv.encode(C.TAG_ATTEST, attest)
            + tlv.encode(C.TAG_SIGNATURE, signature)
            + tlv.encode(C.TAG_PCR_VALUES, b"".join(values))
        )
        th3 = hashlib.sha256(th2 + prefix).digest()
        host_cryptogram = key_confirmation(keys.confirmation, KC_HOST, th3)
        try:
            response = send_apdu(
                C.CLA_PROPRIETARY,
                C.INS_SESSION_AUTH,
                0,
                0,
                prefix + tlv.encode(C.TAG_HOST_CRYPTOGRAM, host_cryptogram),
                0,
            )
        except ApduError as exc:
            raise _session_refused(exc, pairing) from exc
        (card_final,) = tlv_fields(response, [C.TAG_CARD_CRYPTOGRAM], "SESSION AUTH answer")
        if not hmac.compare_digest(
            key_confirmation(keys.confirmation, KC_CARD_FINAL, th3), card_final
        ):
            raise ChannelError("the card's final key confirmation does not verify; session dropped")
    except BaseException:
        keys.wipe()
        raise
    wipe(keys.confirmation)
    messaging = SecureMessaging(keys, card_final)
    return SecureSession(
        SecureMessagingProcessor(send_apdu, messaging), pairing, by_index, attest_clock_info(attest)
    )


def _session_refused(exc: ApduError, pairing: Pairing) -> Exception:
    if exc.sw == C.SW_SECURITY_STATUS_NOT_SATISFIED:
        return ChannelError(
            f"the card refused the session for slot {pairing.slot}: the slot is empty or holds "
            "another host, the quote or PCR values did not match the pairing, or a message was "
            "altered; check 'list pairings' and this host's PCRs"
        )
    return exc
