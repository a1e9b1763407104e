"""Credential activation (TPM 2.0 Part 1 §24) between tpmcard.tpm.credential's software
MakeCredential and a real TPM's ActivateCredential (swtpm), for both EK kinds of the TCG EK
Credential Profile: RSA 2048 (swtpm's persistent EK, with its certificate in NV) and ECC P-256
(the primary from template L-2)."""

from __future__ import annotations

import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from tpmcard.errors import TpmError
from tpmcard.tpm.adapter import Tpm
from tpmcard.tpm.credential import make_credential
from tpmcard.tpm_structures import object_name


def test_the_ek_certificate_in_nv_is_this_tpms_rsa_ek(tpm: Tpm) -> None:
    certificate = x509.load_der_x509_certificate(tpm.read_ek_certificate())
    spki = Encoding.DER, PublicFormat.SubjectPublicKeyInfo
    assert certificate.public_key().public_bytes(*spki) == tpm.ek_public_key("rsa").public_bytes(
        *spki
    )


@pytest.mark.parametrize("kind", ["rsa", "ecc"])
def test_software_make_credential_activates_only_for_the_named_ak(tpm: Tpm, kind: str) -> None:
    ek = tpm.ek_public_key(kind)
    ak, other = tpm.create_attestation_key(), tpm.create_attestation_key()
    secret = os.urandom(32)
    made = make_credential(ek, object_name(ak.public_area.raw), secret)
    assert tpm.activate_credential(ak, kind, made.credential_blob, made.encrypted_secret) == secret
    with pytest.raises(TpmError, match="activate"):  # bound to the AK's Name: not another key
        tpm.activate_credential(other, kind, made.credential_blob, made.encrypted_secret)
    tampered = bytearray(made.credential_blob)
    tampered[-1] ^= 1
    with pytest.raises(TpmError, match="activate"):  # the outer HMAC
        tpm.activate_credential(ak, kind, bytes(tampered), made.encrypted_secret)
    wrong_kind = "ecc" if kind == "rsa" else "rsa"
    with pytest.raises(TpmError):  # only the EK it was made for decrypts the seed
        tpm.activate_credential(ak, wrong_kind, made.credential_blob, made.encrypted_secret)
