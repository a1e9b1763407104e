"""PIN and PUK commands: VERIFY (status), CHANGE REFERENCE DATA, RESET RETRY COUNTER, each
carrying a PIN cryptogram (docs/binding.md "PIN cryptogram"): pure functions over send_apdu."""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from cryptography.hazmat.primitives.asymmetric import ec

from tpmcard import constants as C
from tpmcard import tlv
from tpmcard.apdu import SendApdu
from tpmcard.channel.handshake import parse_point
from tpmcard.channel.kdf import (
    derive_pin_keys,
    pin_shared_info,
    wipe,
)
from tpmcard.channel.securemessaging import (
    aes_cmac,
    cbc_encrypt,
    pad,
)
from tpmcard.ecpoint import point_bytes
from tpmcard.errors import (
    ApduError,
    ChannelError,
    DefaultPinError,
    InvalidPinError,
    PinBlockedError,
    ProtocolError,
)


def get_challenge(send_apdu: SendApdu) -> bytes:
    """GET CHALLENGE: a fresh card nonce, valid for the next command only."""
    challenge = send_apdu(C.CLA_ISO, C.INS_GET_CHALLENGE, 0, 0, b"", C.CHALLENGE_LENGTH)
    if len(challenge) != C.CHALLENGE_LENGTH:
        raise ProtocolError("GET CHALLENGE answered a nonce of the wrong length")
    return challenge


def check_secret(value: str, minimum: int, what: str) -> bytes:
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


def pin_command(
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
    card_key = parse_point(card_identity, "the card identity key")
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
    old = check_secret(old_pin, 1, "current PIN")
    new = check_secret(new_pin, C.PIN_MIN_LENGTH, "new PIN")
    pin_command(
        send_apdu, card_identity, C.INS_CHANGE_REFERENCE_DATA, 0, C.P2_PIN, b"", [old, new], False
    )


def change_puk(send_apdu: SendApdu, card_identity: bytes, old_puk: str, new_puk: str) -> None:
    old = check_secret(old_puk, 1, "current PUK")
    new = check_secret(new_puk, C.PUK_MIN_LENGTH, "new PUK")
    pin_command(
        send_apdu, card_identity, C.INS_CHANGE_REFERENCE_DATA, 0, C.P2_PUK, b"", [old, new], True
    )


def unblock_pin(send_apdu: SendApdu, card_identity: bytes, puk: str, new_pin: str) -> None:
    """RESET RETRY COUNTER: the PUK sets a new PIN and clears the PIN's lockout."""
    old = check_secret(puk, 1, "PUK")
    new = check_secret(new_pin, C.PIN_MIN_LENGTH, "new PIN")
    pin_command(
        send_apdu, card_identity, C.INS_RESET_RETRY_COUNTER, 0, C.P2_PIN, b"", [old, new], True
    )
