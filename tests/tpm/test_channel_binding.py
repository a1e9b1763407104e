"""The binding protocol with a real TPM (swtpm): the structures a TPM actually produces (binding
key public area and policy, TPM2_Certify, TPM2_Quote, ECDH_ZGen) pass the card's checks, as
modelled by tests/unit/card_model.py, which mirrors BindingHandler.java check by check."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from tpmcard.channel import list_pairings, open_session, pair
from tpmcard.channel.tpm_binding import TpmBinding
from tpmcard.errors import ChannelError, TpmPolicyError
from tpmcard.tpm.adapter import Tpm

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from card_model import CardModel  # noqa: E402

if TYPE_CHECKING:
    from attestation_support import TestAttestation  # tests/attestation_support.py


@pytest.mark.tpm
@pytest.mark.parametrize("auth", [None, b"binding pin"], ids=["pcr-only", "pcr-and-auth-value"])
def test_pair_and_session_with_swtpm(
    tpm: Tpm, auth: bytes | None, attestation: TestAttestation
) -> None:
    pcr = 13  # free to extend in a test (16 and 23, resettable, may not be paired with)
    binding_key = tpm.create_binding_key([7, pcr], auth)
    enrolled = attestation.enrollment
    host = TpmBinding(
        tpm, binding_key, enrolled.attestation_key, auth, enrolled.certificate.encoded
    )
    card = CardModel(ca_point=attestation.ca.public_point)
    pairing = pair(card.send_apdu, host, card.identity_point, "123456", host.policy)
    assert list_pairings(card.send_apdu).slots[0].binding_name == pairing.binding_name
    with open_session(card, host, pairing) as session:
        assert session.send_apdu(0x80, 0xEE, 0, 0, b"over a real TPM") == b"over a real TPM"
        assert set(session.pcr_values) == set(range(9)) | {pcr}

    tpm.pcr_extend(pcr, bytes(32))  # the host leaves the approved state
    with pytest.raises((TpmPolicyError, ChannelError)):
        open_session(card, host, pairing)
    assert card.session is None
