"""The transport interface: one raw APDU in, one raw response (data || SW1 SW2) out.

Transports know nothing of status words, chaining or secure messaging; that is the APDU layer's
job (:mod:`tpmcard.apdu`). Every transport error is a :class:`tpmcard.errors.TransportError`.
"""

from __future__ import annotations

import abc

from tpmcard.lifetime import Closeable


class Connection(Closeable, abc.ABC):
    """A connection to one card."""

    #: A human-readable name, e.g. ``"jcardsim (in-process)"`` or the PC/SC reader name.
    name: str

    @abc.abstractmethod
    def transmit(self, apdu: bytes) -> bytes:
        """Send one encoded command APDU; return the response data followed by SW1 SW2.

        Raises :class:`~tpmcard.errors.CardRemovedError` if the card went away mid-command and
        :class:`~tpmcard.errors.TransportError` for any other link failure.
        """

    @property
    @abc.abstractmethod
    def atr(self) -> bytes:
        """The card's answer-to-reset."""

    @property
    def supports_extended(self) -> bool:
        """Whether the link carries extended-length APDUs (ISO 7816-4 §5.1)."""
        return True

    @abc.abstractmethod
    def reset(self) -> None:
        """Power-cycle the card: transient memory is cleared, no applet is selected."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the card. Idempotent."""
