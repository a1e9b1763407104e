"""A pure-Python model of the card side of the binding (docs/binding.md), for host tests.

It mirrors applets/src/main/java/tpmcard/core/BindingHandler.java step by step (same checks, same
order, same status words), so the host library can be tested without a card and the Java code
can be compared with it byte for byte. It deliberately does not import the host's channel
package: its crypto is written against the document, with ``cryptography`` primitives only.

Card state: persistent (PIN/PUK counters, pairing slots, identity key) survives ``reset()``;
transient (challenge, pending handshake, session) does not.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import cmac, hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from tpmcard.apdu import CheckedProcessor

# Status words.
SW_OK = 0x9000
SW_WRONG_LENGTH = 0x6700
SW_SECURITY = 0x6982
SW_BLOCKED = 0x6983
SW_CONDITIONS = 0x6985
SW_CA_KEY_PRESENT = 0x6985
SW_AK_CERTIFICATE_REFUSED = 0x6985
SW_WRONG_DATA = 0x6A80
SW_FULL = 0x6A84
SW_WRONG_P1P2 = 0x6A86
SW_NOT_FOUND = 0x6A88
SW_EXISTS = 0x6A89
SW_INS = 0x6D00
SW_CLA = 0x6E00

SLOTS = 8
PCR_SESSION = 9
#: The unit tests' attestation CA (docs/binding.md §8): a fixed key, installed on every model
#: card unless the test says otherwise (``ca_point=None``: a card not personalised).
TEST_CA = ec.derive_private_key(
    int.from_bytes(hashlib.sha256(b"tpmcard unit-test attestation CA").digest(), "big"),
    ec.SECP256R1(),
)


class CardError(Exception):
    def __init__(self, sw: int) -> None:
        self.sw = sw
        super().__init__(f"{sw:04X}")


def _fail(sw: int) -> CardError:
    return CardError(sw)


def sha256(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


def x963(z: bytes, info: bytes, n: int) -> bytes:
    return X963KDF(algorithm=hashes.SHA256(), length=n, sharedinfo=info).derive(z)


def aes_cmac(key: bytes, data: bytes) -> bytes:
    c = cmac.CMAC(algorithms.AES(key))
    c.update(data)
    return c.finalize()


def aes_block(key: bytes, block: bytes) -> bytes:
    e = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305
    return e.update(block) + e.finalize()


def cbc(key: bytes, iv: bytes, data: bytes, encrypt: bool) -> bytes:
    c = Cipher(algorithms.AES(key), modes.CBC(iv))
    op = c.encryptor() if encrypt else c.decryptor()
    return op.update(data) + op.finalize()


def pad(data: bytes) -> bytes:
    data += b"\x80"
    return data + bytes(-len(data) % 16)


def unpad(data: bytes) -> bytes:
    i = len(data) - 1
    while i >= 0 and data[i] == 0:
        i -= 1
    if i < 0 or data[i] != 0x80 or len(data) - i > 16:
        raise _fail(SW_SECURITY)
    return data[:i]


def point(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def ecdh(key: ec.EllipticCurvePrivateKey, peer: bytes, sw: int = SW_SECURITY) -> bytes:
    if len(peer) != 65 or peer[0] != 4:
        raise _fail(sw)
    try:
        pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), peer)
    except ValueError:
        raise _fail(sw) from None
    return key.exchange(ec.ECDH(), pub)


def tlv_header(tag: int, n: int) -> bytes:
    if n < 0x80:
        return bytes([tag, n])
    if n < 0x100:
        return bytes([tag, 0x81, n])
    return bytes([tag, 0x82]) + n.to_bytes(2, "big")


class Reader:
    """Strict TLV reader: each field must come in order with its tag; 6A80 (or ``sw``) otherwise."""

    def __init__(self, data: bytes, sw: int = SW_WRONG_DATA) -> None:
        self.data, self.off, self.sw = data, 0, sw

    def take(self, tag: int, length: int | None = None) -> bytes:
        d, o = self.data, self.off
        if o + 2 > len(d) or d[o] != tag:
            raise _fail(self.sw)
        n, o = d[o + 1], o + 2
        if n == 0x81:
            if o >= len(d):
                raise _fail(self.sw)
            n, o = d[o], o + 1
        elif n == 0x82:
            if o + 2 > len(d):
                raise _fail(self.sw)
            n, o = int.from_bytes(d[o : o + 2], "big"), o + 2
        elif n > 0x7F:
            raise _fail(self.sw)
        if o + n > len(d) or (length is not None and n != length):
            raise _fail(self.sw)
        self.off = o + n
        return d[o : o + n]

    def end(self) -> None:
        if self.off != len(self.data):
            raise _fail(self.sw)


# --- TPM structures, as TpmAttest.java reads them ------------------------------------------------
class Tpm:
    FIXED_TPM, FIXED_PARENT, SDO, USER_WITH_AUTH = 0x2, 0x10, 0x20, 0x40
    RESTRICTED, DECRYPT, SIGN = 0x10000, 0x20000, 0x40000


@dataclass
class PublicArea:
    attributes: int
    auth_policy: bytes
    scheme: int
    scheme_hash: int
    point: bytes


def parse_public(raw: bytes) -> PublicArea:
    """TPMT_PUBLIC: P-256, SHA-256 names, NULL symmetric and KDF (Part 2 §12.2.4)."""
    try:
        o = 0
        type_, name_alg, attrs = struct.unpack_from(">HHI", raw, o)
        o += 8
        (n,) = struct.unpack_from(">H", raw, o)
        if n > 64:
            raise _fail(SW_WRONG_DATA)
        policy = raw[o + 2 : o + 2 + n]
        o += 2 + n
        sym, scheme = struct.unpack_from(">HH", raw, o)
        o += 4
        scheme_hash = 0
        if scheme != 0x0010:
            (scheme_hash,) = struct.unpack_from(">H", raw, o)
            o += 2
        curve, kdf, xn = struct.unpack_from(">HHH", raw, o)
        o += 6
        x = raw[o : o + 32]
        o += 32
        (yn,) = struct.unpack_from(">H", raw, o)
        y = raw[o + 2 : o + 34]
        o += 34
    except struct.error:
        raise _fail(SW_WRONG_DATA) from None
    if (type_, name_alg, sym, curve, kdf, xn, yn) != (0x23, 0x0B, 0x10, 0x03, 0x10, 32, 32):
        raise _fail(SW_WRONG_DATA)
    if o != len(raw) or len(policy) != n:
        raise _fail(SW_WRONG_DATA)
    return PublicArea(attrs, policy, scheme, scheme_hash, b"\x04" + x + y)


@dataclass
class Attest:
    type: int
    extra: bytes
    body: bytes  # the attested union
    clock: bytes = b""  # TPMS_CLOCK_INFO, 17 bytes


def parse_attest(raw: bytes, sw: int) -> Attest:
    try:
        magic, type_ = struct.unpack_from(">IH", raw, 0)
        o = 6
        (n,) = struct.unpack_from(">H", raw, o)  # qualifiedSigner: not checked
        o += 2 + n
        (n,) = struct.unpack_from(">H", raw, o)
        if n > 64 or o + 2 + n > len(raw):
            raise _fail(sw)
        extra = raw[o + 2 : o + 2 + n]
        clock = raw[o + 2 + n : o + 2 + n + 17]
        o += 2 + n + 17 + 8  # clockInfo, firmwareVersion
    except struct.error:
        raise _fail(sw) from None
    if magic != 0xFF544347 or o > len(raw):
        raise _fail(sw)
    return Attest(type_, extra, raw[o:], clock)


def policy_digest(selection: bytes, pcr_digest: bytes, options: int) -> bytes:
    d = sha256(bytes(32), struct.pack(">IIHB", 0x17F, 1, 0x0B, 3), selection, pcr_digest)
    return sha256(d, struct.pack(">I", 0x16B)) if options & 1 else d


def indices(bitmap: bytes) -> list[int]:
    return [i for i in range(24) if bitmap[i // 8] >> (i % 8) & 1]


def ecdsa_ok(point_: bytes, sig: bytes, data: bytes) -> bool:
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point_)
    try:
        key.verify(sig, data, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


# --- card state --------------------------------------------------------------------------------
@dataclass
class Counter:
    """OwnerPIN as the card uses it: the try counter goes down BEFORE the comparison."""

    value: bytes
    limit: int
    tries: int = -1

    def __post_init__(self) -> None:
        self.tries = self.limit

    def check(self, candidate: bytes) -> None:
        if self.tries == 0:
            raise _fail(SW_BLOCKED)
        self.tries -= 1
        if hmac.compare_digest(candidate, self.value):
            self.tries = self.limit
            return
        raise _fail(0x63C0 | self.tries) if self.tries else _fail(SW_BLOCKED)


@dataclass
class Slot:
    binding_name: bytes
    binding_point: bytes
    ak_point: bytes
    selection: bytes
    options: int
    pcr_digest: bytes
    secret: bytes


@dataclass
class Session:
    enc: bytes
    mac: bytes
    rmac: bytes
    chain: bytes
    counter: int = 0
    pcrs: dict[int, bytes] = field(default_factory=dict)
    clock: bytes = b""  # the quote's TPMS_CLOCK_INFO, as SessionRecord keeps it

    def unwrap(self, cla: int, ins: int, p1: int, p2: int, data: bytes) -> bytes:
        self.counter += 1
        if len(data) < 8 or (len(data) - 8) % 16 or len(data) > 4096 + 24:
            raise _fail(SW_SECURITY)
        ct, mac = data[:-8], data[-8:]
        header = bytes([cla & ~0x10 & 0xFF, ins, p1, p2]) + len(data).to_bytes(2, "big")
        full = aes_cmac(self.mac, self.chain + header + ct)
        if not hmac.compare_digest(full[:8], mac):
            raise _fail(SW_SECURITY)
        self.chain = full
        if not ct:
            return b""
        iv = aes_block(self.enc, self.counter.to_bytes(16, "big"))
        return unpad(cbc(self.enc, iv, ct, encrypt=False))

    def wrap(self, payload: bytes, sw: int) -> bytes:
        iv = aes_block(self.enc, b"\x80" + self.counter.to_bytes(15, "big"))
        ct = cbc(self.enc, iv, pad(payload + sw.to_bytes(2, "big")), encrypt=True)
        return ct + aes_cmac(self.rmac, self.chain + ct + b"\x90\x00")[:8]


@dataclass
class Handshake:
    slot: int
    th1: bytes
    card_hello: bytes
    keys: bytes


class CardModel(CheckedProcessor):
    """The card. ``random(n)`` and ``ephemeral()`` can be fixed for known-answer tests."""

    def __init__(
        self,
        identity: ec.EllipticCurvePrivateKey | None = None,
        *,
        pin: bytes = b"123456",
        puk: bytes = b"12345678",
        random: Callable[[int], bytes] = os.urandom,
        ephemerals: Iterator[ec.EllipticCurvePrivateKey] | None = None,
        ca_point: bytes | None = b"default",
    ) -> None:
        self.ca_point = point(TEST_CA) if ca_point == b"default" else ca_point
        self.identity = identity or ec.generate_private_key(ec.SECP256R1())
        self.identity_point = point(self.identity)
        self.pin = Counter(pin, 3)
        self.puk = Counter(puk, 5)
        self.slots: list[Slot | None] = [None] * SLOTS
        self.random = random
        self.ephemerals = ephemerals
        self.reset()

    # transient state
    def reset(self) -> None:
        """Power cycle / deselect: transient memory cleared."""
        self.challenge: bytes | None = None
        self.handshake: Handshake | None = None
        self.session: Session | None = None

    def send(
        self, cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = 0
    ) -> tuple[bytes, int]:
        return self.process(cla, ins, p1, p2, bytes(data))

    def process(self, cla: int, ins: int, p1: int, p2: int, data: bytes) -> tuple[bytes, int]:
        # BindingHandler.beginCommand: a challenge and a pending handshake live for one command.
        challenge, self.challenge = self.challenge, None
        handshake, self.handshake = self.handshake, None
        if cla & 0x04:
            session = self.session
            if session is None:
                return b"", SW_SECURITY
            try:
                plain = session.unwrap(cla, ins, p1, p2, data)
            except CardError:
                self.session = None
                return b"", SW_SECURITY
            try:
                out, sw = (
                    self.dispatch(cla & ~0x04, ins, p1, p2, plain, challenge, None, True),
                    SW_OK,
                )
            except CardError as e:
                out, sw = b"", e.sw
            wrapped = session.wrap(out, sw)
            if ins == 0x5A and sw == SW_OK:
                self.session = None
            return wrapped, SW_OK
        if self.session is not None and ins != 0x56:
            self.session = None
            return b"", SW_SECURITY
        try:
            return self.dispatch(cla, ins, p1, p2, data, challenge, handshake, False), SW_OK
        except CardError as e:
            return b"", e.sw

    def dispatch(
        self,
        cla: int,
        ins: int,
        p1: int,
        p2: int,
        data: bytes,
        challenge: bytes | None,
        handshake: Handshake | None,
        secured: bool,
    ) -> bytes:
        iso = {0x84: self.get_challenge, 0x20: self.verify, 0xCA: self.get_data}
        proprietary = {
            0x24: self.change_reference_data,
            0x2C: self.reset_retry_counter,
            0x50: self.pair,
            0x52: self.list_pairings,
            0x54: self.unpair,
            0xDA: self.put_data,
            0xEE: self.echo,
        }
        if ins in iso:
            if cla & 0xEF != 0x00:
                raise _fail(SW_CLA)
            return iso[ins](p1, p2, data, challenge)
        if ins in proprietary:
            if cla & 0xEF != 0x80:
                raise _fail(SW_CLA)
            return proprietary[ins](p1, p2, data, challenge)
        if ins in (0x56, 0x58, 0x5A):
            if cla & 0xEF != 0x80:
                raise _fail(SW_CLA)
            if ins == 0x5A:
                if not secured:
                    raise _fail(SW_CONDITIONS)
                return b""
            if secured:
                raise _fail(SW_CONDITIONS)
            if ins == 0x56:
                self.session = None
                return self.session_init(p1, p2, data)
            return self.session_auth(p1, p2, data, handshake)
        raise _fail(SW_INS)

    # --- plain commands ---
    def get_challenge(self, p1: int, p2: int, data: bytes, _: bytes | None) -> bytes:
        if p1 or p2:
            raise _fail(SW_WRONG_P1P2)
        if data:
            raise _fail(SW_WRONG_LENGTH)
        self.challenge = self.random(32)
        return self.challenge

    def get_data(self, p1: int, p2: int, data: bytes, _: bytes | None) -> bytes:
        if (p1, p2) != (0x7F, 0x49):
            raise _fail(SW_NOT_FOUND)
        return b"\x7f\x49\x43\x86\x41" + self.identity_point

    def echo(self, p1: int, p2: int, data: bytes, _: bytes | None) -> bytes:
        return data

    def verify(self, p1: int, p2: int, data: bytes, _: bytes | None) -> bytes:
        counter = self._reference(p1, p2)
        if data:
            raise _fail(SW_WRONG_DATA)
        raise _fail(0x63C0 | counter.tries) if counter.tries else _fail(SW_BLOCKED)

    def _reference(self, p1: int, p2: int) -> Counter:
        if p1 != 0 or p2 not in (0x80, 0x81):
            raise _fail(SW_WRONG_P1P2)
        return self.pin if p2 == 0x80 else self.puk

    # --- PIN cryptogram ---
    def _open_pin_block(
        self,
        ins: int,
        p1: int,
        p2: int,
        data: bytes,
        r: Reader,
        challenge: bytes | None,
        count: int,
    ) -> tuple[list[bytes], bytes]:
        """Reads C9 (host ephemeral) and CA (cryptogram) at the reader's position; returns the
        secrets and the receipt key. 6982 for anything wrong with the cryptogram itself."""
        context = data[: r.off]
        eph = r.take(0xC9, 65)
        crypto = r.take(0xCA)
        r.end()
        if challenge is None or not 32 <= len(crypto) <= 64 or len(crypto) % 16:
            raise _fail(SW_SECURITY)
        z = ecdh(self.identity, eph)
        info = (
            b"tpmcard pin v1"
            + challenge
            + bytes([ins, p1, p2])
            + eph
            + self.identity_point
            + sha256(context)
        )
        keys = x963(z, info, 48)
        ct, mac = crypto[:-16], crypto[-16:]
        if not hmac.compare_digest(aes_cmac(keys[16:32], ct), mac):
            raise _fail(SW_SECURITY)
        block = cbc(keys[:16], bytes(16), ct, encrypt=False)
        secrets, o = [], 0
        for _ in range(count):
            n = block[o]
            if not 1 <= n <= 16 or len(block) - o < n + 2:
                raise _fail(SW_WRONG_DATA)
            secrets.append(block[o + 1 : o + 1 + n])
            o += 1 + n
        if block[o] != 0x80 or len(block) - o > 16 or any(block[o + 1 :]):
            raise _fail(SW_WRONG_DATA)
        return secrets, keys[32:48]

    @staticmethod
    def _receipt(key: bytes, prefix: bytes) -> bytes:
        return prefix + tlv_header(0xCD, 16) + aes_cmac(key, prefix)

    def change_reference_data(
        self, p1: int, p2: int, data: bytes, challenge: bytes | None
    ) -> bytes:
        counter = self._reference(p1, p2)
        (old, new), receipt = self._open_pin_block(0x24, p1, p2, data, Reader(data), challenge, 2)
        if not (4 if p2 == 0x80 else 8) <= len(new) <= 16:
            raise _fail(SW_WRONG_DATA)
        counter.check(old)
        counter.value = new
        return self._receipt(receipt, b"")

    def reset_retry_counter(self, p1: int, p2: int, data: bytes, challenge: bytes | None) -> bytes:
        if p1 != 0 or p2 != 0x80:
            raise _fail(SW_WRONG_P1P2)
        (puk, new), receipt = self._open_pin_block(0x2C, p1, p2, data, Reader(data), challenge, 2)
        if not 4 <= len(new) <= 16:
            raise _fail(SW_WRONG_DATA)
        self.puk.check(puk)
        self.pin.value, self.pin.tries = new, self.pin.limit
        return self._receipt(receipt, b"")

    # --- pairing ---
    def put_data(self, p1: int, p2: int, data: bytes, challenge: bytes | None) -> bytes:
        """Installs the attestation CA key: the PIN only while none is installed, or the PUK."""
        if p1 or p2 not in (0x80, 0x81):
            raise _fail(SW_WRONG_P1P2)
        r = Reader(data)
        ca = r.take(0xD4, 65)
        if ca[0] != 4:
            raise _fail(SW_WRONG_DATA)
        if p2 == 0x80 and self.ca_point is not None:
            raise _fail(SW_CA_KEY_PRESENT)
        (secret,), receipt = self._open_pin_block(0xDA, p1, p2, data, r, challenge, 1)
        (self.pin if p2 == 0x80 else self.puk).check(secret)
        self.ca_point = ca
        return self._receipt(receipt, b"")

    def _check_ak_certificate(self, signed: bytes, signature: bytes, ak_raw: bytes) -> None:
        r = Reader(Reader(signed).take(0xD1))
        if r.take(0x80, 1) != b"\x01":
            raise _fail(SW_WRONG_DATA)
        r.take(0x81, 8)
        ak_point = r.take(0x82, 65)
        ak_name = r.take(0x83, 34)
        r.take(0x84, 32)
        r.take(0x85, 8)
        r.take(0x86, 8)
        r.end()
        if ak_point != parse_public(ak_raw).point or ak_name != b"\x00\x0b" + sha256(ak_raw):
            raise _fail(SW_AK_CERTIFICATE_REFUSED)
        assert self.ca_point is not None
        if not ecdsa_ok(self.ca_point, signature, signed):
            raise _fail(SW_AK_CERTIFICATE_REFUSED)

    def pair(self, p1: int, p2: int, data: bytes, challenge: bytes | None) -> bytes:
        if p1 or p2:
            raise _fail(SW_WRONG_P1P2)
        if self.ca_point is None:
            raise _fail(SW_NOT_FOUND)
        r = Reader(data)
        binding_raw = r.take(0xC1)
        ak_raw = r.take(0xC2)
        selection = r.take(0xC3, 3)
        pcr_digest = r.take(0xC4, 32)
        options = r.take(0xC5, 1)[0]
        attest_raw = r.take(0xC6)
        sig = r.take(0xC7)
        start = r.off
        r.take(0xD1)
        signed = data[start : r.off]
        certificate_signature = r.take(0xD2)
        binding = parse_public(binding_raw)
        ak = parse_public(ak_raw)
        required = Tpm.FIXED_TPM | Tpm.FIXED_PARENT | Tpm.SDO | Tpm.DECRYPT
        forbidden = Tpm.USER_WITH_AUTH | Tpm.RESTRICTED | Tpm.SIGN
        if binding.attributes & required != required or binding.attributes & forbidden:
            raise _fail(SW_WRONG_DATA)
        if binding.scheme != 0x0010 and (binding.scheme, binding.scheme_hash) != (0x0019, 0x000B):
            raise _fail(SW_WRONG_DATA)
        required = Tpm.FIXED_TPM | Tpm.FIXED_PARENT | Tpm.SDO | Tpm.RESTRICTED | Tpm.SIGN
        if ak.attributes & required != required or ak.attributes & Tpm.DECRYPT:
            raise _fail(SW_WRONG_DATA)
        if (ak.scheme, ak.scheme_hash) != (0x0018, 0x000B):
            raise _fail(SW_WRONG_DATA)
        if options & ~1 or not any(selection) or selection[2] & 0x81:  # PCR 16, 23: resettable
            raise _fail(SW_WRONG_DATA)
        self._check_ak_certificate(signed, certificate_signature, ak_raw)
        if binding.auth_policy != policy_digest(selection, pcr_digest, options):
            raise _fail(SW_WRONG_DATA)
        name = b"\x00\x0b" + sha256(binding_raw)
        attest = parse_attest(attest_raw, SW_WRONG_DATA)
        if attest.type != 0x8017 or attest.body[:2] != b"\x00\x22" or attest.body[2:36] != name:
            raise _fail(SW_WRONG_DATA)
        (qn,) = struct.unpack(">H", attest.body[36:38]) if len(attest.body) >= 38 else (-1,)
        if qn < 0 or 38 + qn != len(attest.body):
            raise _fail(SW_WRONG_DATA)
        if challenge is None:
            raise _fail(SW_SECURITY)
        if attest.extra != challenge:
            raise _fail(SW_WRONG_DATA)
        if any(s is not None and s.binding_name == name for s in self.slots):
            raise _fail(SW_EXISTS)
        free = next((i for i, s in enumerate(self.slots) if s is None), None)
        if free is None:
            raise _fail(SW_FULL)
        (pin,), receipt = self._open_pin_block(0x50, p1, p2, data, r, challenge, 1)
        self.pin.check(pin)
        if not ecdsa_ok(ak.point, sig, attest_raw):
            raise _fail(SW_WRONG_DATA)
        z = ecdh(self.identity, binding.point, SW_WRONG_DATA)
        secret = x963(z, b"tpmcard pairing v1" + self.identity_point + name, 32)
        self.slots[free] = Slot(
            name, binding.point, ak.point, selection, options, pcr_digest, secret
        )
        return self._receipt(receipt, bytes([0xCE, 1, free]))

    def list_pairings(self, p1: int, p2: int, data: bytes, _: bytes | None) -> bytes:
        if p1 or p2:
            raise _fail(SW_WRONG_P1P2)
        out = bytes([0xD0, 1, SLOTS])
        for i, s in enumerate(self.slots):
            if s is None:
                continue
            body = (
                bytes([0xCE, 1, i])
                + tlv_header(0xCF, 34)
                + s.binding_name
                + tlv_header(0xC3, 3)
                + s.selection
                + tlv_header(0xC4, 32)
                + s.pcr_digest
                + bytes([0xC5, 1, s.options])
            )
            out += tlv_header(0xE1, len(body)) + body
        return out

    def unpair(self, p1: int, p2: int, data: bytes, challenge: bytes | None) -> bytes:
        if p1 >= SLOTS or p2:
            raise _fail(SW_WRONG_P1P2)
        if self.slots[p1] is None:
            raise _fail(SW_NOT_FOUND)
        (pin,), receipt = self._open_pin_block(0x54, p1, p2, data, Reader(data), challenge, 1)
        self.pin.check(pin)
        self.slots[p1] = None
        return self._receipt(receipt, b"")

    # --- session handshake ---
    def session_init(self, p1: int, p2: int, data: bytes) -> bytes:
        if p1 >= SLOTS or p2 or self.slots[p1] is None:
            raise _fail(SW_SECURITY)
        slot = self.slots[p1]
        assert slot is not None
        r = Reader(data, SW_SECURITY)
        eh = r.take(0xC9, 65)
        r.end()
        eph = next(self.ephemerals) if self.ephemerals else ec.generate_private_key(ec.SECP256R1())
        point_bytes = point(eph)
        z_ee = ecdh(eph, eh)
        z_es = ecdh(eph, slot.binding_point)
        th1 = sha256(
            b"tpmcard handshake v1",
            bytes([p1]),
            self.identity_point,
            slot.binding_name,
            eh,
            point_bytes,
        )
        keys = x963(z_ee + z_es + slot.secret, b"tpmcard session v1" + th1, 64)
        hello = aes_cmac(keys[:16], b"\x01" + th1)
        self.handshake = Handshake(p1, th1, hello, keys)
        return tlv_header(0xCC, 65) + point_bytes + tlv_header(0xCD, 16) + hello

    def session_auth(self, p1: int, p2: int, data: bytes, hs: Handshake | None) -> bytes:
        if hs is None or p1 or p2:
            raise _fail(SW_SECURITY)
        slot = self.slots[hs.slot]
        assert slot is not None
        r = Reader(data, SW_SECURITY)
        attest_raw = r.take(0xC6)
        sig = r.take(0xC7)
        values = r.take(0xC8)
        prefix_end = r.off
        host_kc = r.take(0xCB, 16)
        r.end()
        k_conf = hs.keys[:16]
        th2 = sha256(hs.th1, hs.card_hello)
        th3 = sha256(th2, data[:prefix_end])
        if not hmac.compare_digest(aes_cmac(k_conf, b"\x02" + th3), host_kc):
            raise _fail(SW_SECURITY)
        attest = parse_attest(attest_raw, SW_SECURITY)
        expected = bytes(a | b for a, b in zip(b"\xff\x01\x00", slot.selection, strict=True))
        body = attest.body
        if (
            attest.type != 0x8018
            or attest.extra != th2
            or body[:10] != struct.pack(">IHB", 1, 0x0B, 3) + expected
            or body[10:12] != b"\x00\x20"
            or len(body) != 44
        ):
            raise _fail(SW_SECURITY)
        chosen = indices(expected)
        if len(values) != 32 * len(chosen) or sha256(values) != body[12:44]:
            raise _fail(SW_SECURITY)
        by_index = {i: values[32 * k : 32 * k + 32] for k, i in enumerate(chosen)}
        if sha256(*(by_index[i] for i in indices(slot.selection))) != slot.pcr_digest:
            raise _fail(SW_SECURITY)
        if not ecdsa_ok(slot.ak_point, sig, attest_raw):
            raise _fail(SW_SECURITY)
        final = aes_cmac(k_conf, b"\x03" + th3)
        self.session = Session(
            hs.keys[16:32],
            hs.keys[32:48],
            hs.keys[48:64],
            final,
            pcrs={i: by_index[i] for i in range(PCR_SESSION)},
            clock=attest.clock,
        )
        return tlv_header(0xCD, 16) + final
