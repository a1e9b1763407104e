"""The algorithm registry and providers through the real route: a card paired with the test TPM
(``bound_card`` in tests/conftest.py, over the in-process simulator and PC/SC), a secured session
(``tpmcard.connect()``'s code), the core applet's INVOKE, the registry it hosts, the providers.

``alg`` is ``session.algorithms`` of a fresh session per test. The card is the module's, so after
each test the fixture deletes the keys the test made and puts the registry back as installed
(the five v1 providers registered and enabled, nothing else).
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from tpmcard.services import algorithms as A
from tpmcard.services.session import SecureCardSession
from tpmcard.transport.jcardsim import JCardSimConnection

if TYPE_CHECKING:
    from conftest import BoundCard  # tests/conftest.py

V1_PROVIDERS = (
    A.AID_AES_GCM,
    A.AID_SHA3,
    A.AID_HMAC,
    A.AID_CHACHA20_POLY1305,
    A.AID_ECDSA_P256,
)


class TrackedAlgorithms(A.Algorithms):
    """Algorithms that remembers the keys it made, so the fixture can delete them."""

    def __init__(self, session: SecureCardSession) -> None:
        super().__init__(session)
        self.made: list[A.KeyHandle] = []

    def generate_key(self, key_type: int) -> A.KeyHandle:
        key = super().generate_key(key_type)
        self.made.append(key)
        return key

    def import_key(self, key_type: int, key: bytes) -> A.KeyHandle:
        handle = super().import_key(key_type, key)
        self.made.append(handle)
        return handle


def restore(alg: A.Algorithms, made: list[A.KeyHandle]) -> None:
    for key in made:
        try:
            alg.delete_key(key)
        except A.AlgorithmError:
            pass  # deleted by the test, or its provider replaced: nothing left to free
    listed = {p.aid for p in alg.list()}
    for aid in listed - set(V1_PROVIDERS):
        alg.unregister(aid)
    for aid in V1_PROVIDERS:
        if aid not in listed:
            alg.register(aid)
        alg.enable(aid)


#: ``TPMCARD_TEST_SOFTWARE_PROVIDERS=1``: on the in-process simulator, every provider is made
#: again with the install option that forces its software implementation (AES-GCM over AES-ECB,
#: SHA3-256 in card code; HMAC and ChaCha20-Poly1305 are software anyway, ECDSA has none), so the
#: whole suite runs the software paths. The PC/SC card keeps the card's choice.
SOFTWARE_PROVIDERS = os.environ.get("TPMCARD_TEST_SOFTWARE_PROVIDERS") == "1"
_forced: weakref.WeakSet[BoundCard] = weakref.WeakSet()


def install_software_providers(card: JCardSimConnection, aids: tuple[bytes, ...]) -> None:
    """Delete and create each provider again, with 32 bytes of entropy and the software option."""
    for aid in aids:
        card.delete_applet(aid)
        card.create_applet(aid, os.urandom(32) + bytes([A.INSTALL_OPTION_SOFTWARE]))


@pytest.fixture
def session(bound_card: BoundCard) -> Iterator[SecureCardSession]:
    if SOFTWARE_PROVIDERS and bound_card.transport == "sim" and bound_card not in _forced:
        assert isinstance(bound_card.connection, JCardSimConnection)
        install_software_providers(bound_card.connection, (*V1_PROVIDERS, A.AID_HMAC_V2))
        _forced.add(bound_card)
        with bound_card.connect() as check:
            chosen = {p.aid: p.implementation_name for p in check.algorithms.list()}
        assert chosen[A.AID_AES_GCM] == chosen[A.AID_SHA3] == "software", chosen
    with bound_card.connect() as opened:
        yield opened


@pytest.fixture
def alg(session: SecureCardSession, bound_card: BoundCard) -> Iterator[A.Algorithms]:
    tracked = TrackedAlgorithms(session)
    yield tracked
    if not session.closed:
        restore(A.Algorithms(session), tracked.made)
        return
    with bound_card.connect() as cleanup:  # the test ended its session (card reset, ...)
        restore(A.Algorithms(cleanup), tracked.made)
