"""The session's TPM clock (docs/binding.md "The session's TPM clock"): the TPMS_CLOCK_INFO of
the handshake's quote, which the card verifies with the quote and keeps for the session's
services, and which the host session knows. Over both transports with swtpm; what a service
reads of it (a closure's CLOCK) is tested in tests/closures.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from tpmcard.errors import SessionRefusedError
from tpmcard.services.session import connect
from tpmcard.tpm_structures import CLOCK_INFO_LENGTH, ClockInfo, attest_clock_info

if TYPE_CHECKING:
    from conftest import BoundCard  # tests/conftest.py


def tpm_clock(bound_card: BoundCard) -> int:
    """The test TPM's Clock now (``tpm2_readclock``, stock tpm2-tools)."""
    out = subprocess.run(
        ["tpm2_readclock"],
        env=dict(os.environ, TPM2TOOLS_TCTI=bound_card.tcti),
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    lines = [line.split(":")[1] for line in out.splitlines() if line.strip().startswith("clock:")]
    return int(lines[0].split("#")[0])


def test_the_session_knows_the_clock_its_quote_proved(bound_card: BoundCard) -> None:
    before = tpm_clock(bound_card)
    with bound_card.connect() as first:
        a = first.host_clock
        assert first.core.echo(b"clock") == b"clock"
    with bound_card.connect() as second:
        b = second.host_clock
    after = tpm_clock(bound_card)
    assert isinstance(a, ClockInfo) and isinstance(b, ClockInfo)
    assert before <= a.clock < b.clock <= after  # milliseconds; a handshake takes several
    assert (a.reset_count, a.restart_count) == (b.reset_count, b.restart_count)
    assert a.safe and b.safe


class _ClockTampering:
    """A lying host: the quote's clock moved forward by an hour after the TPM signed it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def quote(self, ak: Any, pcrs: Any, nonce: bytes) -> Any:
        real = self.inner.quote(ak, pcrs, nonce)
        clock = attest_clock_info(real.attest)
        forged = dataclasses.replace(clock, clock=clock.clock + 3_600_000).marshal()
        at = real.attest.index(clock.marshal())
        attest = real.attest[:at] + forged + real.attest[at + len(forged) :]
        return dataclasses.replace(real, attest=attest)


def test_a_clock_changed_after_the_quote_is_refused(bound_card: BoundCard) -> None:
    """The clock is part of what the AK signed: a host that moves it in the quote gets the
    card's uniform 6982, and the next session opens."""
    with pytest.raises(SessionRefusedError):
        connect(
            connection=bound_card.connection,
            tpm=bound_card.tpm,
            store=bound_card.store,
            wrap_tpm=_ClockTampering,
        )
    with bound_card.connect() as session:
        assert session.core.echo(b"after") == b"after"


def test_the_clock_length_is_the_cards(java_constants: Callable[[str], dict[str, int]]) -> None:
    """HostPcrs.CLOCK_INFO_LENGTH (what copyClock writes) is TPMS_CLOCK_INFO's marshalled size."""
    assert java_constants("tpmcard.core.HostPcrs")["CLOCK_INFO_LENGTH"] == CLOCK_INFO_LENGTH
    assert len(ClockInfo(1, 2, 3, True).marshal()) == CLOCK_INFO_LENGTH
    assert ClockInfo.parse(ClockInfo(2**63, 2**32 - 1, 7, False).marshal()) == ClockInfo(
        2**63, 2**32 - 1, 7, False
    )
