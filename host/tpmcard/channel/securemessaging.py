"""Secure messaging after the binding handshake: the host half (docs/binding.md "Secure messaging").

The construction is GP SCP03's (GP Card Spec v2.3 Amd D v1.2 §6.2.6 command encryption, §6.2.7
response encryption, §6.2.4/§6.2.5 C-MAC and R-MAC), with three deliberate differences:

* every response is encrypted and MACed, including the real status word, which travels inside
  the encrypted part; the outer status word of a protected response is always 9000;
* the C-MAC covers the header with a two-byte Lc (the data length after wrapping), whatever
  APDU form (short, extended, chained) the transport below uses;
* the encryption counter counts every command, so it also names the response.

Encrypt-then-MAC throughout: a MAC is checked before anything is decrypted or unpadded, and any
failure ends the session on both sides.
"""

from __future__ import annotations

import hmac
from typing import Any

from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tpmcard.apdu import LE_MAX, ApduProcessor, CheckedProcessor
from tpmcard.channel.kdf import SessionKeys, wipe
from tpmcard.constants import (
    CLA_CHAINING_BIT,
    CLA_SECURE_MESSAGING,
    SM_MAC_LENGTH,
    SM_MAX_PAYLOAD,
)
from tpmcard.errors import ChannelError, TpmcardError
from tpmcard.sw import SW

BLOCK = 16
#: The counter is 4 bytes on the card; a session ends before it would wrap.
MAX_COUNTER = 0xFFFFFFFF


def pad(data: bytes) -> bytes:
    """ISO/IEC 9797-1 padding method 2 (as SCP03 uses): 80, then 00 to a block boundary."""
    padded = bytes(data) + b"\x80"
    return padded + bytes(-len(padded) % BLOCK)


def unpad(data: bytes) -> bytes:
    """Undo :func:`pad`. Only ever called on data whose MAC already verified, so a malformed
    padding means a broken peer, not an oracle; it still fails like every other check."""
    end = data.rstrip(b"\x00")
    if not end or end[-1] != 0x80 or len(data) - len(end) >= BLOCK:
        raise ValueError("bad padding")
    return end[:-1]


def aes_cmac(key: bytes | bytearray, *parts: bytes) -> bytes:
    c = cmac.CMAC(algorithms.AES(bytes(key)))
    for part in parts:
        c.update(part)
    return c.finalize()


def _iv(key: bytes | bytearray, block: bytes) -> bytes:
    # SCP03 §6.2.6: the IV is the counter block encrypted under S-ENC (one block: ECB).
    encryptor = Cipher(algorithms.AES(bytes(key)), modes.ECB()).encryptor()  # noqa: S305
    return encryptor.update(block) + encryptor.finalize()


def command_iv(key: bytes | bytearray, counter: int) -> bytes:
    return _iv(key, counter.to_bytes(BLOCK, "big"))


def response_iv(key: bytes | bytearray, counter: int) -> bytes:
    # SCP03 §6.2.7: the response counter block has its first byte set to 80.
    return _iv(key, b"\x80" + counter.to_bytes(BLOCK - 1, "big"))


def cbc_encrypt(key: bytes | bytearray, iv: bytes, data: bytes) -> bytes:
    encryptor = Cipher(algorithms.AES(bytes(key)), modes.CBC(iv)).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def cbc_decrypt(key: bytes | bytearray, iv: bytes, data: bytes) -> bytes:
    decryptor = Cipher(algorithms.AES(bytes(key)), modes.CBC(iv)).decryptor()
    return decryptor.update(data) + decryptor.finalize()


def command_mac_input(
    chain: bytes, cla: int, ins: int, p1: int, p2: int, ciphertext: bytes
) -> bytes:
    """MAC chaining value || CLA INS P1 P2 || Lc (two bytes, data length with the MAC) || C."""
    header = bytes((cla, ins, p1, p2)) + (len(ciphertext) + SM_MAC_LENGTH).to_bytes(2, "big")
    return chain + header + ciphertext


def secure_cla(cla: int) -> int:
    """The class byte of a protected command: SM bit set, chaining bit clear (the transport
    below sets that one per segment)."""
    return (cla | CLA_SECURE_MESSAGING) & ~CLA_CHAINING_BIT & 0xFF


