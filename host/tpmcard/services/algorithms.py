"""Replaceable on-card algorithms: the registry and its providers (docs/algorithms.md).

A service module. It reaches the card only through a bound session's
``invoke(aid, ins, p1, p2, data) -> bytes`` (the core applet's INVOKE inside secure messaging),
addressed to the registry, which routes to the enabled provider of an algorithm. Keys stay on the
card, named by :class:`KeyHandle`; :meth:`Algorithms.import_key` wraps a host key to the provider's
wrap key (ECDH P-256 + SHA-256 + AES-128-GCM) so it never crosses in clear, even inside the session.
:meth:`Algorithms.import_ec_public_key` imports a verify-only ECDSA public key the same way.

Names of commands, status words and identifiers match ``tpmcard.algorithms.ProviderConstants``
(tests/algorithms/test_constants.py checks them through JPype).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tpmcard import constants as C
from tpmcard import manifest
from tpmcard.ecpoint import load_point, point_bytes
from tpmcard.errors import ApduError, NotSupportedError, ProtocolError, ServiceWindowError
from tpmcard.services.core import Invoker

PROVIDER_PARAMETER = 0x41
# AIDs come from applets/manifest.json, the one list. The registry has no applet of its own:
# the core applet serves it under its package's AID || 01 (docs/algorithms.md §1).
REGISTRY_AID = manifest.load().package("algorithms").aid + b"\x01"
CORE_AID = manifest.applet_aid("core")
# The providers' second client: closures in the mobile TPM (PCALL, docs/closures.md "Providers").
MTPM_AID = manifest.applet_aid("mtpm")
AID_AES_GCM = manifest.applet_aid("aesgcm")
AID_SHA3 = manifest.applet_aid("sha3")
AID_HMAC = manifest.applet_aid("hmac")
AID_CHACHA20_POLY1305 = manifest.applet_aid("chacha")
AID_ECDSA_P256 = manifest.applet_aid("ecdsa")
AID_HMAC_V2 = manifest.applet_aid("hmac-v2")

ALG_AES_GCM = 0x01
ALG_SHA3_256 = 0x02
ALG_HMAC_SHA2 = 0x03
ALG_CHACHA20_POLY1305 = 0x04
ALG_ECDSA_P256_SHA256 = 0x05
ALGORITHM_NAMES = {
    ALG_AES_GCM: "aes-gcm",
    ALG_SHA3_256: "sha3-256",
    ALG_HMAC_SHA2: "hmac-sha2",
    ALG_CHACHA20_POLY1305: "chacha20-poly1305",
    ALG_ECDSA_P256_SHA256: "ecdsa-p256-sha256",
}

CAP_AEAD = 0x0001
CAP_DIGEST = 0x0002
CAP_MAC = 0x0004
CAP_SIGN = 0x0008
CAP_KEY_GENERATE = 0x0010
CAP_KEY_IMPORT = 0x0020
CAP_STREAM = 0x0040
CAPABILITY_NAMES = {
    CAP_AEAD: "aead",
    CAP_DIGEST: "digest",
    CAP_MAC: "mac",
    CAP_SIGN: "sign",
    CAP_KEY_GENERATE: "keygen",
    CAP_KEY_IMPORT: "import",
    CAP_STREAM: "stream",
}
# id | version major | minor | capabilities (2) | max command data (2) | implementation
DESCRIPTOR_LENGTH = 8
# Descriptor byte 7: which implementation the provider chose at install.
IMPLEMENTATION_NATIVE = 0x01
IMPLEMENTATION_SOFTWARE = 0x02
IMPLEMENTATION_NAMES = {IMPLEMENTATION_NATIVE: "native", IMPLEMENTATION_SOFTWARE: "software"}
# Provider install parameters: 32 bytes of entropy and this option byte (bit 0: software even
# where the card has the algorithm). Without it (up to 32 bytes of entropy) the card picks.
INSTALL_OPTION_SOFTWARE = 0x01

INS_LIST = 0x10
INS_REGISTER = 0x12
INS_UNREGISTER = 0x14
INS_ENABLE = 0x16
INS_DISABLE = 0x18
INS_CALL = 0x20

INS_GET_WRAP_KEY = 0x26
INS_KEY_GENERATE = 0x20
INS_KEY_IMPORT = 0x22
INS_KEY_DELETE = 0x24
INS_ENCRYPT = 0x30
INS_DECRYPT = 0x32
INS_DIGEST = 0x34
INS_MAC = 0x36
INS_SIGN = 0x38
INS_VERIFY = 0x3A
INS_STREAM_INIT = 0x40
INS_STREAM_UPDATE = 0x42
INS_STREAM_FINAL = 0x44

STATE_ENABLED = 0x01
STATE_DISABLED = 0x02
STATE_ABSENT = 0x03
STATE_NAMES = {STATE_ENABLED: "enabled", STATE_DISABLED: "disabled", STATE_ABSENT: "absent"}

KEY_AES_128 = 0x01
KEY_AES_256 = 0x02
KEY_HMAC_SHA256 = 0x03
KEY_HMAC_SHA512 = 0x04
KEY_CHACHA20 = 0x05
KEY_EC_P256 = 0x06
KEY_EC_P256_PUBLIC = 0x07  # a public point alone: VERIFY only
# Who made a provider key, the only caller it serves (docs/algorithms.md "Two clients").
KEY_OWNER_CORE = 0x00
KEY_OWNER_MTPM = 0x01
KEY_ALGORITHM = {
    KEY_AES_128: ALG_AES_GCM,
    KEY_AES_256: ALG_AES_GCM,
    KEY_HMAC_SHA256: ALG_HMAC_SHA2,
    KEY_HMAC_SHA512: ALG_HMAC_SHA2,
    KEY_CHACHA20: ALG_CHACHA20_POLY1305,
    KEY_EC_P256: ALG_ECDSA_P256_SHA256,
    KEY_EC_P256_PUBLIC: ALG_ECDSA_P256_SHA256,
}

HANDLE_LENGTH = 4
# Longest HMAC key KEY IMPORT takes (tpmcard.alg.hmac.HmacProvider.MAX_KEY_LENGTH, the wrapped
# import's limit). Keys longer than the hash's block are hashed on the card (RFC 2104 §2).
HMAC_MAX_KEY_LENGTH = 128
KEY_SLOTS = 4
MAX_PROVIDER_DATA = 4000
REGISTRY_ENTRIES = 8
MAX_AID_LENGTH = 16
WRAP_NONCE_LENGTH = 12
WRAP_TAG_LENGTH = 16
AEAD_TAG_LENGTH = 16
AEAD_NONCE_LENGTH = 12
# VERIFY sends the MAC or signature after a one-byte length. Nothing longer can be valid: MACs
# are at most 64 bytes, and a DER ECDSA P-256 signature at most 72.
MAX_VERIFY_TAG_LENGTH = 255
WRAP_LABEL = b"tpmcard alg wrap"

SW_VERIFICATION_FAILED = 0x6300
SW_PROVIDER_DISABLED = 0x6A81
SW_PROVIDER_ABSENT = 0x6A82
SW_PROVIDER_NOT_REGISTERED = 0x6A83
SW_KEY_NOT_FOUND = 0x6A88
SW_KEY_TYPE_MISMATCH = 0x6981
SW_NO_SPACE = 0x6A84
SW_STREAM_NOT_OPEN = 0x6985


class AlgorithmError(ApduError):
    """A registry or provider refusal, with its status word (``.sw``)."""


class ProviderUnavailableError(AlgorithmError):
    """No enabled provider answers for the algorithm: disabled, withdrawn or never registered."""


class KeyNotFoundError(AlgorithmError):
    """The handle names no key of the provider now serving the algorithm (deleted, or the provider
    was replaced: keys do not move between provider versions)."""


class KeyTypeError(AlgorithmError):
    """The key exists but is of another type than the operation needs."""


class VerificationError(AlgorithmError):
    """Bad AEAD tag, MAC, signature or wrapped key; no plaintext was returned."""


_MESSAGES = {
    SW_PROVIDER_DISABLED: (
        ProviderUnavailableError,
        "the provider is disabled; `tpmcard alg enable` it",
    ),
    SW_PROVIDER_ABSENT: (
        ProviderUnavailableError,
        "the provider applet is withdrawn (not on the card); "
        "install and register a provider for it",
    ),
    SW_PROVIDER_NOT_REGISTERED: (
        ProviderUnavailableError,
        "no provider is registered for this algorithm",
    ),
    SW_KEY_NOT_FOUND: (
        KeyNotFoundError,
        "no such key on the provider (deleted, or the provider was replaced)",
    ),
    SW_KEY_TYPE_MISMATCH: (KeyTypeError, "the key's type does not fit this operation"),
    SW_VERIFICATION_FAILED: (
        VerificationError,
        "verification failed (tag, MAC, signature or wrapped key)",
    ),
    SW_NO_SPACE: (AlgorithmError, "no free key slot or registry entry; delete one first"),
    SW_STREAM_NOT_OPEN: (AlgorithmError, "no stream open in this session; start with init"),
}


def _translate(error: ApduError) -> ApduError:
    kind, message = _MESSAGES.get(error.sw, (AlgorithmError, None))
    return kind(error.sw, error.data, f"{message} (SW={error.sw:04X})" if message else None)


@dataclass(frozen=True)
class ProviderInfo:
    """One registry entry (LIST)."""

    aid: bytes
    state: int
    algorithm: int | None = None
    version: tuple[int, int] | None = None
    capabilities: int = 0
    max_data: int = 0
    implementation: int | None = None

    @property
    def enabled(self) -> bool:
        return self.state == STATE_ENABLED

    @property
    def name(self) -> str:
        if self.algorithm is None:
            return "?"
        return ALGORITHM_NAMES.get(self.algorithm, f"alg-{self.algorithm:02x}")

    @property
    def implementation_name(self) -> str | None:
        """``"native"`` (the card's own algorithm) or ``"software"`` (card code over the card's
        primitives), as the provider chose at install; None for an absent provider."""
        if self.implementation is None:
            return None
        return IMPLEMENTATION_NAMES.get(self.implementation, f"unknown-{self.implementation:02x}")

    @property
    def capability_names(self) -> list[str]:
        return [n for bit, n in CAPABILITY_NAMES.items() if self.capabilities & bit]

    @classmethod
    def from_descriptor(cls, aid: bytes, state: int, d: bytes) -> ProviderInfo:
        if not d:
            return cls(aid, state)
        if len(d) != DESCRIPTOR_LENGTH:
            raise ProtocolError(
                f"provider descriptor of {len(d)} bytes, expected {DESCRIPTOR_LENGTH}"
            )
        return cls(
            aid,
            state,
            d[0],
            (d[1], d[2]),
            int.from_bytes(d[3:5], "big"),
            int.from_bytes(d[5:7], "big"),
            d[7],
        )


@dataclass(frozen=True)
class KeyHandle:
    """A card-held key: the provider's handle, never the key. ``public_key`` (04||X||Y) for EC."""

    algorithm: int
    key_type: int
    handle: bytes
    public_key: bytes | None = None


