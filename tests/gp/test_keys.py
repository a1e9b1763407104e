"""Card keys: from a key file or the environment, never shown, never half-given."""

from __future__ import annotations

from pathlib import Path

import pytest
from tpmcard.services import gp

KEY_HEX = "00112233445566778899AABBCCDDEEFF"
ENC, MAC, DEK = (bytes([b]) * 16 for b in (0xE1, 0x3A, 0xDE))


def key_file(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "card.keys"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_master_key_from_environment() -> None:
    keys = gp.load_card_keys({"TPMCARD_GP_KEY": KEY_HEX, "TPMCARD_GP_KDF": "KDF3"})
    assert keys.master and keys.enc == keys.mac == keys.dek == bytes.fromhex(KEY_HEX)
    assert keys.diversification is gp.KeyDiversification.KDF3
    assert keys.gptool_args() == ["--key", KEY_HEX, "--kdf3"]


def test_separate_keys_from_environment() -> None:
    env = {
        "TPMCARD_GP_KEY_ENC": ENC.hex(),
        "TPMCARD_GP_KEY_MAC": MAC.hex(),
        "TPMCARD_GP_KEY_DEK": DEK.hex(),
        "TPMCARD_GP_KEY_VERSION": "0x30",
    }
    keys = gp.load_card_keys(env)
    assert (keys.enc, keys.mac, keys.dek, keys.master, keys.version) == (ENC, MAC, DEK, False, 0x30)
    assert keys.gptool_args() == [
        "--key-enc", ENC.hex().upper(), "--key-mac", MAC.hex().upper(),
        "--key-dek", DEK.hex().upper(), "--key-ver", "48",
    ]  # fmt: skip


def test_key_file(tmp_path: Path) -> None:
    path = key_file(
        tmp_path,
        "# card 42\n"
        f"enc = {ENC.hex()}\nmac = {MAC.hex()}\n"
        f"dek = {' '.join(f'{b:02x}' for b in DEK)}\n"
        "kdf = emv\nversion = 1\n",
    )
    keys = gp.load_card_keys({"TPMCARD_GP_KEY_FILE": str(path)})
    assert (keys.enc, keys.mac, keys.dek) == (ENC, MAC, DEK)
    assert keys.diversification is gp.KeyDiversification.EMV and keys.version == 1
    assert str(path) in keys.source


def test_default_means_the_test_key_only_when_asked(tmp_path: Path) -> None:
    assert gp.load_card_keys({"TPMCARD_GP_KEY": "default"}).enc == gp.GP_TEST_KEY
    assert gp.read_key_file(key_file(tmp_path, "key = default\n")).enc == gp.GP_TEST_KEY
    with pytest.raises(gp.CardKeyError, match="TPMCARD_GP_KEY=default"):
        gp.load_card_keys({})


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = key_file(tmp_path, f"key = {KEY_HEX}\n", mode=0o640)
    with pytest.raises(gp.CardKeyError, match="chmod 600"):
        gp.read_key_file(path)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TPMCARD_GP_KEY": KEY_HEX, "TPMCARD_GP_KEY_ENC": KEY_HEX}, "both a master key"),
        ({"TPMCARD_GP_KEY_ENC": KEY_HEX, "TPMCARD_GP_KEY_MAC": KEY_HEX}, "TPMCARD_GP_KEY_DEK"),
        ({"TPMCARD_GP_KEY": KEY_HEX[:-2]}, "16, 24 or 32 bytes"),
        ({"TPMCARD_GP_KEY": KEY_HEX, "TPMCARD_GP_KDF": "vis2"}, "unknown key diversification"),
        ({"TPMCARD_GP_KEY": KEY_HEX, "TPMCARD_GP_KEY_VERSION": "300"}, "0..255"),
        ({"TPMCARD_GP_KEY_FILE": "/x", "TPMCARD_GP_KEY": KEY_HEX}, "unset one of them"),
    ],
)
def test_inconsistent_keys_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(gp.CardKeyError, match=message):
        gp.load_card_keys(env)


def test_malformed_key_is_not_echoed() -> None:
    secret_with_typo = KEY_HEX[:-1] + "G"
    with pytest.raises(gp.CardKeyError) as raised:
        gp.load_card_keys({"TPMCARD_GP_KEY": secret_with_typo})
    assert secret_with_typo not in str(raised.value)
    assert "not hexadecimal" in str(raised.value)


@pytest.mark.parametrize("line", ["key: 00", "colour = blue", "key = 00\nkey = 00"])
def test_malformed_key_file_lines(tmp_path: Path, line: str) -> None:
    with pytest.raises(gp.CardKeyError):
        gp.read_key_file(key_file(tmp_path, line + "\n"))


def test_keys_never_shown() -> None:
    keys = gp.CardKeys.from_parts(ENC, MAC, DEK, source="test")
    for text in (repr(keys), str(keys), f"{keys}"):
        for key in (ENC, MAC, DEK):
            assert key.hex() not in text.lower()
    assert "redacted" in repr(keys)
