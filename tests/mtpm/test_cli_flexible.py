"""`tpmcard mtpm seal --any-of/--authority`, `unseal --approval`, `approve`, `revoke`,
`bind-key`, `bind` and `unbind` (docs/flexible-sealing.md) over both transports: the CLI in
process, each command through a real secured session to the module's paired card."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from tpmcard.cli import cli

COMMANDS = ["approve", "revoke", "bind-key", "bind", "unbind", "seal", "unseal"]


def _write_key(path: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def _refused(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code != 0, result.output
    return result.output


def test_any_of_and_bind_through_the_cli(paired_cli: Callable[..., str], tmp_path: Path) -> None:
    paired_cli("mtpm", "pcr", "reset", "16")
    pcrs = json.loads(paired_cli("mtpm", "pcr", "read", "--pcrs", "0,16", "--json"))
    states = tmp_path / "states.json"
    states.write_text(json.dumps({"pcrs": [0, 16], "states": [pcrs]}))
    secret = tmp_path / "secret"
    secret.write_bytes(b"flexible through the CLI")
    blob, out = tmp_path / "blob", tmp_path / "out"
    info = json.loads(
        paired_cli("mtpm", "seal", "--any-of", str(states), "--json", str(secret), str(blob))
    )
    assert info["flexible"] is True
    paired_cli("mtpm", "unseal", str(blob), str(out))
    assert out.read_bytes() == secret.read_bytes()
    # Bind offline to the card's key, under the same policy; the card opens it.
    key = json.loads(paired_cli("mtpm", "bind-key", "-o", str(tmp_path / "bind.pem"), "--json"))
    assert key["pem"].startswith("-----BEGIN PUBLIC KEY-----")
    ciphertext = tmp_path / "bound"
    paired_cli("mtpm", "bind", "--pub", str(tmp_path / "bind.pem"), "--any-of", str(states),
               str(secret), str(ciphertext))  # fmt: skip
    paired_cli("mtpm", "unbind", str(ciphertext), str(out))
    assert out.read_bytes() == secret.read_bytes()
    paired_cli("mtpm", "pcr", "extend", "16", "11" * 32)
    assert "PCRs do not match" in _refused("mtpm", "unbind", str(ciphertext), str(out))
    assert "PCRs do not match" in _refused("mtpm", "unseal", str(blob), str(out))
    paired_cli("mtpm", "pcr", "reset", "16")
    # Two policies at once, or a flexible blob with an auth value: refused before the card.
    assert "give one" in _refused(
        "mtpm", "seal", "--pcrs", "0", "--any-of", str(states), str(secret), str(blob)
    )
    assert "no auth value" in _refused(
        "mtpm", "seal", "--any-of", str(states), "--migratable", str(secret), str(blob)
    )


def test_authority_approves_and_revokes_through_the_cli(
    paired_cli: Callable[..., str], tmp_path: Path
) -> None:
    paired_cli("mtpm", "pcr", "reset", "16")
    key = _write_key(tmp_path / "authority.pem")
    secret = tmp_path / "secret"
    secret.write_bytes(b"approved builds only")
    blob, out = tmp_path / "blob", tmp_path / "out"
    paired_cli(
        "mtpm", "seal", "--authority", str(key), "--policy-ref", "app", str(secret), str(blob)
    )
    approval = tmp_path / "approval.json"
    paired_cli("mtpm", "approve", "--key", str(key), "--pcrs", "0,16", "--current",
               "--epoch", "1", "--policy-ref", "app", str(approval))  # fmt: skip
    written = json.loads(approval.read_text())
    assert (written["pcrs"], written["epoch"], written["policy_ref"]) == ([0, 16], 1, "app")
    paired_cli("mtpm", "unseal", "--approval", str(approval), str(blob), str(out))
    assert out.read_bytes() == secret.read_bytes()
    # The revoke statement made offline, then sent.
    statement = tmp_path / "revoke.json"
    paired_cli("mtpm", "revoke", "--key", str(key), "--epoch", "2", "--out", str(statement))
    sent = json.loads(paired_cli("mtpm", "revoke", "--statement", str(statement), "--json"))
    assert sent["floor"] == 2
    assert "revoked approvals of this epoch" in _refused(
        "mtpm", "unseal", "--approval", str(approval), str(blob), str(out)
    )
    paired_cli("mtpm", "approve", "--key", str(key), "--pcrs", "0,16", "--current",
               "--epoch", "2", "--policy-ref", "app", str(approval))  # fmt: skip
    paired_cli("mtpm", "unseal", "--approval", str(approval), str(blob), str(out))
    assert out.read_bytes() == secret.read_bytes()
    # Another authority's approval of the same state.
    stranger = _write_key(tmp_path / "stranger.pem")
    paired_cli("mtpm", "approve", "--key", str(stranger), "--pcrs", "0,16", "--current",
               "--epoch", "5", "--policy-ref", "app", str(approval))  # fmt: skip
    assert "another authority" in _refused(
        "mtpm", "unseal", "--approval", str(approval), str(blob), str(out)
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_help_is_true(command: str) -> None:
    result = CliRunner().invoke(cli, ["mtpm", command, "--help"])
    assert result.exit_code == 0, result.output
    assert "--json" in result.output
