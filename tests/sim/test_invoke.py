"""INVOKE end to end (docs/core-applet.md "INVOKE"): SecureCardSession.invoke over both transports,
the service's refusal as ApduError with the session kept, INVOKE in clear refused."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from tpmcard import constants as C
from tpmcard.errors import ApduError, ChannelError, ServiceWindowError
from tpmcard.services.mtpm import MTPM_AID, MtpmSession

if TYPE_CHECKING:
    from conftest import BoundCard  # tests/conftest.py


def test_invoke_routes_and_refusals_keep_the_session(bound_card: BoundCard) -> None:
    with bound_card.connect() as session:
        status = session.invoke(MTPM_AID, 0x54, 0, 0)  # GET_STATUS
        assert len(status) == 1 + 1 + 8 + 4 + 16
        assert isinstance(session.mtpm, MtpmSession) and session.mtpm is session.mtpm
        with pytest.raises(ApduError) as err:
            session.invoke(bytes.fromhex("F074706D6302FF01"), 0x10, 0, 0)
        assert err.value.sw == 0x6A82  # no such service
        with pytest.raises(ApduError) as err:
            session.invoke(MTPM_AID, 0x12, 3, 0, bytes(32))
        assert err.value.sw == 0x6986  # the service's own SW, inside secure messaging
        with pytest.raises(ApduError) as err:  # malformed on the card: AID of 4 bytes
            session.send_apdu(C.CLA_PROPRIETARY, C.INS_INVOKE, 0, 0, b"\x04abcd\x00\x00\x00")
        assert err.value.sw == 0x6A80
        with pytest.raises(ApduError) as err:
            session.send_apdu(C.CLA_PROPRIETARY, C.INS_INVOKE, 0, 0, b"\x08")
        assert err.value.sw == 0x6700
        with pytest.raises(ValueError):
            session.invoke(b"abcd", 0, 0, 0)
        # Data over the card's service window (SELECT tag 85): refused on the host...
        with pytest.raises(ServiceWindowError):
            session.invoke(MTPM_AID, 0x54, 0, 0, bytes(session.service_window + 1))
        # ... and on the card, inside secure messaging, whatever its APDU buffer (at most 1024).
        body = (
            bytes([len(MTPM_AID)])
            + MTPM_AID
            + bytes([0x54, 0, 0])
            + bytes(C.SERVICE_WINDOW_MAX + 1)
        )
        with pytest.raises(ApduError) as err:
            session.send_apdu(C.CLA_PROPRIETARY, C.INS_INVOKE, 0, 0, body)
        assert err.value.sw == 0x6700
        assert session.core.echo(b"alive") == b"alive"
        assert len(session.algorithms.list()) >= 1


def test_invoke_in_clear_is_refused_and_ends_the_session(bound_card: BoundCard) -> None:
    link = bound_card.connection
    request = bytes([len(MTPM_AID)]) + MTPM_AID + bytes([0x54, 0, 0])
    plain = bytes([0x80, C.INS_INVOKE, 0, 0, len(request)]) + request
    session = bound_card.connect()
    response = link.transmit(plain)
    assert int.from_bytes(response[-2:], "big") == C.SW_SECURITY_STATUS_NOT_SATISFIED
    with pytest.raises(ChannelError):  # the card ended the session: the next command says so
        session.core.echo(b"x")
    session.close()
    link.reset()
    core = bytes.fromhex("F074706D63010001")
    assert link.transmit(bytes([0, 0xA4, 4, 0, len(core)]) + core)[-2:] == b"\x90\x00"
    response = link.transmit(plain)  # no session at all
    assert int.from_bytes(response[-2:], "big") == C.SW_SECURITY_STATUS_NOT_SATISFIED