def parse_list(data: bytes) -> list[ProviderInfo]:
    out: list[ProviderInfo] = []
    i = 0
    try:
        while i < len(data):
            state, n = data[i], data[i + 1]
            aid = data[i + 2 : i + 2 + n]
            i += 2 + n
            d = data[i + 1 : i + 1 + data[i]]
            i += 1 + data[i]
            if len(aid) != n:
                raise IndexError
            out.append(ProviderInfo.from_descriptor(aid, state, d))
    except IndexError:
        raise ProtocolError("truncated registry list") from None
    return out


def wrap_key(card_wrap_key: bytes, algorithm: int, key_type: int, key: bytes) -> bytes:
    """Wrap a key for a provider (docs/algorithms.md §4): E | nonce | AES-128-GCM(KEK) | tag."""
    card = load_point(card_wrap_key)
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    z = ephemeral.exchange(ec.ECDH(), card)
    kek = hashlib.sha256(z + WRAP_LABEL).digest()[:16]
    e = point_bytes(ephemeral)
    nonce = os.urandom(WRAP_NONCE_LENGTH)
    return e + nonce + AESGCM(kek).encrypt(nonce, key, bytes([algorithm, key_type]) + e)


# A provider's data and its answer share the card's service window (the registry drops the two
# parameter bytes of CALL first). A digest/MAC/sign command needs besides its message a key handle
# (4) and room for the longest answer (a 72-byte DER signature); the message gets the rest.
# Verification answers nothing but carries its tag instead (see _verify).
LONGEST_ANSWER = 72
STREAM_OVERHEAD = HANDLE_LENGTH + LONGEST_ANSWER


