"""Opening the card and the TPM: the entry points host applications use.

This is the services layer's front door. It picks the transport (``reader``: ``"sim"`` for the
in-process simulator, a PC/SC reader name or index; default ``$TPMCARD_READER`` or ``"sim"``)
and the TPM (``tcti``: any TCTI string; default ``$TPMCARD_TCTI`` or the embedded swtpm).
"""

from __future__ import annotations

from tpmcard.apdu import ApduSession
from tpmcard.lifetime import Closeable
from tpmcard.services.core import CardInfo, CoreSession
from tpmcard.tpm.tcti import resolve_tcti
from tpmcard.transport import open_connection, resolve_reader
from tpmcard.transport.base import Connection

__all__ = ["Card", "open_card", "resolve_reader", "resolve_tcti"]


class Card(Closeable):
    """A card with the core applet selected, over an unsecured channel."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.apdu = ApduSession(connection)
        self.core = CoreSession(self.apdu.send_apdu)
        self.info: CardInfo = self.core.select()

    def close(self) -> None:
        self.connection.close()


def open_card(reader: str | None = None) -> Card:
    """Open the card (see module docstring for ``reader``) and select the core applet."""
    connection = open_connection(resolve_reader(reader))
    try:
        return Card(connection)
    except BaseException:
        connection.close()
        raise
