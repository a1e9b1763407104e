"""Card keys (GP Card Spec v2.3 §11.8 key sets): where they come from ($TPMCARD_GP_KEY_FILE,
$TPMCARD_GP_KEY, $TPMCARD_GP_KEY_ENC/_MAC/_DEK), their diversification and version."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from tpmcard.services.gp.errors import CardKeyError

#: The GlobalPlatform test key (40..4F) that development cards ship with. Used only when the user
#: asks for it by name (``default``): a wrong key counts as a failed authentication, and a card
#: that sees too many locks its card manager for good.
GP_TEST_KEY = bytes(range(0x40, 0x50))

KEY_FILE_ENV = "TPMCARD_GP_KEY_FILE"
KEY_ENV = "TPMCARD_GP_KEY"
KEY_ENC_ENV = "TPMCARD_GP_KEY_ENC"
KEY_MAC_ENV = "TPMCARD_GP_KEY_MAC"
KEY_DEK_ENV = "TPMCARD_GP_KEY_DEK"
KDF_ENV = "TPMCARD_GP_KDF"
KEY_VERSION_ENV = "TPMCARD_GP_KEY_VERSION"

#: 3DES (SCP02) keys are 16 bytes; SCP03 takes AES-128, -192 or -256 (GP Amd D §4.1).
_KEY_LENGTHS = (16, 24, 32)


class KeyDiversification(Enum):
    """How the card derives its own keys from the master key (gptool ``--emv`` etc.)."""

    NONE = "none"
    EMV = "emv"
    VISA2 = "visa2"
    KDF3 = "kdf3"


@dataclass(frozen=True, repr=False)
class CardKeys:
    """The keys of the card's security domain: one master key, or separate ENC/MAC/DEK keys.

    The repr never shows key material.
    """

    enc: bytes
    mac: bytes
    dek: bytes
    #: True when the three keys are one master key (passed to gptool as ``--key``).
    master: bool = False
    diversification: KeyDiversification = KeyDiversification.NONE
    #: Key version number (KVN) of the key set; None lets gptool take the card's.
    version: int | None = None
    #: Key check value of the master key (3 bytes), checked by gptool before it authenticates.
    kcv: bytes | None = None
    #: Where the keys came from, for messages ("key file /x", "TPMCARD_GP_KEY").
    source: str = ""

    def __repr__(self) -> str:
        kind = "master key" if self.master else "ENC/MAC/DEK keys"
        return (
            f"CardKeys(<{kind} from {self.source or 'caller'} redacted>, "
            f"diversification={self.diversification.value}, version={self.version})"
        )

    __str__ = __repr__

    @classmethod
    def from_master(
        cls,
        key: bytes,
        diversification: KeyDiversification = KeyDiversification.NONE,
        version: int | None = None,
        kcv: bytes | None = None,
        source: str = "",
    ) -> CardKeys:
        _check_key_length(key, "master key")
        return cls(key, key, key, True, diversification, version, kcv, source)

    @classmethod
    def from_parts(
        cls,
        enc: bytes,
        mac: bytes,
        dek: bytes,
        diversification: KeyDiversification = KeyDiversification.NONE,
        version: int | None = None,
        source: str = "",
    ) -> CardKeys:
        for name, key in (("ENC", enc), ("MAC", mac), ("DEK", dek)):
            _check_key_length(key, f"{name} key")
        return cls(enc, mac, dek, False, diversification, version, None, source)

    def gptool_args(self) -> list[str]:
        """gptool 19.06.16 options for these keys. Secret: hand them only to :class:`GpTool`."""
        if self.master:
            args = ["--key", self.enc.hex().upper()]
            if self.kcv is not None:
                args += ["--kcv", self.kcv.hex().upper()]
        else:
            args = [
                "--key-enc", self.enc.hex().upper(),
                "--key-mac", self.mac.hex().upper(),
                "--key-dek", self.dek.hex().upper(),
            ]  # fmt: skip
        if self.diversification is not KeyDiversification.NONE:
            args.append("--" + self.diversification.value)
        if self.version is not None:
            args += ["--key-ver", str(self.version)]
        return args


def _check_key_length(key: bytes, what: str) -> None:
    if len(key) not in _KEY_LENGTHS:
        raise CardKeyError(
            f"the card's {what} must be 16, 24 or 32 bytes (32, 48 or 64 hex digits), "
            f"not {len(key)} bytes"
        )


def _parse_key(value: str, what: str, source: str) -> bytes:
    text = value.strip()
    if text.lower() == "default":
        return GP_TEST_KEY
    text = re.sub(r"[\s:]", "", text)
    try:
        key = bytes.fromhex(text)
    except ValueError:
        # Never echo the value: it may be a key with a typo in it.
        raise CardKeyError(f"the {what} in {source} is not hexadecimal") from None
    _check_key_length(key, f"{what} in {source}")
    return key


def _parse_diversification(value: str | None, source: str) -> KeyDiversification:
    if value is None or not value.strip():
        return KeyDiversification.NONE
    try:
        return KeyDiversification(value.strip().lower())
    except ValueError:
        names = ", ".join(d.value for d in KeyDiversification)
        raise CardKeyError(
            f"unknown key diversification {value.strip()!r} in {source}; use one of {names}"
        ) from None


def _parse_version(value: str | None, source: str) -> int | None:
    if value is None or not value.strip():
        return None
    try:
        version = int(value.strip(), 0)
    except ValueError:
        raise CardKeyError(f"the key version in {source} is not a number") from None
    if not 0 <= version <= 0xFF:
        raise CardKeyError(f"the key version in {source} must be 0..255")
    return version


def _keys_from_mapping(
    values: Mapping[str, str], source: str, names: Mapping[str, str]
) -> CardKeys:
    """Build keys from ``values`` whose entries are named as in ``names`` (role -> name)."""
    master = values.get(names["key"])
    parts = {role: values.get(names[role]) for role in ("enc", "mac", "dek")}
    given_parts = [role for role, value in parts.items() if value]
    diversification = _parse_diversification(values.get(names["kdf"]), source)
    version = _parse_version(values.get(names["version"]), source)
    if master and given_parts:
        raise CardKeyError(
            f"{source} gives both a master key ({names['key']}) and separate keys; give one or "
            "the other"
        )
    if master:
        kcv_text = values.get(names["kcv"]) if "kcv" in names else None
        kcv = None
        if kcv_text:
            try:
                kcv = bytes.fromhex(kcv_text.strip())
            except ValueError:
                raise CardKeyError(f"the key check value in {source} is not hexadecimal") from None
            if len(kcv) != 3:
                raise CardKeyError(f"the key check value in {source} must be 3 bytes")
        return CardKeys.from_master(
            _parse_key(master, "master key", source), diversification, version, kcv, source
        )
    if given_parts:
        missing = [names[role] for role in ("enc", "mac", "dek") if not parts[role]]
        if missing:
            raise CardKeyError(f"{source} lacks {', '.join(missing)}: give all three keys")
        enc, mac, dek = (
            _parse_key(parts[role] or "", f"{role.upper()} key", source)
            for role in ("enc", "mac", "dek")
        )
        return CardKeys.from_parts(enc, mac, dek, diversification, version, source)
    raise CardKeyError(f"{source} holds no key")


def read_key_file(path: Path) -> CardKeys:
    """Read a key file: ``name = value`` lines, ``#`` comments.

    Names: ``key`` (one master key) or ``enc``, ``mac`` and ``dek``; optional ``kdf``
    (none, emv, visa2, kdf3), ``version`` (the key version number) and ``kcv`` (master key check
    value). A key may be written ``default`` for the GlobalPlatform test key 40..4F. The file must
    be readable by its owner only, as ssh requires of private keys.
    """
    source = f"key file {path}"
    try:
        st = path.stat()
    except OSError as exc:
        raise CardKeyError(f"cannot read the {source}: {exc.strerror}") from None
    if os.name == "posix" and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CardKeyError(
            f"the {source} can be read by other users; run `chmod 600 {path}` and rotate the "
            "card keys if others may have read it"
        )
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        name = name.strip().lower()
        if not sep or name not in ("key", "enc", "mac", "dek", "kdf", "version", "kcv"):
            raise CardKeyError(
                f"line {number} of the {source} is not 'key|enc|mac|dek|kdf|version|kcv = value'"
            )
        if name in values:
            raise CardKeyError(f"the {source} gives {name} twice (line {number})")
        values[name] = value.strip()
    names = {n: n for n in ("key", "enc", "mac", "dek", "kdf", "version", "kcv")}
    return _keys_from_mapping(values, source, names)


def load_card_keys(environ: Mapping[str, str] | None = None) -> CardKeys:
    """The card keys, from ``$TPMCARD_GP_KEY_FILE`` or from the environment.

    Environment: ``TPMCARD_GP_KEY`` (master key) or ``TPMCARD_GP_KEY_ENC``/``_MAC``/``_DEK``, with
    ``TPMCARD_GP_KDF`` and ``TPMCARD_GP_KEY_VERSION``. Keys are never taken from tpmcard's command
    line, where every user of the machine could read them.
    """
    env = os.environ if environ is None else environ
    key_file = env.get(KEY_FILE_ENV)
    env_names = {
        "key": KEY_ENV, "enc": KEY_ENC_ENV, "mac": KEY_MAC_ENV, "dek": KEY_DEK_ENV,
        "kdf": KDF_ENV, "version": KEY_VERSION_ENV,
    }  # fmt: skip
    in_env = [n for n in (KEY_ENV, KEY_ENC_ENV, KEY_MAC_ENV, KEY_DEK_ENV) if env.get(n)]
    if key_file:
        if in_env:
            raise CardKeyError(
                f"both {KEY_FILE_ENV} and {', '.join(in_env)} are set; unset one of them"
            )
        return read_key_file(Path(key_file).expanduser())
    if not in_env:
        raise CardKeyError(
            f"no card keys: put them in a key file (chmod 600) and set {KEY_FILE_ENV} to its "
            f"path, or set {KEY_ENV} (or {KEY_ENC_ENV}, {KEY_MAC_ENV} and {KEY_DEK_ENV}). "
            f"For a development card that still has the GlobalPlatform test keys: {KEY_ENV}=default"
        )
    return _keys_from_mapping(dict(env), "the environment", env_names)
