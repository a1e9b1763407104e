"""The core applet: card identity, info, and ECHO (transport tests and benchmarks).

A service module: it speaks to the card only through a ``send_apdu`` callable (see
:mod:`tpmcard.apdu`), so the same code runs over the simulator, PC/SC, or a secure channel.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from tpmcard import constants as C
from tpmcard import manifest, tlv
from tpmcard.apdu import SendApdu
from tpmcard.ecpoint import load_point, point_bytes
from tpmcard.errors import ProtocolError


@dataclass(frozen=True)
class CardInfo:
    """What the core applet reports on SELECT."""

    card_id: bytes
    version: tuple[int, int]
    features: int
    max_command: int
    max_response: int
    #: INVOKE data plus answer, in bytes (tag 85): both share the card's APDU buffer.
    service_window: int

    @property
    def extended_length(self) -> bool:
        return bool(self.features & C.FEATURE_EXTENDED_LENGTH)

    @property
    def command_chaining(self) -> bool:
        return bool(self.features & C.FEATURE_COMMAND_CHAINING)

    @property
    def response_chaining(self) -> bool:
        return bool(self.features & C.FEATURE_RESPONSE_CHAINING)

    def feature_names(self) -> list[str]:
        names = []
        if self.extended_length:
            names.append("extended-length")
        if self.command_chaining:
            names.append("command-chaining")
        if self.response_chaining:
            names.append("response-chaining")
        return names

    def as_dict(self) -> dict[str, object]:
        return {
            "card_id": self.card_id.hex(),
            "version": f"{self.version[0]}.{self.version[1]}",
            "features": self.feature_names(),
            "max_command": self.max_command,
            "max_response": self.max_response,
            "service_window": self.service_window,
        }


def parse_info(data: bytes) -> CardInfo:
    """Parse the SELECT response of the core applet (docs/core-applet.md)."""
    fields = tlv.parse_dict(tlv.unwrap(data, C.TAG_INFO_TEMPLATE))

    def field(tag: int, length: int) -> bytes:
        value = fields.get(tag)
        if value is None or len(value) != length:
            raise ProtocolError(f"card info: tag {tag:02X} missing or not {length} bytes")
        return value

    card_id = field(C.TAG_CARD_ID, C.CARD_ID_LENGTH)
    version = field(C.TAG_APPLET_VERSION, 2)
    return CardInfo(
        card_id=card_id,
        version=(version[0], version[1]),
        features=int.from_bytes(field(C.TAG_FEATURES, 2), "big"),
        max_command=int.from_bytes(field(C.TAG_MAX_COMMAND, 2), "big"),
        max_response=int.from_bytes(field(C.TAG_MAX_RESPONSE, 2), "big"),
        service_window=int.from_bytes(field(C.TAG_SERVICE_WINDOW, 2), "big"),
    )


def parse_public_key(data: bytes) -> ec.EllipticCurvePublicKey:
    """Parse a 7F49 { 86 <uncompressed P-256 point> } public key data object."""
    inner = tlv.parse_dict(tlv.unwrap(data, C.TAG_PUBLIC_KEY))
    point = inner.get(C.TAG_EC_POINT)
    if point is None:
        raise ProtocolError("identity key: expected an uncompressed P-256 point in tag 86")
    try:
        return load_point(point)
    except ValueError as exc:
        raise ProtocolError(f"identity key: {exc}") from exc


class Invoker(Protocol):
    """What a secured session offers the suite's services (:func:`tpmcard.connect`): INVOKE of
    the service at ``aid`` (docs/core-applet.md), and ``service_window``, the bytes of data plus
    answer one INVOKE carries. Every INVOKE service session takes one as its first argument."""

    def invoke(self, aid: bytes, ins: int, p1: int, p2: int, data: bytes = b"") -> bytes: ...

    @property
    def service_window(self) -> int: ...


class CoreSession:
    """The core applet over any ``send_apdu``."""

    def __init__(self, send_apdu: SendApdu) -> None:
        self._send = send_apdu
        self.info: CardInfo | None = None

    @staticmethod
    def aid() -> bytes:
        return manifest.load().applet("core").aid

    def select(self) -> CardInfo:
        """SELECT the core applet (ISO 7816-4 §11.2.2) and parse its info TLV."""
        data = self._send(C.CLA_ISO, C.INS_SELECT, 0x04, 0x00, self.aid())
        self.info = parse_info(data)
        return self.info

    def identity_key(self) -> ec.EllipticCurvePublicKey:
        """GET DATA 7F49: the card identity public key, and check it against the card id."""
        data = self._send(
            C.CLA_ISO, C.INS_GET_DATA, C.DO_IDENTITY_KEY >> 8, C.DO_IDENTITY_KEY & 0xFF
        )
        key = parse_public_key(data)
        if self.info is not None:
            expected = hashlib.sha256(point_bytes(key)).digest()[: C.CARD_ID_LENGTH]
            if expected != self.info.card_id:
                raise ProtocolError("the card id does not match the card identity key")
        return key

    def echo(self, data: bytes) -> bytes:
        """ECHO: the card returns ``data``; used by transport tests and benchmarks."""
        return self._send(C.CLA_PROPRIETARY, C.INS_ECHO, 0x00, 0x00, data)
