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
from tpmcard.apdu import CheckedProcessor, SendApdu
from tpmcard.channel.kdf import (
    derive_pairing_secret,
    derive_pin_keys,
    derive_session_keys,
    pin_shared_info,
    wipe,
)
from tpmcard.channel.securemessaging import (
    SecureMessaging,
    SecureMessagingProcessor,
    aes_cmac,
    cbc_encrypt,
    pad,
)
from tpmcard.ecpoint import load_point, point_bytes
from tpmcard.errors import (
    AkCertificateRefusedError,
    ApduError,
    CardNotPersonalisedError,
    ChannelError,
    DefaultPinError,
    InvalidPinError,
    PcrPolicyError,
    PinBlockedError,
    ProtocolError,
    TpmError,
    TpmFormatError,
)
from tpmcard.tpm_structures import (
    ALG_ECC,
    ALG_SHA256,
    ATTR_DECRYPT,
    ATTR_FIXED_PARENT,
    ATTR_FIXED_TPM,
    ATTR_RESTRICTED,
    ATTR_SENSITIVE_DATA_ORIGIN,
    ATTR_SIGN_ENCRYPT,
    ATTR_USER_WITH_AUTH,
    EMPTY_POLICY,
    PcrSelection,
    PublicArea,
    bitmap_indices,
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


def _load_point(point: bytes, what: str) -> ec.EllipticCurvePublicKey:
    try:
        return load_point(point)
    except ValueError as exc:
        raise ProtocolError(f"{what}: {exc}") from None


def _fields(data: bytes, tags: Sequence[int], what: str) -> list[bytes]:
    """The values of exactly these TLVs in this order (the card is strict; so is the host)."""
    items = tlv.parse(data)
    if [item.tag for item in items] != list(tags):
        raise ProtocolError(f"malformed {what} from the card")
    return [item.value for item in items]


# --- PIN cryptograms (docs/binding.md "PIN cryptogram") ------------------------------------------


def get_challenge(send_apdu: SendApdu) -> bytes:
    """GET CHALLENGE: a fresh card nonce, valid for the next command only."""
    challenge = send_apdu(C.CLA_ISO, C.INS_GET_CHALLENGE, 0, 0, b"", C.CHALLENGE_LENGTH)
    if len(challenge) != C.CHALLENGE_LENGTH:
        raise ProtocolError("GET CHALLENGE answered a nonce of the wrong length")
    return challenge


def _check_secret(value: str, minimum: int, what: str) -> bytes:
    raw = value.encode("utf-8")
    if not minimum <= len(raw) <= C.PIN_MAX_LENGTH:
        raise ValueError(f"the {what} must be {minimum} to {C.PIN_MAX_LENGTH} bytes long")
    return raw


def _pin_block(*secrets: bytes) -> bytearray:
    block = bytearray()
    for secret in secrets:
        block += bytes((len(secret),)) + secret
    padded = bytearray(pad(bytes(block)))
    wipe(block)
    return padded


def _pin_command(
    send_apdu: SendApdu,
    card_identity: bytes,
    ins: int,
    p1: int,
    p2: int,
    context: bytes,
    secrets: Sequence[bytes],
    is_puk: bool,
    ephemeral: ec.EllipticCurvePrivateKey | None = None,
    challenge: bytes | None = None,
) -> bytes:
    """Send one PIN-authorised command; return the response data before the receipt."""
    card_key = _load_point(card_identity, "the card identity key")
    if challenge is None:
        challenge = get_challenge(send_apdu)
    ephemeral = ephemeral or ec.generate_private_key(ec.SECP256R1())
    ephemeral_point = point_bytes(ephemeral)
    z = bytearray(ephemeral.exchange(ec.ECDH(), card_key))
    keys = derive_pin_keys(
        z, pin_shared_info(challenge, ins, p1, p2, ephemeral_point, card_identity, context)
    )
    wipe(z)
    block = _pin_block(*secrets)
    try:
        ciphertext = cbc_encrypt(keys.enc, bytes(16), bytes(block))
        cryptogram = ciphertext + aes_cmac(keys.mac, ciphertext)
        data = (
            context
            + tlv.encode(C.TAG_HOST_EPHEMERAL, ephemeral_point)
            + tlv.encode(C.TAG_PIN_CRYPTOGRAM, cryptogram)
        )
        try:
            response = send_apdu(C.CLA_PROPRIETARY, ins, p1, p2, data, 0)
        except ApduError as exc:
            raise _pin_error(exc, is_puk) from exc
        items = tlv.parse(response)
        if not items or items[-1].tag != C.TAG_CARD_CRYPTOGRAM:
            raise ProtocolError("the card's answer lacks its receipt")
        prefix = response[: len(response) - len(items[-1].encode())]
        if not hmac.compare_digest(aes_cmac(keys.receipt, prefix), items[-1].value):
            raise ChannelError(
                "the card's receipt does not verify: this is not the card whose identity key was "
                "given, or the answer was altered on the way"
            )
        return prefix
    finally:
        wipe(block)
        keys.wipe()


def _pin_error(exc: ApduError, is_puk: bool) -> Exception:
    if exc.sw & 0xFFF0 == C.SW_VERIFY_FAILED:
        remaining = exc.sw & 0x0F
        if is_puk:
            return InvalidPinError(
                remaining,
                f"wrong PUK: {remaining} tries left"
                if remaining
                else "wrong PUK: the PUK is now blocked; the card cannot be unblocked",
            )
        return InvalidPinError(remaining)
    if exc.sw == C.SW_AUTHENTICATION_METHOD_BLOCKED:
        if is_puk:
            return PinBlockedError("the PUK is blocked; the card's PIN cannot be reset any more")
        return PinBlockedError()
    if exc.sw == C.SW_PIN_CHANGE_REQUIRED:
        return DefaultPinError()
    if exc.sw == C.SW_SECURITY_STATUS_NOT_SATISFIED:
        return ChannelError(
            "the card refused the encrypted PIN (wrong card identity key, a stale challenge, or "
            "the command was altered on the way); try again"
        )
    return exc


def pin_status(send_apdu: SendApdu, reference: int = C.P2_PIN) -> int:
    """Tries left for the PIN (P2_PIN) or the PUK (P2_PUK); 0 when blocked."""
    try:
        send_apdu(C.CLA_ISO, C.INS_VERIFY, 0, reference, b"", None)
    except ApduError as exc:
        if exc.sw & 0xFFF0 == C.SW_VERIFY_FAILED:
            return exc.sw & 0x0F
        if exc.sw == C.SW_AUTHENTICATION_METHOD_BLOCKED:
            return 0
        raise
    raise ProtocolError("VERIFY without data must answer 63Cx or 6983")


def change_pin(send_apdu: SendApdu, card_identity: bytes, old_pin: str, new_pin: str) -> None:
    old = _check_secret(old_pin, 1, "current PIN")
    new = _check_secret(new_pin, C.PIN_MIN_LENGTH, "new PIN")
    _pin_command(
        send_apdu, card_identity, C.INS_CHANGE_REFERENCE_DATA, 0, C.P2_PIN, b"", [old, new], False
    )


def change_puk(send_apdu: SendApdu, card_identity: bytes, old_puk: str, new_puk: str) -> None:
    old = _check_secret(old_puk, 1, "current PUK")
    new = _check_secret(new_puk, C.PUK_MIN_LENGTH, "new PUK")
    _pin_command(
        send_apdu, card_identity, C.INS_CHANGE_REFERENCE_DATA, 0, C.P2_PUK, b"", [old, new], True
    )


def unblock_pin(send_apdu: SendApdu, card_identity: bytes, puk: str, new_pin: str) -> None:
    """RESET RETRY COUNTER: the PUK sets a new PIN and clears the PIN's lockout."""
    old = _check_secret(puk, 1, "PUK")
    new = _check_secret(new_pin, C.PIN_MIN_LENGTH, "new PIN")
    _pin_command(
        send_apdu, card_identity, C.INS_RESET_RETRY_COUNTER, 0, C.P2_PIN, b"", [old, new], True
    )


# --- pairing (docs/binding.md "PAIR") -------------------------------------------------------------


def _checked_binding_public(raw: bytes, policy: PcrPolicy) -> PublicArea:
    """The host-side mirror of the card's checks, for an error message that says what is wrong."""
    try:
        area = PublicArea.parse(raw)
        area.public_key()
    except TpmFormatError as exc:
        raise TpmError(f"the TPM's binding key is unusable: {exc}") from exc
    required = ATTR_FIXED_TPM | ATTR_FIXED_PARENT | ATTR_SENSITIVE_DATA_ORIGIN | ATTR_DECRYPT
    forbidden = ATTR_USER_WITH_AUTH | ATTR_RESTRICTED | ATTR_SIGN_ENCRYPT
    if area.type != ALG_ECC or area.name_alg != ALG_SHA256:
        raise TpmError("the binding key must be a P-256 key with SHA-256 names")
    if area.attributes & required != required or area.attributes & forbidden:
        raise TpmError(
            "the binding key must be fixedTPM, fixedParent, sensitiveDataOrigin and decrypt, "
            "and neither userWithAuth (the policy must be the only way to use it), restricted "
            "nor sign; create it again"
        )
    if area.auth_policy != policy.digest():
        raise TpmError(
            "the binding key's authPolicy is not the PolicyPCR digest of the given PCR policy: "
            "the key was made for other PCRs or values"
        )
    return area


def pair(
    send_apdu: SendApdu,
    tpm: BindingTpm,
    card_identity: bytes,
    pin: str,
    policy: PcrPolicy,
    *,
    ephemeral: ec.EllipticCurvePrivateKey | None = None,
) -> Pairing:
    """PAIR: enrol this host's TPM binding key, AK and PCR policy in the card, authorised by
    the card owner's PIN. ``card_identity`` is the card's identity point (GET DATA 7F49); the
    card's receipt proves it holds the matching private key, so the returned Pairing pins it.
    """
    pin_raw = _check_secret(pin, 1, "PIN")
    check_pairing_pcrs(policy.pcrs)
    binding_public = tpm.binding_public()
    area = _checked_binding_public(binding_public, policy)
    ak_public = tpm.ak_public()
    ak_certificate = tpm.ak_certificate()
    challenge = get_challenge(send_apdu)
    attest, signature = tpm.certify_binding(challenge)
    context = (
        tlv.encode(C.TAG_BINDING_PUBLIC, binding_public)
        + tlv.encode(C.TAG_AK_PUBLIC, ak_public)
        + tlv.encode(C.TAG_PCR_SELECTION, policy.selection)
        + tlv.encode(C.TAG_POLICY_PCR_DIGEST, policy.pcr_digest)
        + tlv.encode(C.TAG_POLICY_OPTIONS, bytes((policy.options,)))
        + tlv.encode(C.TAG_ATTEST, attest)
        + tlv.encode(C.TAG_SIGNATURE, signature)
        + ak_certificate
    )
    try:
        prefix = _pin_command(
            send_apdu,
            card_identity,
            C.INS_PAIR,
            0,
            0,
            context,
            [pin_raw],
            False,
            ephemeral=ephemeral,
            challenge=challenge,
        )
    except ApduError as exc:
        if exc.sw == C.SW_NOT_ENOUGH_MEMORY:
            raise ChannelError("the card's pairing table is full; unpair a host first") from exc
        if exc.sw == C.SW_PAIRING_EXISTS:
            raise ChannelError("this TPM binding key is already paired with the card") from exc
        if exc.sw == C.SW_CA_KEY_MISSING:
            raise CardNotPersonalisedError(
                "the card has no attestation CA key, so it pairs with no host yet: personalise "
                "it with `tpmcard ca install` (installs the key of `tpmcard ca init`)"
            ) from exc
        if exc.sw == C.SW_AK_CERTIFICATE_REFUSED:
            raise AkCertificateRefusedError(
                "the card refused this host's AK certificate: it was not issued by the "
                "attestation CA installed on the card, or not for this AK; enrol the TPM with "
                "that CA (`tpmcard ca enroll --force`), or install this CA's key on the card "
                "(`tpmcard ca install --replace`, with the PUK)"
            ) from exc
        raise
    (slot,) = _fields(prefix, [C.TAG_SLOT], "PAIR answer")
    if len(slot) != 1 or slot[0] >= C.PAIRING_SLOTS:
        raise ProtocolError("the card answered an invalid pairing slot")
    return Pairing(slot[0], bytes(card_identity), area.name, policy)


def install_ca_key(
    send_apdu: SendApdu, card_identity: bytes, ca_point: bytes, secret: str, *, use_puk: bool
) -> None:
    """PUT DATA: install the attestation CA key (personalisation). With the PIN only on a card
    that has none yet; with the PUK also to replace one (docs/binding.md "PUT DATA")."""
    _load_point(ca_point, "the attestation CA key")
    raw = _check_secret(secret, 1, "PUK" if use_puk else "PIN")
    reference = C.P2_PUK if use_puk else C.P2_PIN
    try:
        _pin_command(
            send_apdu,
            card_identity,
            C.INS_PUT_DATA,
            0,
            reference,
            tlv.encode(C.TAG_CA_KEY, ca_point),
            [raw],
            use_puk,
        )
    except ApduError as exc:
        if exc.sw == C.SW_CA_KEY_PRESENT:
            raise ChannelError(
                "the card already holds an attestation CA key; only the PUK replaces it "
                "(`tpmcard ca install --replace`)"
            ) from exc
        raise


def list_pairings(send_apdu: SendApdu) -> PairingTable:
    response = send_apdu(C.CLA_PROPRIETARY, C.INS_LIST_PAIRINGS, 0, 0, b"", 0)
    items = tlv.parse(response)
    if not items or items[0].tag != C.TAG_SLOT_COUNT or len(items[0].value) != 1:
        raise ProtocolError("malformed LIST PAIRINGS answer")
    slots = []
    for item in items[1:]:
        if item.tag != C.TAG_PAIRING_ENTRY:
            raise ProtocolError("malformed LIST PAIRINGS answer")
        slot, name, selection, digest, options = _fields(
            item.value,
            [
                C.TAG_SLOT,
                C.TAG_BINDING_NAME,
                C.TAG_PCR_SELECTION,
                C.TAG_POLICY_PCR_DIGEST,
                C.TAG_POLICY_OPTIONS,
            ],
            "pairing entry",
        )
        if len(slot) != 1 or len(selection) != 3 or len(options) != 1:
            raise ProtocolError("malformed pairing entry")
        try:
            policy = PcrPolicy(
                bitmap_indices(selection), digest, bool(options[0] & C.POLICY_OPTION_AUTH_VALUE)
            )
        except ValueError as exc:
            raise ProtocolError(f"malformed pairing entry: {exc}") from None
        slots.append(PairingSlot(slot[0], name, policy))
    return PairingTable(items[0].value[0], tuple(slots))


def unpair(send_apdu: SendApdu, card_identity: bytes, pin: str, slot: int) -> None:
    """UNPAIR: erase one slot of the card's pairing table, authorised by the PIN."""
    if not 0 <= slot < C.PAIRING_SLOTS:
        raise ValueError(f"slot must be 0..{C.PAIRING_SLOTS - 1}")
    pin_raw = _check_secret(pin, 1, "PIN")
    try:
        _pin_command(send_apdu, card_identity, C.INS_UNPAIR, slot, 0, b"", [pin_raw], False)
    except ApduError as exc:
        if exc.sw == C.SW_REFERENCED_DATA_NOT_FOUND:
            raise ChannelError(f"slot {slot} of the card holds no pairing") from exc
        raise


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
    card_point, card_hello = _fields(
        response, [C.TAG_CARD_EPHEMERAL, C.TAG_CARD_CRYPTOGRAM], "SESSION INIT answer"
    )
    card_ephemeral = _load_point(card_point, "the card's ephemeral key")

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
        (card_final,) = _fields(response, [C.TAG_CARD_CRYPTOGRAM], "SESSION AUTH answer")
        if not hmac.compare_digest(
            key_confirmation(keys.confirmation, KC_CARD_FINAL, th3), card_final
        ):
            raise ChannelError("the card's final key confirmation does not verify; session dropped")
    except BaseException:
        keys.wipe()
        raise
    wipe(keys.confirmation)
    messaging = SecureMessaging(keys, card_final)
    return SecureSession(SecureMessagingProcessor(send_apdu, messaging), pairing, by_index)


def _session_refused(exc: ApduError, pairing: Pairing) -> Exception:
    if exc.sw == C.SW_SECURITY_STATUS_NOT_SATISFIED:
        return ChannelError(
            f"the card refused the session for slot {pairing.slot}: the slot is empty or holds "
            "another host, the quote or PCR values did not match the pairing, or a message was "
            "altered; check 'list pairings' and this host's PCRs"
        )
    return exc
