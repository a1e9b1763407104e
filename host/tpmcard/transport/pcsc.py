"""PC/SC readers through pyscard (pcsc-lite's pcscd on Linux).

Uses pyscard's thin ``smartcard.scard`` layer, not its object API, so that every failure keeps its
PC/SC return code and maps onto exactly one of :mod:`tpmcard.errors`:

============================================  =====================================================
SCARD_E_NO_SERVICE, SCARD_E_SERVICE_STOPPED   :class:`TransportError` (pcscd is not running)
SCARD_E_NO_READERS_AVAILABLE, no match         :class:`NoReaderError` (lists the readers)
SCARD_E_UNKNOWN_READER, READER_UNAVAILABLE     :class:`NoReaderError` on connect
SCARD_E_NO_SMARTCARD, SCARD_W_REMOVED_CARD     :class:`NoCardError` on connect,
                                               :class:`CardRemovedError` mid-command
SCARD_W_RESET_CARD, SCARD_W_UNPOWERED_CARD,    :class:`CardRemovedError` mid-command (the card's
SCARD_E_READER_UNAVAILABLE, NOT_TRANSACTED     session is gone; a command may or may not have run)
success with no status word (vpcd)             :class:`CardRemovedError`
============================================  =====================================================
"""

from __future__ import annotations

import threading
from typing import Any

from tpmcard.errors import CardRemovedError, NoCardError, NoReaderError, TransportError
from tpmcard.transport.base import Connection

# PC/SC return codes (pcsc-lite pcsclite.h, Microsoft winerror.h SCARD_*).
SCARD_S_SUCCESS = 0x00000000
SCARD_E_INVALID_HANDLE = 0x80100003
SCARD_E_UNKNOWN_READER = 0x80100009
SCARD_E_TIMEOUT = 0x8010000A
SCARD_E_SHARING_VIOLATION = 0x8010000B
SCARD_E_NO_SMARTCARD = 0x8010000C
SCARD_E_PROTO_MISMATCH = 0x8010000F
SCARD_F_COMM_ERROR = 0x80100013
SCARD_E_NOT_TRANSACTED = 0x80100016
SCARD_E_READER_UNAVAILABLE = 0x80100017
SCARD_E_NO_SERVICE = 0x8010001D
SCARD_E_SERVICE_STOPPED = 0x8010001E
SCARD_E_NO_READERS_AVAILABLE = 0x8010002E
SCARD_E_COMM_DATA_LOST = 0x8010002F
SCARD_W_UNRESPONSIVE_CARD = 0x80100066
SCARD_W_UNPOWERED_CARD = 0x80100067
SCARD_W_RESET_CARD = 0x80100068
SCARD_W_REMOVED_CARD = 0x80100069

_NO_SERVICE = (SCARD_E_NO_SERVICE, SCARD_E_SERVICE_STOPPED, SCARD_F_COMM_ERROR)
_NO_CARD = (SCARD_E_NO_SMARTCARD, SCARD_W_REMOVED_CARD, SCARD_W_UNPOWERED_CARD)
_CARD_GONE = (
    SCARD_W_REMOVED_CARD,
    SCARD_E_NO_SMARTCARD,
    SCARD_W_RESET_CARD,
    SCARD_W_UNPOWERED_CARD,
    SCARD_E_READER_UNAVAILABLE,
    SCARD_E_NOT_TRANSACTED,
    SCARD_E_COMM_DATA_LOST,
    SCARD_W_UNRESPONSIVE_CARD,
)

PCSCD_HINT = (
    "start it with `sudo systemctl start pcscd.socket` (or `sudo pcscd --foreground`); "
    "`tpmcard sim serve` starts it for the simulator"
)


def _scard() -> Any:
    try:
        from smartcard import scard
    except ImportError as exc:  # pragma: no cover - pyscard is a dependency
        raise TransportError("PC/SC needs pyscard: pip install pyscard") from exc
    return scard


def _code(hresult: int) -> int:
    return hresult & 0xFFFFFFFF


def _describe(hresult: int) -> str:
    code = _code(hresult)
    text = str(_scard().SCardGetErrorMessage(hresult)).strip().rstrip(".")
    return f"{text} (0x{code:08X})"


def _service_error(hresult: int) -> TransportError:
    return TransportError(
        f"the PC/SC service pcscd is not running ({_describe(hresult)}): {PCSCD_HINT}"
    )