class SecureMessaging:
    """The host's half of one session's secure messaging: counter, MAC chain, keys.

    Not thread-safe; one instance per session. Any failure closes it for good.
    """

    def __init__(self, keys: SessionKeys, initial_chain: bytes) -> None:
        if len(initial_chain) != BLOCK:
            raise ValueError("the MAC chaining value is one AES block")
        self._keys = keys
        self._chain = bytearray(initial_chain)
        self._counter = 0
        self._pending: int | None = None  # counter of the command awaiting its response
        self._closed = False
        # Key schedules made once per session, not per command (as the card keeps its ECB and
        # CMAC objects initialised for the session): an ECB encryptor for the IVs (ECB has no
        # state between blocks) and keyed CMAC objects that each message copies.
        self._iv_cipher: Any = Cipher(algorithms.AES(bytes(keys.enc)), modes.ECB()).encryptor()  # noqa: S305
        self._enc_algorithm: Any = algorithms.AES(bytes(keys.enc))
        self._cmac_command: Any = cmac.CMAC(algorithms.AES(bytes(keys.mac)))
        self._cmac_response: Any = cmac.CMAC(algorithms.AES(bytes(keys.rmac)))

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def counter(self) -> int:
        """The counter of the last command wrapped (0 before the first)."""
        return self._counter

    def wrap_command(self, cla: int, ins: int, p1: int, p2: int, data: bytes) -> tuple[int, bytes]:
        """Protect one command: returns (CLA with the SM bit, C || C-MAC)."""
        self._check_open()
        if self._pending is not None:
            self.close()
            raise ChannelError("secure messaging: a command is still awaiting its response")
        if len(data) > SM_MAX_PAYLOAD:
            raise ValueError(f"payload of {len(data)} bytes; at most {SM_MAX_PAYLOAD} per command")
        if self._counter >= MAX_COUNTER:
            self.close()
            raise ChannelError(
                "secure messaging: the session counter is exhausted; open a new session"
            )
        self._counter += 1
        if data:
            iv = self._iv_cipher.update(self._counter.to_bytes(BLOCK, "big"))
            encryptor = Cipher(self._enc_algorithm, modes.CBC(iv)).encryptor()
            ciphertext = encryptor.update(pad(data)) + encryptor.finalize()
        else:
            ciphertext = b""
        cla_sm = secure_cla(cla)
        signer = self._cmac_command.copy()
        signer.update(command_mac_input(bytes(self._chain), cla_sm, ins, p1, p2, ciphertext))
        mac = signer.finalize()
        self._chain[:] = mac
        self._pending = self._counter
        return cla_sm, ciphertext + mac[:SM_MAC_LENGTH]

    def unwrap_response(self, data: bytes) -> tuple[bytes, int]:
        """Check and open the response to the last wrapped command: (payload, inner SW).

        Raises ChannelError (and closes) on any failure, with one message for all of them.
        """
        self._check_open()
        counter, self._pending = self._pending, None
        try:
            if counter is None:
                raise ValueError("no command pending")
            if len(data) < BLOCK + SM_MAC_LENGTH or (len(data) - SM_MAC_LENGTH) % BLOCK:
                raise ValueError("length")
            ciphertext, mac = data[:-SM_MAC_LENGTH], data[-SM_MAC_LENGTH:]
            verifier = self._cmac_response.copy()
            verifier.update(bytes(self._chain))
            verifier.update(ciphertext)
            verifier.update(b"\x90\x00")
            if not hmac.compare_digest(verifier.finalize()[:SM_MAC_LENGTH], mac):
                raise ValueError("mac")
            iv = self._iv_cipher.update(b"\x80" + counter.to_bytes(BLOCK - 1, "big"))
            decryptor = Cipher(self._enc_algorithm, modes.CBC(iv)).decryptor()
            plain = unpad(decryptor.update(ciphertext) + decryptor.finalize())
            if len(plain) < 2:
                raise ValueError("no status word")
        except ValueError:
            self.close()
            raise ChannelError(
                "the card's response failed secure-messaging checks (tampered, replayed or "
                "truncated); the session is closed, open a new one"
            ) from None
        return plain[:-2], int.from_bytes(plain[-2:], "big")

    def close(self) -> None:
        """Forget the keys (best effort, see tpmcard.channel.kdf). Idempotent."""
        if not self._closed:
            self._closed = True
            self._keys.wipe()
            wipe(self._chain)
            # The OpenSSL contexts hold key schedules we cannot wipe; drop them at least.
            self._iv_cipher = self._enc_algorithm = None
            self._cmac_command = self._cmac_response = None

    def _check_open(self) -> None:
        if self._closed:
            raise ChannelError("the secure session is closed; open a new one")


class SecureMessagingProcessor(CheckedProcessor):
    """The processor that protects every command, over the one below it (chaining, GET
    RESPONSE).

    :meth:`send` returns the real (inner) status word with the data; ``send_apdu`` raises it
    through :func:`~tpmcard.apdu.check_status` as :class:`~tpmcard.errors.ApduError`, leaving
    the session open. Every channel failure raises :class:`ChannelError` and the processor
    refuses further use.
    """

    def __init__(self, below: ApduProcessor, messaging: SecureMessaging) -> None:
        self._below = below
        self._sm = messaging

    @property
    def closed(self) -> bool:
        return self._sm.closed

    def send(
        self, cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = LE_MAX
    ) -> tuple[bytes, int]:
        cla_sm, wrapped = self._sm.wrap_command(cla, ins, p1, p2, data)
        try:
            response, outer = self._below.send(cla_sm, ins, p1, p2, wrapped, LE_MAX)
        except TpmcardError:
            self._sm.close()
            raise
        if outer != SW.SUCCESS:
            # An unprotected status word: the card dropped the session (docs/binding.md).
            self._sm.close()
            raise ChannelError(
                f"the card ended the secure session (SW={outer:04X}); open a new session"
            )
        return self._sm.unwrap_response(response)

    def close(self) -> None:
        self._sm.close()
