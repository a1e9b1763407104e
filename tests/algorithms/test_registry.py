"""Registry: listing, enable/disable, replacement at run time, withdrawal, bad input."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import jpype
import pytest
from tpmcard.errors import ChannelError
from tpmcard.services import algorithms as A
from tpmcard.transport.jcardsim import JCardSimConnection

if TYPE_CHECKING:
    from conftest import BoundCard  # tests/conftest.py


def by_aid(alg: A.Algorithms) -> dict[bytes, A.ProviderInfo]:
    return {p.aid: p for p in alg.list()}


def test_list_describes_every_known_provider(alg: A.Algorithms) -> None:
    providers = by_aid(alg)
    assert set(providers) == {
        A.AID_AES_GCM,
        A.AID_SHA3,
        A.AID_HMAC,
        A.AID_CHACHA20_POLY1305,
        A.AID_ECDSA_P256,
    }
    assert all(
        p.enabled and p.version == (1, 0) and p.max_data == A.MAX_PROVIDER_DATA
        for p in providers.values()
    )
    assert providers[A.AID_SHA3].capability_names == ["digest", "stream"]
    assert providers[A.AID_HMAC].capabilities & A.CAP_KEY_IMPORT


def test_disable_then_enable(alg: A.Algorithms) -> None:
    alg.disable(A.AID_SHA3)
    assert by_aid(alg)[A.AID_SHA3].state == A.STATE_DISABLED
    with pytest.raises(A.ProviderUnavailableError) as e:
        alg.digest(b"x")
    assert e.value.sw == A.SW_PROVIDER_DISABLED
    assert len(alg.mac(alg.generate_key(A.KEY_HMAC_SHA256), b"x")) == 32  # the others keep working
    alg.enable(A.AID_SHA3)
    assert len(alg.digest(b"x")) == 32


def test_replacement_during_a_session(alg: A.Algorithms) -> None:
    """v1 answers; v2 is registered and takes over in the same session; v1's keys do not follow;
    rollback; v1 unregistered, then v2: a clear error."""
    material = b"k" * 32
    old = alg.import_key(A.KEY_HMAC_SHA256, material)
    expected = hmac.new(material, b"data", "sha256").digest()
    assert alg.mac(old, b"data") == expected

    info = alg.register(A.AID_HMAC_V2)  # a new version, installed beside v1
    assert (info.algorithm, info.version) == (A.ALG_HMAC_SHA2, (2, 0))
    providers = by_aid(alg)
    assert providers[A.AID_HMAC_V2].enabled and providers[A.AID_HMAC].state == A.STATE_DISABLED
    with pytest.raises(A.KeyNotFoundError):  # policy: keys stay with the provider that holds them
        alg.mac(old, b"data")
    new = alg.import_key(A.KEY_HMAC_SHA256, material)  # the host re-imports what it must keep
    assert alg.mac(new, b"data") == expected  # same standard, same result from v2
    for n in (0, 255, 256, 4000, 5000):  # one command, and streamed across commands
        data = bytes(range(256)) * (n // 256) + bytes(n % 256)
        assert alg.mac(new, data) == hmac.new(material, data, "sha256").digest(), n

    alg.enable(A.AID_HMAC)  # rollback while v1 exists: its keys are back
    assert alg.mac(old, b"data") == expected
    alg.enable(A.AID_HMAC_V2)
    alg.unregister(A.AID_HMAC)
    assert A.AID_HMAC not in by_aid(alg)
    assert alg.mac(new, b"data") == expected
    alg.unregister(A.AID_HMAC_V2)
    with pytest.raises(A.ProviderUnavailableError) as e:
        alg.mac(new, b"data")
    assert e.value.sw == A.SW_PROVIDER_NOT_REGISTERED


def test_withdrawal_during_a_session(sim_bound_card: BoundCard) -> None:
    """Applets deleted while a session runs (only the simulator can do that to a running card):
    listed absent, the other version unaffected, the last one gone is a clear error; a new
    instance has a new wrap key and none of the old keys."""
    card = sim_bound_card.connection
    assert isinstance(card, JCardSimConnection)
    material = b"w" * 32
    expected = hmac.new(material, b"data", "sha256").digest()
    with sim_bound_card.connect() as session:
        alg = session.algorithms
        alg.register(A.AID_HMAC_V2)
        new = alg.import_key(A.KEY_HMAC_SHA256, material)
        card.delete_applet(A.AID_HMAC)  # withdraw v1: listed absent, v2 unaffected
        assert by_aid(alg)[A.AID_HMAC].state == A.STATE_ABSENT
        assert alg.mac(new, b"data") == expected
        card.delete_applet(A.AID_HMAC_V2)  # withdraw the last provider: a clear error
        with pytest.raises(A.ProviderUnavailableError) as e:
            alg.mac(new, b"data")
        assert e.value.sw == A.SW_PROVIDER_ABSENT
        assert "withdrawn" in str(e.value)
        assert session.core.echo(b"still here") == b"still here"  # the session lives on
    card.create_applet(A.AID_HMAC_V2)  # a fresh instance (the card restarts, as after GP INSTALL)
    with sim_bound_card.connect() as session:
        alg = session.algorithms
        with pytest.raises(A.KeyNotFoundError):
            alg.mac(new, b"data")
        again = alg.import_key(A.KEY_HMAC_SHA256, material)
        assert alg.mac(again, b"data") == expected


def test_unregistered_algorithm(alg: A.Algorithms) -> None:
    alg.unregister(A.AID_SHA3)
    with pytest.raises(A.ProviderUnavailableError) as e:
        alg.digest(b"x")
    assert e.value.sw == A.SW_PROVIDER_NOT_REGISTERED
    with pytest.raises(A.ProviderUnavailableError):
        alg.register(bytes.fromhex("F074706D6303FF01"))  # nothing installed there
    alg.register(A.AID_SHA3)
    assert len(alg.digest(b"x")) == 32


def test_bad_input_is_refused_and_the_card_keeps_working(alg: A.Algorithms) -> None:
    aes = alg.generate_key(A.KEY_AES_128)
    mac_key = alg.generate_key(A.KEY_HMAC_SHA256)
    with pytest.raises(A.KeyNotFoundError):  # wrong handle
        alg.encrypt(A.KeyHandle(A.ALG_AES_GCM, A.KEY_AES_128, bytes(4)), b"n" * 12, b"x")
    with pytest.raises(A.KeyTypeError):  # a key type the provider does not hold
        alg.call(A.ALG_AES_GCM, A.INS_KEY_GENERATE, p1=A.KEY_HMAC_SHA256)
    with pytest.raises(A.KeyNotFoundError):  # a handle of another provider
        alg.encrypt(A.KeyHandle(A.ALG_AES_GCM, A.KEY_AES_128, mac_key.handle), b"n" * 12, b"x")
    with pytest.raises(A.AlgorithmError) as e:  # wrong nonce length
        alg.encrypt(aes, b"n" * 8, b"x")
    assert e.value.sw == 0x6700
    with pytest.raises(A.AlgorithmError) as e:  # an instruction the provider lacks
        alg.call(A.ALG_SHA3_256, A.INS_SIGN, b"x")
    assert e.value.sw == 0x6D00
    with pytest.raises(A.AlgorithmError) as e:  # truncated AEAD request
        alg.call(
            A.ALG_AES_GCM, A.INS_DECRYPT, aes.handle + b"\x0c" + b"n" * 12 + b"\x00\x00" + b"short"
        )
    assert e.value.sw == 0x6700
    alg.delete_key(aes)
    with pytest.raises(A.KeyNotFoundError):  # deleted key: its handle is dead
        alg.encrypt(aes, b"n" * 12, b"x")
    keys = [alg.generate_key(A.KEY_AES_256) for _ in range(A.KEY_SLOTS)]
    with pytest.raises(A.AlgorithmError) as e:
        alg.generate_key(A.KEY_AES_256)
    assert e.value.sw == A.SW_NO_SPACE
    assert (
        alg.decrypt(keys[0], b"n" * 12, alg.encrypt(keys[0], b"n" * 12, b"still works"))
        == b"still works"
    )


def test_stream_belongs_to_its_session(bound_card: BoundCard) -> None:
    first = bound_card.connect()
    first.algorithms.call(A.ALG_SHA3_256, A.INS_STREAM_INIT, p1=A.INS_DIGEST)
    first.algorithms.call(A.ALG_SHA3_256, A.INS_STREAM_UPDATE, b"abc")
    with bound_card.connect() as second:  # a new secure session (its SELECT ends the first)
        with pytest.raises(A.AlgorithmError) as e:
            second.algorithms.call(A.ALG_SHA3_256, A.INS_STREAM_FINAL, b"")
        assert e.value.sw == A.SW_STREAM_NOT_OPEN
        with pytest.raises(A.AlgorithmError):
            second.algorithms.call(A.ALG_SHA3_256, A.INS_STREAM_UPDATE, b"")  # no INIT
        assert second.algorithms.digest(b"abc") == hashlib.sha3_256(b"abc").digest()
    with pytest.raises(ChannelError):  # the card ended the first session long ago
        first.close()
    # A second stream in a new session is independent.
    with bound_card.connect() as third:
        third.algorithms.call(A.ALG_SHA3_256, A.INS_STREAM_INIT, p1=A.INS_DIGEST)
        third.algorithms.call(A.ALG_SHA3_256, A.INS_STREAM_UPDATE, b"ab")
        final = third.algorithms.call(A.ALG_SHA3_256, A.INS_STREAM_FINAL, b"c")
        assert final == hashlib.sha3_256(b"abc").digest()


def test_providers_refuse_direct_selection(bound_card: BoundCard) -> None:
    """The host cannot bypass the core: a provider selected directly takes no command."""
    link = bound_card.connection
    select = bytes([0x00, 0xA4, 0x04, 0x00, len(A.AID_SHA3)]) + A.AID_SHA3
    link.transmit(select)
    assert link.transmit(b"\x80\x34\x00\x00\x01x")[-2:] == b"\x6d\x00"
    link.reset()


PREFIXES = ("INS_", "SW_", "ALG_", "CAP_", "KEY_", "STATE_")
SIZES = [
    "HANDLE_LENGTH",
    "KEY_SLOTS",
    "MAX_PROVIDER_DATA",
    "DESCRIPTOR_LENGTH",
    "PROVIDER_PARAMETER",
]


def test_constants_match_java_both_ways(
    jvm: None, java_constants: Callable[[str], dict[str, int]]
) -> None:
    constants = jpype.JClass("tpmcard.algorithms.ProviderConstants")
    java = {
        n: v
        for n, v in java_constants("tpmcard.algorithms.ProviderConstants").items()
        if n.startswith(PREFIXES) or n in SIZES
    }
    python = {
        n: v
        for n, v in vars(A).items()
        if (n.startswith(PREFIXES) or n in SIZES) and isinstance(v, int)
    }
    assert len(java) >= 40
    missing = sorted(set(java) - set(python))
    assert not missing, f"in ProviderConstants but not in tpmcard.services.algorithms: {missing}"
    extra = sorted(set(python) - set(java))
    assert not extra, f"in tpmcard.services.algorithms but not in ProviderConstants: {extra}"
    wrong = {
        n: (hex(java[n]), hex(python[n]))
        for n in java
        if python[n] != java[n] & (0xFFFF if python[n] > 0xFF else 0xFF)
    }
    assert not wrong, f"values differ (Java, Python): {wrong}"

    # The card writes AIDs by code (a library package holds no static arrays).
    def java_aid(write: Any, *args: Any) -> bytes:
        buffer = jpype.JArray(jpype.JByte)(int(constants.AID_LENGTH))
        write(*args, buffer, jpype.JShort(0))
        return bytes(bytearray(x & 0xFF for x in buffer))

    providers = {
        "REGISTRY_AID": "PROVIDER_REGISTRY",
        "AID_AES_GCM": "PROVIDER_AES_GCM",
        "AID_SHA3": "PROVIDER_SHA3",
        "AID_HMAC": "PROVIDER_HMAC",
        "AID_CHACHA20_POLY1305": "PROVIDER_CHACHA20_POLY1305",
        "AID_ECDSA_P256": "PROVIDER_ECDSA_P256",
        "AID_HMAC_V2": "PROVIDER_HMAC_V2",
    }
    for name, number in providers.items():
        n = jpype.JByte(getattr(constants, number))
        assert java_aid(constants.writeProviderAid, n) == getattr(A, name), name
    assert java_aid(constants.writeCoreAid) == A.CORE_AID
    assert java_aid(constants.writeMtpmAid) == A.MTPM_AID
    registry = A.REGISTRY_AID
    assert constants.isRegistryAid(registry, jpype.JShort(0), jpype.JByte(len(registry)))
    assert not constants.isRegistryAid(A.AID_SHA3, jpype.JShort(0), jpype.JByte(len(registry)))
    hmac_provider = jpype.JClass("tpmcard.alg.hmac.HmacProvider")
    assert int(hmac_provider.MAX_KEY_LENGTH) == A.HMAC_MAX_KEY_LENGTH


def test_implementation_chosen_at_install(sim_bound_card: BoundCard) -> None:
    """LIST reports what each provider chose at install: GCM and SHA3 native on a card that has
    them (profile full: all of jCardSim), software on a J3R180 (the default profile), which has
    neither; HMAC and ChaCha20-Poly1305 are card code (software); ECDSA is the card's. Made again
    with the software install option, GCM and SHA3 run in card code and agree with cryptography and
    hashlib, bad tags refused."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from .conftest import install_software_providers

    card = sim_bound_card.connection
    assert isinstance(card, JCardSimConnection)
    card_has = "native" if card.profile == "full" else "software"
    expected = {
        A.AID_AES_GCM: card_has,
        A.AID_SHA3: card_has,
        A.AID_HMAC: "software",
        A.AID_CHACHA20_POLY1305: "software",
        A.AID_ECDSA_P256: "native",
    }
    with sim_bound_card.connect() as session:
        listed = {p.aid: p.implementation_name for p in session.algorithms.list()}
    assert listed == expected
    install_software_providers(card, (A.AID_AES_GCM, A.AID_SHA3))
    with sim_bound_card.connect() as session:
        alg = session.algorithms
        listed = {p.aid: p.implementation_name for p in alg.list()}
        assert listed == {**expected, A.AID_AES_GCM: "software", A.AID_SHA3: "software"}
        for n in (0, 1, 135, 136, 137, 1000):
            data = bytes(range(256)) * 4
            assert alg.digest(data[:n]) == hashlib.sha3_256(data[:n]).digest()
        material = bytes(range(32))
        key = alg.import_key(A.KEY_AES_256, material)
        nonce, aad, text = b"n" * 12, b"header", b"software gcm on the card" * 3
        sealed = alg.encrypt(key, nonce, text, aad)
        assert sealed == AESGCM(material).encrypt(nonce, text, aad)
        assert alg.decrypt(key, nonce, sealed, aad) == text
        with pytest.raises(A.VerificationError):
            alg.decrypt(key, nonce, sealed[:-1] + bytes([sealed[-1] ^ 1]), aad)
        alg.delete_key(key)