class _Context:
    """An SCARDCONTEXT, released on close."""

    def __init__(self) -> None:
        scard = _scard()
        hresult, self.handle = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if _code(hresult) != SCARD_S_SUCCESS:
            if _code(hresult) in _NO_SERVICE:
                raise _service_error(hresult)
            raise TransportError(f"PC/SC context failed: {_describe(hresult)}")

    def readers(self) -> list[str]:
        hresult, names = _scard().SCardListReaders(self.handle, [])
        code = _code(hresult)
        if code == SCARD_E_NO_READERS_AVAILABLE:
            return []
        if code in _NO_SERVICE:
            raise _service_error(hresult)
        if code != SCARD_S_SUCCESS:
            raise TransportError(f"listing PC/SC readers failed: {_describe(hresult)}")
        return [str(n) for n in names]

    def release(self) -> None:
        _scard().SCardReleaseContext(self.handle)


def list_readers() -> list[str]:
    """The names of the PC/SC readers; empty if there are none.

    Raises :class:`TransportError` if pcscd is not running.
    """
    context = _Context()
    try:
        return context.readers()
    finally:
        context.release()


def choose_reader(readers: list[str], wanted: str | int | None) -> str:
    """Pick a reader: ``None`` the only one; an int (or digit string) an index; else the exact
    name, then a unique substring (case-insensitive)."""
    if not readers:
        raise NoReaderError(
            "PC/SC has no readers: plug one in, or run `tpmcard sim serve` for the simulated card"
        )
    listing = "; ".join(f"{i}: {name}" for i, name in enumerate(readers))
    if wanted is None:
        if len(readers) == 1:
            return readers[0]
        raise NoReaderError(f"several PC/SC readers, name one (index or name): {listing}")
    if isinstance(wanted, int) or (isinstance(wanted, str) and wanted.strip().isdigit()):
        index = int(wanted)
        if 0 <= index < len(readers):
            return readers[index]
        raise NoReaderError(f"no PC/SC reader with index {index}; the readers are {listing}")
    if wanted in readers:
        return wanted
    matches = [r for r in readers if wanted.lower() in r.lower()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise NoReaderError(f"no PC/SC reader matches {wanted!r}; the readers are {listing}")
    raise NoReaderError(
        f"{wanted!r} matches several PC/SC readers ({'; '.join(matches)}); be more specific"
    )


def parse_atr(atr: bytes) -> tuple[set[int], bytes]:
    """The protocols an ATR offers and its historical bytes (ISO 7816-3 §8.2)."""
    if len(atr) < 2:
        return {0}, b""
    t0 = atr[1]
    historical_count = t0 & 0x0F
    protocols: set[int] = set()
    y = t0 >> 4
    i = 2
    first_td = True
    while True:
        i += bin(y & 0x7).count("1")  # TA, TB, TC present
        if not y & 0x8:
            break
        if i >= len(atr):
            return protocols or {0}, b""
        td = atr[i]
        i += 1
        if td & 0x0F != 0x0F:  # T=15 qualifies global bytes, it is not a protocol
            protocols.add(td & 0x0F)
        first_td = False
        y = td >> 4
    if first_td:
        protocols.add(0)  # no TD1: T=0 only (ISO 7816-3 §8.2.3)
    return protocols, atr[i : i + historical_count]


def card_capabilities(historical: bytes) -> bytes | None:
    """The card capabilities data object (tag 7) of compact-TLV historical bytes (ISO 7816-4
    §8.1.1), or None."""
    if not historical or historical[0] not in (0x00, 0x80):
        return None
    body = historical[1:-3] if historical[0] == 0x00 else historical[1:]
    i = 0
    while i < len(body):
        tag, length = body[i] >> 4, body[i] & 0x0F
        value = body[i + 1 : i + 1 + length]
        if tag == 0x7:
            return value
        i += 1 + length
    return None


def atr_supports_extended(atr: bytes) -> bool:
    """Whether the ATR announces extended Lc/Le (card capabilities, third byte, bit b7).

    Cards that say nothing get False: the APDU layer then chains commands and uses GET RESPONSE,
    which every card that supports long data at all understands.
    """
    protocols, historical = parse_atr(atr)
    capabilities = card_capabilities(historical)
    return capabilities is not None and len(capabilities) >= 3 and bool(capabilities[2] & 0x40)


class PcscConnection(Connection):
    """A card in a PC/SC reader, shared mode, T=1 if the card offers it, else T=0.

    ``reader``: see :func:`choose_reader`.
    """

    def __init__(self, reader: str | int | None = None) -> None:
        scard = _scard()
        self._lock = threading.Lock()
        self._context = _Context()
        try:
            self.name = choose_reader(self._context.readers(), reader)
            hresult, self._card, protocol = scard.SCardConnect(
                self._context.handle,
                self.name,
                scard.SCARD_SHARE_SHARED,
                scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
            )
            self._check_connect(hresult)
            self._protocol = protocol
            self._atr = self._status_atr()
        except BaseException:
            self._context.release()
            raise
        self._closed = False

    def _check_connect(self, hresult: int) -> None:
        code = _code(hresult)
        if code == SCARD_S_SUCCESS:
            return
        if code in _NO_CARD:
            raise NoCardError(
                f"no card in the reader {self.name!r}: insert one ({_describe(hresult)})"
            )
        if code in (SCARD_E_UNKNOWN_READER, SCARD_E_READER_UNAVAILABLE):
            raise NoReaderError(f"the reader {self.name!r} is gone ({_describe(hresult)})")
        if code == SCARD_E_SHARING_VIOLATION:
            raise TransportError(
                f"another application holds the card in {self.name!r} exclusively "
                f"({_describe(hresult)})"
            )
        if code in _NO_SERVICE:
            raise _service_error(hresult)
        raise TransportError(
            f"connecting to the card in {self.name!r} failed: {_describe(hresult)}"
        )

    def _status_atr(self) -> bytes:
        hresult, _reader, _state, _protocol, atr = _scard().SCardStatus(self._card)
        if _code(hresult) != SCARD_S_SUCCESS:
            self._raise_link(hresult, "reading the card status")
        return bytes(atr)

    def _raise_link(self, hresult: int, what: str) -> None:
        code = _code(hresult)
        if code in _CARD_GONE:
            raise CardRemovedError(
                f"the card in {self.name!r} was removed or reset during {what} "
                f"({_describe(hresult)}); reopen the card and start the session again"
            )
        if code in _NO_SERVICE:
            raise _service_error(hresult)
        raise TransportError(f"{what} on {self.name!r} failed: {_describe(hresult)}")

    def transmit(self, apdu: bytes) -> bytes:
        with self._lock:
            if self._closed:
                raise TransportError(f"the connection to {self.name!r} is closed")
            hresult, response = _scard().SCardTransmit(self._card, self._protocol, list(apdu))
            if _code(hresult) != SCARD_S_SUCCESS:
                self._raise_link(hresult, "a command")
            if len(response) < 2:
                # Every card answer ends in SW1 SW2 (ISO 7816-4 §5.1). vpcd reports a card that
                # vanished mid-command this way, before pcscd has noticed the removal.
                raise CardRemovedError(
                    f"the card in {self.name!r} answered without a status word: it was removed "
                    "or reset during a command; reopen the card and start the session again"
                )
            return bytes(response)

    @property
    def atr(self) -> bytes:
        return self._atr

    @property
    def supports_extended(self) -> bool:
        # T=0 carries no extended APDUs (ISO 7816-3 §12.2 needs ENVELOPE for that).
        return self._protocol != _scard().SCARD_PROTOCOL_T0 and atr_supports_extended(self._atr)

    @property
    def protocol(self) -> str:
        """``"T=0"`` or ``"T=1"``."""
        return "T=0" if self._protocol == _scard().SCARD_PROTOCOL_T0 else "T=1"

    def reset(self) -> None:
        """Cold reset (SCARD_UNPOWER_CARD): the card loses its RAM, nothing is selected."""
        scard = _scard()
        with self._lock:
            if self._closed:
                raise TransportError(f"the connection to {self.name!r} is closed")
            hresult, protocol = scard.SCardReconnect(
                self._card,
                scard.SCARD_SHARE_SHARED,
                scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
                scard.SCARD_UNPOWER_CARD,
            )
            if _code(hresult) != SCARD_S_SUCCESS:
                self._raise_link(hresult, "a reset")
            self._protocol = protocol
            self._atr = self._status_atr()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            scard = _scard()
            # Return codes ignored: a removed card or a stopped pcscd has released both already.
            scard.SCardDisconnect(self._card, scard.SCARD_LEAVE_CARD)
            self._context.release()
