"""Pairing (docs/binding.md "PAIR"): PAIR, the attestation CA key (PUT DATA), LIST PAIRINGS and
UNPAIR: pure functions over send_apdu and a :class:`~tpmcard.channel.handshake.BindingTpm`."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec

from tpmcard import constants as C
from tpmcard import tlv
from tpmcard.apdu import SendApdu
from tpmcard.channel.handshake import (
    BindingTpm,
    Pairing,
    PairingSlot,
    PairingTable,
    PcrPolicy,
    check_pairing_pcrs,
    parse_point,
    tlv_fields,
)
from tpmcard.channel.pin import check_secret, get_challenge, pin_command
from tpmcard.errors import (
    AkCertificateRefusedError,
    AlreadyPairedError,
    ApduError,
    CardNotPersonalisedError,
    ChannelError,
    PairingTableFullError,
    ProtocolError,
    TpmError,
    TpmFormatError,
)
from tpmcard.tpm_structures import (
    ATTR_DECRYPT,
    ATTR_FIXED_PARENT,
    ATTR_FIXED_TPM,
    ATTR_RESTRICTED,
    ATTR_SENSITIVE_DATA_ORIGIN,
    ATTR_SIGN_ENCRYPT,
    ATTR_USER_WITH_AUTH,
    PublicArea,
    bitmap_indices,
)


def _checked_binding_public(raw: bytes, policy: PcrPolicy) -> PublicArea:
    """The host-side mirror of the card's checks, for an error message that says what is wrong."""
    try:
        area = PublicArea.parse(raw)
        area.public_key()
    except TpmFormatError as exc:
        raise TpmError(f"the TPM's binding key is unusable: {exc}") from exc
    required = ATTR_FIXED_TPM | ATTR_FIXED_PARENT | ATTR_SENSITIVE_DATA_ORIGIN | ATTR_DECRYPT
    forbidden = ATTR_USER_WITH_AUTH | ATTR_RESTRICTED | ATTR_SIGN_ENCRYPT
    if not area.is_sha256_ecc_key(0):
        raise TpmError("the binding key must be a P-256 key with SHA-256 names")
    if not area.is_sha256_ecc_key(required, forbidden):
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
    pin_raw = check_secret(pin, 1, "PIN")
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
        prefix = pin_command(
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
            raise PairingTableFullError(
                "the card's pairing table is full; unpair a host first"
            ) from exc
        if exc.sw == C.SW_PAIRING_EXISTS:
            raise AlreadyPairedError(
                "this TPM binding key is already paired with the card"
            ) from exc
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
    (slot,) = tlv_fields(prefix, [C.TAG_SLOT], "PAIR answer")
    if len(slot) != 1 or slot[0] >= C.PAIRING_SLOTS:
        raise ProtocolError("the card answered an invalid pairing slot")
    return Pairing(slot[0], bytes(card_identity), area.name, policy)


def install_ca_key(
    send_apdu: SendApdu, card_identity: bytes, ca_point: bytes, secret: str, *, use_puk: bool
) -> None:
    """PUT DATA: install the attestation CA key (personalisation). With the PIN only on a card
    that has none yet; with the PUK also to replace one (docs/binding.md "PUT DATA")."""
    parse_point(ca_point, "the attestation CA key")
    raw = check_secret(secret, 1, "PUK" if use_puk else "PIN")
    reference = C.P2_PUK if use_puk else C.P2_PIN
    try:
        pin_command(
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
        slot, name, selection, digest, options = tlv_fields(
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
    pin_raw = check_secret(pin, 1, "PIN")
    try:
        pin_command(send_apdu, card_identity, C.INS_UNPAIR, slot, 0, b"", [pin_raw], False)
    except ApduError as exc:
        if exc.sw == C.SW_REFERENCED_DATA_NOT_FOUND:
            raise ChannelError(f"slot {slot} of the card holds no pairing") from exc
        raise