class Algorithms:
    """The registry and providers, through a bound session (``session.algorithms``).

    Every command and its answer share the card's service window (``session.service_window``,
    SELECT tag 85; docs/core-applet.md): digests, MACs and signatures over longer messages are
    streamed in parts of ``chunk`` bytes; AEAD is one-shot and limited by :meth:`max_aead_text`.
    """

    def __init__(self, session: Invoker, chunk: int | None = None) -> None:
        self._session = session
        self.window: int = getattr(session, "service_window", C.SERVICE_WINDOW_MAX)
        limit = min(MAX_PROVIDER_DATA, self.window) - STREAM_OVERHEAD
        if limit < 1:
            raise NotSupportedError(
                f"the card's service window of {self.window} bytes is too small for the providers"
            )
        self.chunk = limit if chunk is None else min(chunk, limit)

    # ---- registry ----

    def _registry(self, ins: int, data: bytes = b"", p1: int = 0, p2: int = 0) -> bytes:
        try:
            return self._session.invoke(REGISTRY_AID, ins, p1, p2, data)
        except ApduError as e:
            raise _translate(e) from e

    def list(self) -> list[ProviderInfo]:
        return parse_list(self._registry(INS_LIST))

    def register(self, aid: bytes) -> ProviderInfo:
        """Register (or re-register) the provider at aid.

        It becomes the enabled provider of its algorithm.
        """
        return ProviderInfo.from_descriptor(aid, STATE_ENABLED, self._registry(INS_REGISTER, aid))

    def unregister(self, aid: bytes) -> None:
        self._registry(INS_UNREGISTER, aid)

    def enable(self, aid: bytes) -> None:
        self._registry(INS_ENABLE, aid)

    def disable(self, aid: bytes) -> None:
        self._registry(INS_DISABLE, aid)

    def call(self, algorithm: int, ins: int, data: bytes = b"", p1: int = 0, p2: int = 0) -> bytes:
        """One provider command through the registry (CALL)."""
        return self._registry(INS_CALL, bytes([p1, p2]) + data, algorithm, ins)

    # ---- keys ----

    def generate_key(self, key_type: int) -> KeyHandle:
        algorithm = KEY_ALGORITHM[key_type]
        r = self.call(algorithm, INS_KEY_GENERATE, p1=key_type)
        return KeyHandle(algorithm, key_type, r[:HANDLE_LENGTH], r[HANDLE_LENGTH:] or None)

    def wrap_key_of(self, algorithm: int) -> bytes:
        return self.call(algorithm, INS_GET_WRAP_KEY)

    def import_key(self, key_type: int, key: bytes) -> KeyHandle:
        """Import a host key, wrapped to the provider's wrap key. EC: key = d (32) || 04 X Y."""
        algorithm = KEY_ALGORITHM[key_type]
        blob = wrap_key(self.wrap_key_of(algorithm), algorithm, key_type, key)
        r = self.call(algorithm, INS_KEY_IMPORT, blob, p1=key_type)
        return KeyHandle(algorithm, key_type, r[:HANDLE_LENGTH], r[HANDLE_LENGTH:] or None)

    def import_ec_public_key(self, public_key: bytes | ec.EllipticCurvePublicKey) -> KeyHandle:
        """Import a P-256 public key for :meth:`verify` only (key type ``KEY_EC_P256_PUBLIC``).

        ``public_key`` is the uncompressed point ``04 || X || Y`` (65 bytes; SEC 1 §2.3.3) or a
        ``cryptography`` P-256 public key. The card checks the point with its own API and refuses
        one off P-256 (:class:`AlgorithmError`, SW 6A80). :meth:`sign` with the handle raises
        :class:`KeyTypeError`. A public key is no secret. It still travels wrapped, because the
        provider's one import path unwraps every key (docs/algorithms.md §4).
        """
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            if not isinstance(public_key.curve, ec.SECP256R1):
                raise ValueError(f"a P-256 public key is needed, not {public_key.curve.name}")
            point = point_bytes(public_key)
        else:
            point = bytes(public_key)
        if len(point) != C.EC_POINT_LENGTH or point[0] != 0x04:
            raise ValueError(
                f"an uncompressed P-256 point is 04 || X || Y ({C.EC_POINT_LENGTH} bytes); "
                "decompress the point or pass a cryptography public key"
            )
        return self.import_key(KEY_EC_P256_PUBLIC, point)

    def import_ec_key(self, private_key: ec.EllipticCurvePrivateKey) -> KeyHandle:
        d = private_key.private_numbers().private_value.to_bytes(32, "big")
        w = point_bytes(private_key)
        return self.import_key(KEY_EC_P256, d + w)

    def delete_key(self, key: KeyHandle) -> None:
        self.call(key.algorithm, INS_KEY_DELETE, key.handle)

    # ---- operations ----

    def _aead(self, ins: int, key: KeyHandle, nonce: bytes, text: bytes, aad: bytes) -> bytes:
        data = key.handle + bytes([len(nonce)]) + nonce + len(aad).to_bytes(2, "big") + aad + text
        tag = AEAD_TAG_LENGTH
        answer = len(text) + tag if ins == INS_ENCRYPT else max(0, len(text) - tag)
        needed = len(data) + answer
        if needed > min(MAX_PROVIDER_DATA, self.window):
            # One-shot by design (no plaintext before the tag is checked): data and answer
            # must both fit the window. Refused here, before the card sees it.
            raise ServiceWindowError(needed, self.window, "this one-shot AEAD call")
        return self.call(key.algorithm, ins, data)

    def max_aead_text(self, aad: bytes = b"") -> int:
        """Largest plaintext for one AEAD encryption: AEAD is one-shot, not streamed
        (docs/algorithms.md §5), and the request (text) and answer (text + tag) share the
        card's service window, so the text gets about half of it."""
        request = HANDLE_LENGTH + 1 + AEAD_NONCE_LENGTH + 2 + len(aad)
        budget = min(MAX_PROVIDER_DATA, self.window) - request - AEAD_TAG_LENGTH
        return max(0, budget // 2)

    def encrypt(self, key: KeyHandle, nonce: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
        """AEAD encryption: ciphertext || 16-byte tag."""
        return self._aead(INS_ENCRYPT, key, nonce, plaintext, aad)

    def decrypt(self, key: KeyHandle, nonce: bytes, ciphertext: bytes, aad: bytes = b"") -> bytes:
        """AEAD decryption; a bad tag raises :class:`VerificationError` and returns nothing."""
        return self._aead(INS_DECRYPT, key, nonce, ciphertext, aad)

    def digest(self, data: bytes, algorithm: int = ALG_SHA3_256) -> bytes:
        if len(data) <= self.chunk:
            return self.call(algorithm, INS_DIGEST, data)
        return self._stream(algorithm, INS_DIGEST, b"", data, b"")

    def mac(self, key: KeyHandle, data: bytes) -> bytes:
        if len(data) <= self.chunk:
            return self.call(key.algorithm, INS_MAC, key.handle + data)
        return self._stream(key.algorithm, INS_MAC, key.handle, data, b"")

    def verify_mac(self, key: KeyHandle, data: bytes, mac: bytes) -> bool:
        return self._verify(key, data, mac)

    def sign(self, key: KeyHandle, data: bytes) -> bytes:
        """ECDSA P-256 SHA-256 over data; X9.62 DER signature."""
        if len(data) <= self.chunk:
            return self.call(key.algorithm, INS_SIGN, key.handle + data)
        return self._stream(key.algorithm, INS_SIGN, key.handle, data, b"")

    def verify(self, key: KeyHandle, data: bytes, signature: bytes) -> bool:
        """ECDSA verification of a DER signature with a key pair or a public key (the card's
        answer). A signature that is not strict DER, or has r or s outside [1, n-1], is refused
        like a wrong one: False."""
        return self._verify(key, data, signature)

    def _verify(self, key: KeyHandle, data: bytes, tag: bytes) -> bool:
        if len(tag) > MAX_VERIFY_TAG_LENGTH or HANDLE_LENGTH + 1 + len(tag) > self.window:
            # The command cannot carry it (one byte of length; the service window), and no
            # valid MAC (64 bytes at most) or DER signature (72) is this long.
            return False
        prefix = bytes([len(tag)]) + tag
        try:
            if HANDLE_LENGTH + len(prefix) + len(data) <= min(MAX_PROVIDER_DATA, self.window):
                self.call(key.algorithm, INS_VERIFY, key.handle + prefix + data)
            else:
                self._stream(key.algorithm, INS_VERIFY, key.handle, data, prefix)
        except VerificationError:
            return False
        return True

    def _stream(
        self, algorithm: int, op: int, init: bytes, data: bytes, final_prefix: bytes
    ) -> bytes:
        """INIT, UPDATE per chunk, FINAL with the prefix and what still fits beside it: for data
        longer than one command (each command and its answer within the service window)."""
        self.call(algorithm, INS_STREAM_INIT, init, p1=op)
        room = min(self.chunk, min(MAX_PROVIDER_DATA, self.window) - len(final_prefix))
        # FINAL takes the last, partial chunk when it fits beside the prefix (a verify tag).
        rest = (len(data) - 1) % self.chunk + 1 if data else 0
        tail = rest if rest <= room else 0
        body = len(data) - tail
        for offset in range(0, body, self.chunk):
            self.call(algorithm, INS_STREAM_UPDATE, data[offset : min(offset + self.chunk, body)])
        return self.call(algorithm, INS_STREAM_FINAL, final_prefix + data[body:])

    def stream(
        self, algorithm: int, op: int, chunks: Iterable[bytes], key: KeyHandle | None = None
    ) -> bytes:
        """Digest/MAC/sign an iterable of chunks without holding the message whole.

        Each chunk is at most ``self.chunk`` bytes.
        """
        self.call(algorithm, INS_STREAM_INIT, key.handle if key else b"", p1=op)
        pending = b""
        for c in chunks:
            if pending:
                self.call(algorithm, INS_STREAM_UPDATE, pending)
            pending = c
        return self.call(algorithm, INS_STREAM_FINAL, pending)
