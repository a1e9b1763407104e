"""A simulated card of a profile behind PC/SC (``tpmcard sim serve --profile``, VpcdCard):
the same answers as in process (tests/sim/test_profiles.py), through pcscd and vpcd."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from tpmcard.sim import vpcd
from tpmcard.transport.pcsc import PcscConnection

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sim"))
from test_profiles import check_profile, probe_manifest  # noqa: E402

pytestmark = pytest.mark.pcsc


@pytest.mark.parametrize("profile", ["jcop4-j3r180", "j3h145"])
def test_a_served_card_of_a_profile(pcsc_stack: object, tmp_path: Path, profile: str) -> None:
    reader = pcsc_stack.spare_reader  # type: ignore[attr-defined]
    card = vpcd.VpcdCardProcess(
        tmp_path / "card",
        port=pcsc_stack.spare_port,  # type: ignore[attr-defined]
        manifest=probe_manifest(tmp_path),
        profile=profile,
    )
    try:
        assert card.profile == profile
        vpcd.wait_for_card(reader)
        connection = PcscConnection(reader)
        try:
            check_profile(connection, profile)
        finally:
            connection.close()
    finally:
        assert card.stop() == 0
        vpcd.wait_for_card(reader, present=False)
