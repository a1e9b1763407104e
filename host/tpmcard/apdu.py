"""The APDU layer: ISO 7816-4 command/response codec, status words, chaining.

Layering (each imports only the ones below it; docs/api.md, "Layers")::

    transport (Connection.transmit: bytes -> bytes)
      -> apdu (this module: encode, 61xx/6Cxx, command chaining; SW names in tpmcard.sw)
        -> channel (secure messaging, a processor with the same send_apdu signature), tpm
          -> services (core, mtpm, ...) -> cli

:func:`check_status` is the only place that turns a non-9000 status word into an exception.
"""

from __future__ import annotations

import abc
import logging
from dataclasses import dataclass
from typing import Protocol

from tpmcard.constants import CLA_CHAINING_BIT as CLA_CHAINING
from tpmcard.constants import INS_GET_RESPONSE
from tpmcard.errors import ApduError, ProtocolError
from tpmcard.sw import SW, describe_sw, sw_family
from tpmcard.transport.base import Connection

log = logging.getLogger(__name__)

#: Largest data field of a short APDU (ISO 7816-4 §5.1: Lc is one byte, 1..255).
SHORT_MAX_DATA = 255
#: Largest data field this layer puts in a short APDU that also carries Le (case 4S). One less
#: than the ISO maximum: a 255-byte case 4S command is 261 bytes, and cards with a 260-byte APDU
#: buffer (jCardSim among them) answer it with 6F00 before the applet sees it.
SHORT_CASE4_MAX_DATA = 254
#: Largest Ne of a short APDU (Le = 00 means 256).
SHORT_MAX_LE = 256
#: Largest data field of an extended APDU (Lc is three bytes, 1..65535).
EXTENDED_MAX_DATA = 65535
#: Largest Ne of an extended APDU (Le = 0000 means 65536).
EXTENDED_MAX_LE = 65536

#: ``le`` value meaning "as many bytes as the card has" (encoded as 00 or 0000).
LE_MAX = 0


def check_status(sw: int, data: bytes = b"") -> None:
    """Raise :class:`ApduError` unless ``sw`` is 9000. The one place that does so."""
    if sw != SW.SUCCESS:
        raise ApduError(sw, data)


