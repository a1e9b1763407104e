"""BER-TLV (ISO 7816-4 §5.2, ISO 8825-1) for the simple, definite-length forms cards use.

Tags of one to three bytes, lengths of one to three bytes (up to 65535). Every parse error is a
:class:`~tpmcard.errors.ProtocolError`: the bytes came from a card and may be truncated.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from tpmcard.errors import ProtocolError


@dataclass(frozen=True)
class Tlv:
    tag: int
    value: bytes

    def encode(self) -> bytes:
        return encode_tag(self.tag) + encode_length(len(self.value)) + self.value


def encode_tag(tag: int) -> bytes:
    if tag < 0:
        raise ValueError("negative tag")
    raw = tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")
    if len(raw) > 3:
        raise ValueError(f"tag {tag:X} longer than three bytes")
    return raw


def encode_length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    if n <= 0xFF:
        return bytes((0x81, n))
    if n <= 0xFFFF:
        return b"\x82" + n.to_bytes(2, "big")
    raise ValueError(f"length {n} too large")


def encode(tag: int, value: bytes) -> bytes:
    return Tlv(tag, bytes(value)).encode()


def _read_tag(data: bytes, offset: int) -> tuple[int, int]:
    if offset >= len(data):
        raise ProtocolError("TLV truncated: tag expected")
    first = data[offset]
    tag = first
    offset += 1
    if first & 0x1F == 0x1F:  # multi-byte tag: subsequent bytes while b8 is set
        for _ in range(2):
            if offset >= len(data):
                raise ProtocolError("TLV truncated inside a multi-byte tag")
            b = data[offset]
            tag = (tag << 8) | b
            offset += 1
            if not b & 0x80:
                break
        else:
            raise ProtocolError("TLV tag longer than three bytes")
    return tag, offset


def _read_length(data: bytes, offset: int) -> tuple[int, int]:
    if offset >= len(data):
        raise ProtocolError("TLV truncated: length expected")
    first = data[offset]
    offset += 1
    if first < 0x80:
        return first, offset
    count = first & 0x7F
    if count == 0 or count > 2:
        raise ProtocolError(f"unsupported TLV length form {first:02X}")
    if offset + count > len(data):
        raise ProtocolError("TLV truncated inside a length")
    return int.from_bytes(data[offset : offset + count], "big"), offset + count


def iter_tlv(data: bytes) -> Iterator[Tlv]:
    """Yield the TLVs of a concatenation; raise ProtocolError on any malformation."""
    offset = 0
    while offset < len(data):
        tag, offset = _read_tag(data, offset)
        length, offset = _read_length(data, offset)
        end = offset + length
        if end > len(data):
            raise ProtocolError(
                f"TLV {tag:X} claims {length} bytes but only {len(data) - offset} follow"
            )
        yield Tlv(tag, bytes(data[offset:end]))
        offset = end


def parse(data: bytes) -> list[Tlv]:
    return list(iter_tlv(data))


def parse_dict(data: bytes) -> dict[int, bytes]:
    """Parse into {tag: value}; a repeated tag is a protocol error."""
    out: dict[int, bytes] = {}
    for item in iter_tlv(data):
        if item.tag in out:
            raise ProtocolError(f"TLV tag {item.tag:X} repeated")
        out[item.tag] = item.value
    return out


def unwrap(data: bytes, tag: int) -> bytes:
    """The value of a single TLV of the given tag that must span all of ``data``."""
    items = parse(data)
    if len(items) != 1 or items[0].tag != tag:
        raise ProtocolError(f"expected one TLV with tag {tag:X}")
    return items[0].value
