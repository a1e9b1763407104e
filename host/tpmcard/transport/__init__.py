"""Transports: the only modules that import jpype (:mod:`.jcardsim`) or pyscard (:mod:`.pcsc`).

``open_connection(reader)`` picks one:

* ``"sim"`` (the default: no argument and no ``$TPMCARD_READER``): the in-process jCardSim card,
  whose state persists in ``tpmcard.paths.state_dir() / "card"``;
* a decimal index (``"0"``): that PC/SC reader;
* anything else: the PC/SC reader of that exact name, else the one whose name contains it.

The backends are imported lazily, so a host without a JVM can still use PC/SC and vice versa.
"""

from __future__ import annotations

import os

from tpmcard.transport.base import Connection

#: Names :func:`open_connection` takes as "the in-process simulator".
SIM_READER = "sim"
READER_ENV = "TPMCARD_READER"

__all__ = ["SIM_READER", "Connection", "list_readers", "open_connection", "resolve_reader"]


def resolve_reader(reader: str | None) -> str:
    """Explicit argument, then ``$TPMCARD_READER``, then the in-process simulator."""
    return reader or os.environ.get(READER_ENV) or SIM_READER


def open_connection(reader: str | None = None) -> Connection:
    """Open a connection to the card in ``reader`` (see the module docstring).

    Raises :class:`~tpmcard.errors.SimulatorError`, :class:`~tpmcard.errors.NoReaderError`,
    :class:`~tpmcard.errors.NoCardError` or :class:`~tpmcard.errors.TransportError`.
    """
    chosen = resolve_reader(reader)
    if chosen.strip().lower() == SIM_READER:
        from tpmcard.transport.jcardsim import JCardSimConnection

        return JCardSimConnection()
    from tpmcard.transport.pcsc import PcscConnection

    return PcscConnection(chosen)


def list_readers() -> list[str]:
    """The PC/SC readers (the in-process simulator is always available as ``"sim"``).

    Raises :class:`~tpmcard.errors.TransportError` if pcscd is not running.
    """
    from tpmcard.transport.pcsc import list_readers as pcsc_readers

    return pcsc_readers()