@dataclass(frozen=True)
class CommandApdu:
    """A command APDU (ISO 7816-4 §5.1). ``le`` None: no Le field; 0: as much as possible."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None

    def __post_init__(self) -> None:
        for name in ("cla", "ins", "p1", "p2"):
            value = getattr(self, name)
            if not 0 <= value <= 0xFF:
                raise ValueError(f"{name} must be one byte, got {value!r}")
        if len(self.data) > EXTENDED_MAX_DATA:
            raise ValueError(f"data field too long for any APDU: {len(self.data)} bytes")
        if self.le is not None and not 0 <= self.le <= EXTENDED_MAX_LE:
            raise ValueError(f"Le out of range: {self.le}")

    def needs_extended(self) -> bool:
        """Whether this command cannot be encoded as a short APDU."""
        return len(self.data) > SHORT_MAX_DATA or (self.le is not None and self.le > SHORT_MAX_LE)

    def encode(self, extended: bool | None = None) -> bytes:
        """Encode; ``extended`` None picks short whenever the fields fit."""
        if extended is None:
            extended = self.needs_extended()
        elif not extended and self.needs_extended():
            raise ValueError("command does not fit a short APDU")
        header = bytes((self.cla, self.ins, self.p1, self.p2))
        n = len(self.data)
        if not extended:
            body = bytes((n,)) + self.data if n else b""
            if self.le is not None:
                body += bytes((self.le & 0xFF,))  # 256 and 0 both encode as 00
            return header + body
        # Extended (ISO 7816-4 §5.1): Lc = 00 b1 b2; Le = b1 b2 after Lc, or 00 b1 b2 alone.
        if n:
            body = b"\x00" + n.to_bytes(2, "big") + self.data
            if self.le is not None:
                body += (self.le & 0xFFFF).to_bytes(2, "big")
        elif self.le is not None:
            body = b"\x00" + (self.le & 0xFFFF).to_bytes(2, "big")
        else:
            body = b""
        return header + body

    @classmethod
    def decode(cls, raw: bytes) -> CommandApdu:
        """Parse an encoded command APDU; raise ValueError if it is malformed."""
        if len(raw) < 4:
            raise ValueError("a command APDU has at least four bytes")
        cla, ins, p1, p2 = raw[:4]
        body = raw[4:]
        if not body:  # case 1
            return cls(cla, ins, p1, p2)
        if len(body) == 1:  # case 2S
            return cls(cla, ins, p1, p2, b"", body[0] or SHORT_MAX_LE)
        if body[0] != 0:  # case 3S / 4S
            n = body[0]
            if len(body) == 1 + n:
                return cls(cla, ins, p1, p2, bytes(body[1:]))
            if len(body) == 2 + n:
                return cls(cla, ins, p1, p2, bytes(body[1 : 1 + n]), body[-1] or SHORT_MAX_LE)
            raise ValueError(f"Lc={n} does not match the {len(body) - 1} bytes that follow")
        # Extended forms start with 00.
        if len(body) == 3:  # case 2E
            le = int.from_bytes(body[1:3], "big")
            return cls(cla, ins, p1, p2, b"", le or EXTENDED_MAX_LE)
        if len(body) < 3:
            raise ValueError("truncated extended length field")
        n = int.from_bytes(body[1:3], "big")
        if n == 0:
            raise ValueError("extended Lc of zero")
        if len(body) == 3 + n:  # case 3E
            return cls(cla, ins, p1, p2, bytes(body[3:]))
        if len(body) == 5 + n:  # case 4E
            le = int.from_bytes(body[-2:], "big")
            return cls(cla, ins, p1, p2, bytes(body[3 : 3 + n]), le or EXTENDED_MAX_LE)
        raise ValueError(f"extended Lc={n} does not match the {len(body) - 3} bytes that follow")


@dataclass(frozen=True)
class ResponseApdu:
    """A response APDU: data followed by SW1 SW2."""

    data: bytes
    sw: int

    @classmethod
    def decode(cls, raw: bytes) -> ResponseApdu:
        if len(raw) < 2:
            raise ProtocolError(
                f"truncated response: {len(raw)} bytes, a response has at least SW1 SW2"
            )
        return cls(bytes(raw[:-2]), (raw[-2] << 8) | raw[-1])

    def encode(self) -> bytes:
        return self.data + self.sw.to_bytes(2, "big")


class SendApdu(Protocol):
    """What services and the handshake call: a command in, the response data out; a status
    word other than 9000 raised by :func:`check_status` (yubikit's ``send_apdu``)."""

    def __call__(
        self, cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = LE_MAX
    ) -> bytes: ...


class ApduProcessor(Protocol):
    """One link of the processor chain (chaining and GET RESPONSE, then secure messaging): it
    sends a command of any length and returns ``(data, sw)`` unchecked."""

    def send(
        self, cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = LE_MAX
    ) -> tuple[bytes, int]: ...


class CheckedProcessor(abc.ABC):
    """A processor that is also a :class:`SendApdu`: ``send_apdu`` (and calling it) is
    :meth:`send` followed by :func:`check_status`. Subclasses implement :meth:`send`."""

    @abc.abstractmethod
    def send(
        self, cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = LE_MAX
    ) -> tuple[bytes, int]:
        """Send a command of any length; return its data and final status word, unchecked."""

    def send_apdu(
        self, cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = LE_MAX
    ) -> bytes:
        """Send a command of any length and return the complete response data.

        Raises :class:`ApduError` (through :func:`check_status`) for any final status word
        other than 9000.
        """
        response, sw = self.send(cla, ins, p1, p2, data, le)
        if sw != 0x9000:  # SW.SUCCESS as a plain int: the comparison is on every APDU's path
            check_status(sw, response)
        return response

    def __call__(
        self, cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = LE_MAX
    ) -> bytes:
        return self.send_apdu(cla, ins, p1, p2, data, le)


# Commands whose data must never be logged in clear (PIN verification and the like).
# Services register (CLA without the chaining bit, INS) pairs here.
_SENSITIVE: set[tuple[int, int]] = set()


def register_sensitive(cla: int, ins: int) -> None:
    """Mark a command whose data (PIN, key material) must be redacted in debug logs."""
    _SENSITIVE.add((cla & ~CLA_CHAINING & 0xFF, ins))


def _redacted(cmd: CommandApdu, raw: bytes) -> str:
    if (cmd.cla & ~CLA_CHAINING & 0xFF, cmd.ins) in _SENSITIVE and cmd.data:
        return raw[:4].hex() + f" <{len(cmd.data)} bytes redacted>"
    return raw.hex()


class ApduSession(CheckedProcessor):
    """APDU exchange over a :class:`Connection`: encoding, chaining, GET RESPONSE, 6Cxx.

    ``extended``: None uses extended-length APDUs when the link supports them and the command
    needs them, else ISO command chaining; False always chains; True always uses extended form.
    """

    def __init__(
        self,
        connection: Connection,
        *,
        extended: bool | None = None,
        max_get_response: int = 256,
    ) -> None:
        self.connection = connection
        self._extended = extended
        self._max_get_response = max_get_response
        self.exchanges = 0  # APDUs actually sent, for benchmarks and protocol tests

    # -- one exchange -------------------------------------------------------------------------
    def transceive(self, cmd: CommandApdu, *, extended: bool | None = None) -> ResponseApdu:
        """Send one encoded APDU and return the raw response (no status check, no chaining)."""
        raw = cmd.encode(extended)
        debug = log.isEnabledFor(logging.DEBUG)
        if debug:
            log.debug(">> %s", _redacted(cmd, raw))
        response = ResponseApdu.decode(self.connection.transmit(raw))
        self.exchanges += 1
        if debug:
            log.debug("<< %s %04X", response.data.hex(), response.sw)
        return response

    # -- the processor ------------------------------------------------------------------------
    def send(
        self, cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = LE_MAX
    ) -> tuple[bytes, int]:
        """Send a command of any length; return the complete response data and its final SW."""
        # Fast path: a command that fits one APDU and a plain 9000 answer. It produces the same
        # bytes as CommandApdu.encode and is what benchmarks against raw transmit measure.
        n = len(data)
        if (le is None or le <= SHORT_MAX_LE) and n <= (
            SHORT_MAX_DATA if le is None else SHORT_CASE4_MAX_DATA
        ):
            raw = bytes((cla, ins, p1, p2))
            if n:
                raw += bytes((n,)) + data
            if le is not None:
                raw += bytes((le & 0xFF,))
            extended = False
        elif n <= EXTENDED_MAX_DATA and self._use_extended(n, le):
            raw = bytes((cla, ins, p1, p2))
            if n:
                raw += b"\x00" + n.to_bytes(2, "big") + data
                if le is not None:
                    raw += (le & 0xFFFF).to_bytes(2, "big")
            elif le is not None:
                raw += b"\x00" + (le & 0xFFFF).to_bytes(2, "big")
            extended = True
        else:
            response = self.send_raw(cla, ins, p1, p2, data, le)
            return response.data, response.sw
        debug = log.isEnabledFor(logging.DEBUG)
        if debug:
            log.debug(">> %s", _redacted(CommandApdu(cla, ins, p1, p2, bytes(data), le), raw))
        answer = self.connection.transmit(raw)
        self.exchanges += 1
        if len(answer) >= 2 and answer[-2] == 0x90 and answer[-1] == 0x00:
            if debug:
                log.debug("<< %s 9000", answer[:-2].hex())
            return answer[:-2], SW.SUCCESS
        first = ResponseApdu.decode(answer)
        if debug:
            log.debug("<< %s %04X", first.data.hex(), first.sw)
        response = self._collect(CommandApdu(cla, ins, p1, p2, bytes(data), le), first, extended)
        return response.data, response.sw

    def send_raw(
        self, cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = LE_MAX
    ) -> ResponseApdu:
        """Like :meth:`send`, always by the general path (no fast path), as a ResponseApdu."""
        data = bytes(data)
        use_extended = self._use_extended(len(data), le)
        if use_extended:
            response = self.transceive(CommandApdu(cla, ins, p1, p2, data, le), extended=True)
        else:
            response = self._send_chained(cla, ins, p1, p2, data, le)
        return self._collect(CommandApdu(cla, ins, p1, p2, data, le), response, use_extended)

    def _use_extended(self, n: int, le: int | None) -> bool:
        if self._extended is False:
            return False
        if self._extended is True:
            return True
        return self._needs_more_than_short(n, le) and self.connection.supports_extended

    @staticmethod
    def _needs_more_than_short(n: int, le: int | None) -> bool:
        if le is None:
            return n > SHORT_MAX_DATA
        return n > SHORT_CASE4_MAX_DATA or le > SHORT_MAX_LE

    def _send_chained(
        self, cla: int, ins: int, p1: int, p2: int, data: bytes, le: int | None
    ) -> ResponseApdu:
        short_le = None if le is None else min(le, SHORT_MAX_LE) if le else LE_MAX
        last_max = SHORT_MAX_DATA if le is None else SHORT_CASE4_MAX_DATA
        if len(data) <= last_max:
            return self.transceive(CommandApdu(cla, ins, p1, p2, data, short_le), extended=False)
        # ISO 7816-4 §5.4.1: every segment but the last carries the chaining bit and no Le.
        offset = 0
        while True:
            remaining = len(data) - offset
            last = remaining <= last_max
            size = remaining if last else min(SHORT_MAX_DATA, remaining - 1)
            chunk = data[offset : offset + size]
            offset += size
            seg_cla = cla if last else cla | CLA_CHAINING
            response = self.transceive(
                CommandApdu(seg_cla, ins, p1, p2, chunk, short_le if last else None),
                extended=False,
            )
            if last or response.sw != SW.SUCCESS:
                return response

    def _collect(self, cmd: CommandApdu, response: ResponseApdu, extended: bool) -> ResponseApdu:
        """Follow 6Cxx (resend with the right Le) and 61xx (GET RESPONSE) to the end."""
        if response.sw >> 8 == 0x6C:
            # ISO 7816-4 §5.3.4: wrong Le; SW2 gives the exact length. Resend once.
            exact = response.sw & 0xFF or SHORT_MAX_LE
            response = self.transceive(
                CommandApdu(cmd.cla, cmd.ins, cmd.p1, cmd.p2, cmd.data, exact), extended=extended
            )
            if response.sw >> 8 == 0x6C:
                raise ProtocolError("card answered 6Cxx twice; it does not honour Le")
        chunks = [response.data]
        total = len(response.data)
        while response.sw >> 8 == 0x61:
            want = response.sw & 0xFF or SHORT_MAX_LE
            response = self.transceive(
                CommandApdu(0x00, INS_GET_RESPONSE, 0, 0, b"", min(want, self._max_get_response)),
                extended=False,
            )
            chunks.append(response.data)
            total += len(response.data)
            if total > 16 * EXTENDED_MAX_LE:
                raise ProtocolError("card keeps answering 61xx: response exceeds 1 MiB")
        if len(chunks) == 1:
            return response
        return ResponseApdu(b"".join(chunks), response.sw)


__all__ = [
    "ApduProcessor",
    "ApduSession",
    "CheckedProcessor",
    "CommandApdu",
    "ResponseApdu",
    "SW",
    "SendApdu",
    "check_status",
    "describe_sw",
    "register_sensitive",
    "sw_family",
    "LE_MAX",
]
