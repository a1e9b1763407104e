"""binding.json itself: reproducible from its script, and cross-checked by independent paths
(the openssl CLI, RFC 4493, and tpmcard.tpm_structures for the TPM digests)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from binding_vectors import VECTORS, h, load
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from tpmcard.channel.securemessaging import aes_cmac
from tpmcard.tpm_structures import PcrSelection, PublicArea, policy_auth_value, policy_pcr

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl CLI not installed")


def test_script_reproduces_the_checked_in_file(tmp_path: Path) -> None:
    script = VECTORS.with_name("make_binding_vectors.py")
    copy = tmp_path / script.name
    copy.write_text(script.read_text())
    subprocess.run([sys.executable, str(copy)], check=True, cwd=tmp_path)
    assert (tmp_path / "binding.json").read_text() == VECTORS.read_text()


def test_cmac_matches_rfc4493() -> None:
    c = load()["cmac_rfc4493"]
    assert aes_cmac(h(c["key"]), h(c["message"])).hex() == c["mac"]
    assert aes_cmac(h(c["key"])).hex() == c["empty_mac"]


@needs_openssl
@pytest.mark.parametrize("index", range(4))
def test_x963_kdf_matches_openssl(index: int) -> None:
    case = load()["x963_kdf"][index]
    args = [
        OPENSSL,
        "kdf",
        "-keylen",
        str(case["length"]),
        "-kdfopt",
        "digest:SHA256",
        "-kdfopt",
        f"hexsecret:{case['z']}",
    ]
    if case["shared_info"]:
        args += ["-kdfopt", f"hexinfo:{case['shared_info']}"]
    out = subprocess.run([*args, "X963KDF"], check=True, capture_output=True, text=True).stdout
    assert out.strip().replace(":", "").lower() == case["output"]


@needs_openssl
def test_session_keys_match_openssl() -> None:
    s = load()["session"]
    z = s["z_ephemeral"] + s["z_ephemeral_static"] + load()["pairing"]["pairing_secret"]
    out = subprocess.run(
        [
            OPENSSL,
            "kdf",
            "-keylen",
            "64",
            "-kdfopt",
            "digest:SHA256",
            "-kdfopt",
            f"hexsecret:{z}",
            "-kdfopt",
            f"hexinfo:{s['session_shared_info']}",
            "X963KDF",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert out.strip().replace(":", "").lower() == s["key_material"]


@needs_openssl
def test_key_confirmation_matches_openssl_cmac() -> None:
    s = load()["session"]
    out = subprocess.run(
        [
            OPENSSL,
            "mac",
            "-cipher",
            "AES-128-CBC",
            "-macopt",
            f"hexkey:{s['k_conf']}",
            "-in",
            "/dev/stdin",
            "CMAC",
        ],
        input=b"\x01" + h(s["th1"]),
        check=True,
        capture_output=True,
    ).stdout
    assert out.decode().strip().lower() == s["card_cryptogram_1"]


@needs_openssl
def test_quote_signature_verifies_with_openssl(tmp_path: Path) -> None:
    v = load()
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), h(v["keys"]["ak_point"]))
    (tmp_path / "ak.pem").write_bytes(
        key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    (tmp_path / "attest").write_bytes(h(v["session"]["quote_attest"]))
    (tmp_path / "sig").write_bytes(h(v["session"]["quote_signature"]))
    result = subprocess.run(
        [
            OPENSSL,
            "dgst",
            "-sha256",
            "-verify",
            str(tmp_path / "ak.pem"),
            "-signature",
            str(tmp_path / "sig"),
            str(tmp_path / "attest"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_policy_digest_matches_tpm_structures() -> None:
    t = load()["tpm"]
    selection = PcrSelection.of(t["policy_pcrs"])
    assert selection.marshal_list().hex() == t["tpml_pcr_selection"]
    digest = policy_pcr(bytes(32), selection, h(t["policy_pcr_digest"]))
    assert digest.hex() == t["policy_digest"]
    assert policy_auth_value(digest).hex() == t["policy_digest_with_auth_value"]
    values = b"".join(h(t["pcr_values"][str(i)]) for i in t["policy_pcrs"])
    assert hashlib.sha256(values).hexdigest() == t["policy_pcr_digest"]


def test_names_and_points_match_tpm_structures() -> None:
    v = load()
    t = v["tpm"]
    binding = PublicArea.parse(h(t["binding_public"]))
    ak = PublicArea.parse(h(t["ak_public"]))
    assert binding.name.hex() == t["binding_name"]
    assert ak.name.hex() == t["ak_name"]
    assert (b"\x04" + binding.x + binding.y).hex() == v["keys"]["binding_point"]
    assert (b"\x04" + ak.x + ak.y).hex() == v["keys"]["ak_point"]
    assert binding.auth_policy.hex() == t["policy_digest"]
