"""Pure-Python TPM structures, key files and attestation checks: no TPM, no TSS library."""

from __future__ import annotations

import hashlib
import struct
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st
from tpmcard.errors import AttestVerificationError, TpmFormatError
from tpmcard.tpm.attest import (
    Attestation,
    CertifyInfo,
    ClockInfo,
    QuoteInfo,
    marshal_attestation,
    verify_certify,
    verify_quote,
)
from tpmcard.tpm.keyblob import KeyBlob, PcrPolicy, PolicyCommand
from tpmcard.tpm.tcti import resolve_tcti
from tpmcard.tpm_structures import (
    CC_POLICY_AUTH_VALUE,
    EMPTY_POLICY,
    RH_OWNER,
    ST_ATTEST_CERTIFY,
    ST_ATTEST_QUOTE,
    TPM_GENERATED_VALUE,
    PcrSelection,
    PublicArea,
    ecdsa_signature_from_der,
    ecdsa_signature_to_der,
    object_name,
    pcr_composite_digest,
    policy_auth_value,
    policy_pcr,
    public_name,
    tpm2b,
)


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# -- PCR selections and policies --------------------------------------------------------------


def test_pcr_selection_marshals_as_the_tpm_does() -> None:
    # From TPM2_PolicyPCR traffic on swtpm: one bank, sha256, 3-byte bitmap, PCRs 16 and 23.
    assert PcrSelection.of([23, 16]).marshal_list() == bytes.fromhex("00000001000b03000081")
    assert str(PcrSelection.of([8, 0, 1])) == "sha256:0,1,8"
    with pytest.raises(ValueError):
        PcrSelection.of([])
    with pytest.raises(ValueError):
        PcrSelection.of([0], "md5")


def test_policy_digest_known_answer_from_a_trial_session() -> None:
    # swtpm trial session: PolicyPCR(sha256:16,23 with both PCRs zero) then PolicyAuthValue.
    selection = PcrSelection.of([16, 23])
    pcr_digest = pcr_composite_digest({16: bytes(32), 23: bytes(32)}, selection)
    digest = policy_auth_value(policy_pcr(EMPTY_POLICY, selection, pcr_digest))
    assert digest.hex() == "2c8606b3943c5e755c7f8bf0601e50e08451f73ef1c113d549528e15dd829fd1"


@given(st.integers(1, 2**256 - 1), st.integers(1, 2**256 - 1))
def test_ecdsa_signature_forms_round_trip(r: int, s: int) -> None:
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    der = encode_dss_signature(r, s)
    tpmt = ecdsa_signature_from_der(der)
    assert tpmt[:4] == bytes.fromhex("0018000b")  # TPM_ALG_ECDSA, TPM_ALG_SHA256
    assert ecdsa_signature_to_der(tpmt) == der


# -- public areas and names -----------------------------------------------------------------------


def _ecc_public(x: bytes, y: bytes, attributes: int = 0x00060072, policy: bytes = b"") -> bytes:
    tpmt = (
        struct.pack(">HHI", 0x0023, 0x000B, attributes)
        + tpm2b(policy)
        + struct.pack(">HHHHH", 0x0010, 0x0018, 0x000B, 0x0003, 0x0010)
        + tpm2b(x)
        + tpm2b(y)
    )
    return tpm2b(tpmt)


def test_public_area_parses_and_names_like_the_spec() -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    numbers = key.public_numbers()
    public = _ecc_public(numbers.x.to_bytes(32, "big"), numbers.y.to_bytes(32, "big"))
    area = PublicArea.from_tpm2b(public)
    assert area.public_key().public_numbers() == numbers
    assert area.scheme == 0x0018 and area.scheme_hash == 0x000B and area.curve == 0x0003
    assert area.name == b"\x00\x0b" + _sha256(public[2:]) == public_name(public)
    assert object_name(public[2:]) == area.name


def test_public_area_refuses_what_it_cannot_use() -> None:
    off_curve = PublicArea.from_tpm2b(_ecc_public(b"\x01" * 32, b"\x02" * 32))  # parses
    with pytest.raises(TpmFormatError) as raised:
        off_curve.public_key()
    assert raised.value.reason == "malformed"
    rsa = tpm2b(struct.pack(">HHI", 0x0001, 0x000B, 0) + tpm2b(b""))
    with pytest.raises(TpmFormatError) as raised:
        PublicArea.from_tpm2b(rsa)
    assert raised.value.reason == "algorithm"
    with pytest.raises(TpmFormatError) as raised:
        PublicArea.from_tpm2b(_ecc_public(b"", b"") + b"\x00")
    assert raised.value.reason == "trailing"


@given(st.binary(max_size=200))
def test_public_area_parser_only_raises_format_errors(data: bytes) -> None:
    try:
        PublicArea.parse(data)
    except TpmFormatError:
        pass


# -- key files ------------------------------------------------------------------------------------

_tpm2b_payloads = st.binary(max_size=300).map(tpm2b)
_policies = st.lists(
    st.builds(PolicyCommand, st.integers(0, 2**32 - 1), st.binary(max_size=80)), max_size=3
)


@given(
    public=_tpm2b_payloads,
    private=_tpm2b_payloads,
    parent=st.sampled_from([RH_OWNER, 0x81000001, 0x81FFFFFF]),
    empty_auth=st.booleans(),
    policy=_policies,
    description=st.none() | st.text(max_size=40),
)
def test_key_file_round_trips(
    public: bytes,
    private: bytes,
    parent: int,
    empty_auth: bool,
    policy: list[PolicyCommand],
    description: str | None,
) -> None:
    blob = KeyBlob(public, private, parent, empty_auth, tuple(policy), description)
    assert KeyBlob.from_der(blob.to_der()) == blob
    assert KeyBlob.from_pem(blob.to_pem()) == blob
    assert KeyBlob.from_bytes(blob.to_pem().encode()) == blob
    assert KeyBlob.from_bytes(blob.to_der()) == blob


@given(st.binary(max_size=300))
def test_key_file_parser_only_raises_format_errors(data: bytes) -> None:
    try:
        KeyBlob.from_der(data)
    except TpmFormatError:
        pass


def test_key_file_is_readable_by_tpm2_pytss_and_back() -> None:
    from tpm2_pytss import TPM2B_PRIVATE, TPM2B_PUBLIC
    from tpm2_pytss.tsskey import TSSPrivKey

    public = _ecc_public(b"\x01" * 32, b"\x02" * 32)
    private = tpm2b(bytes(range(90)))
    ours = KeyBlob(public, private)
    theirs = TSSPrivKey.from_pem(ours.to_pem().encode())
    assert theirs.public.marshal() == public and theirs.private.marshal() == private
    assert theirs.empty_auth and theirs.parent == RH_OWNER
    written = TSSPrivKey(
        TPM2B_PRIVATE.unmarshal(private)[0], TPM2B_PUBLIC.unmarshal(public)[0], False, 0x81000001
    ).to_pem()
    back = KeyBlob.from_pem(written)
    assert (back.public, back.private, back.parent, back.empty_auth) == (
        public,
        private,
        0x81000001,
        False,
    )


def test_key_file_pcr_policy_round_trips() -> None:
    policy = PcrPolicy(PcrSelection.of([7, 16]), _sha256(b"pcrs"))
    blob = KeyBlob(
        tpm2b(b"pub"),
        tpm2b(b"priv"),
        policy=(policy.to_policy_command(), PolicyCommand(CC_POLICY_AUTH_VALUE)),
        empty_auth=False,
    )
    decoded = KeyBlob.from_der(blob.to_der())
    assert decoded.pcr_policy == policy and decoded.needs_auth_value


def test_key_file_refuses_what_tpmcard_does_not_write() -> None:
    blob = KeyBlob(tpm2b(b"pub"), tpm2b(b"priv"))
    der = blob.to_der()
    importable = der.replace(bytes.fromhex("06066781050a0103"), bytes.fromhex("06066781050a0104"))
    with pytest.raises(TpmFormatError) as raised:
        KeyBlob.from_der(importable)
    assert raised.value.reason == "unsupported"
    with pytest.raises(TpmFormatError):
        KeyBlob.from_der(der + b"\x00")
    with pytest.raises(TpmFormatError):
        KeyBlob.from_pem("-----BEGIN TSS2 PRIVATE KEY-----\n!!\n-----END TSS2 PRIVATE KEY-----\n")


# -- attestations ---------------------------------------------------------------------------------

_clock = st.builds(
    ClockInfo,
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
    st.booleans(),
)


@given(
    signer=st.binary(max_size=68),
    extra=st.binary(max_size=64),
    clock=_clock,
    firmware=st.integers(0, 2**64 - 1),
    indices=st.sets(st.integers(0, 23), min_size=1),
    digest=st.binary(max_size=64),
)
def test_quote_structure_round_trips(
    signer: bytes, extra: bytes, clock: ClockInfo, firmware: int, indices: set[int], digest: bytes
) -> None:
    selection = PcrSelection.of(indices)
    body = selection.marshal_list() + tpm2b(digest)
    raw = marshal_attestation(ST_ATTEST_QUOTE, signer, extra, clock, firmware, body)
    parsed = Attestation.parse(raw)
    assert (parsed.magic, parsed.type, parsed.qualified_signer, parsed.extra_data) == (
        TPM_GENERATED_VALUE,
        ST_ATTEST_QUOTE,
        signer,
        extra,
    )
    assert parsed.clock_info == clock and parsed.firmware_version == firmware
    assert parsed.body == QuoteInfo((selection,), digest)
    assert parsed.raw == raw


@given(st.binary(max_size=300))
def test_attestation_parser_only_raises_format_errors(data: bytes) -> None:
    try:
        Attestation.parse(data)
    except TpmFormatError:
        pass


class _SoftwareAk:
    """Stands in for a TPM's attestation key: signs whatever structure a test builds."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.public = self.key.public_key()

    def sign(self, data: bytes) -> bytes:
        return self.key.sign(data, ec.ECDSA(hashes.SHA256()))


def _quote(
    ak: _SoftwareAk, nonce: bytes, values: dict[int, bytes], **kw: int
) -> tuple[bytes, bytes]:
    selection = PcrSelection.of(values)
    body = selection.marshal_list() + tpm2b(pcr_composite_digest(values, selection))
    raw = marshal_attestation(
        kw.get("type", ST_ATTEST_QUOTE),
        b"\x00\x0bsigner",
        nonce,
        ClockInfo(1, 2, 3, True),
        4,
        body,
        magic=kw.get("magic", TPM_GENERATED_VALUE),
    )
    return raw, ak.sign(raw)


def test_quote_verifier_names_each_failed_check() -> None:
    ak = _SoftwareAk()
    values = {0: _sha256(b"a"), 7: _sha256(b"b")}
    raw, signature = _quote(ak, b"nonce", values)
    assert verify_quote(raw, signature, ak.public, b"nonce", values).type == ST_ATTEST_QUOTE

    def reason(*args: object, **kwargs: object) -> str:
        with pytest.raises(AttestVerificationError) as raised:
            verify_quote(*args, **kwargs)  # type: ignore[arg-type]
        return raised.value.reason

    assert reason(raw, signature, _SoftwareAk().public, b"nonce", values) == "signature"
    assert reason(raw[:-1] + bytes([raw[-1] ^ 1]), signature, ak.public, b"nonce") == "signature"
    assert reason(raw, signature, ak.public, b"nonc3", values) == "nonce"
    assert reason(raw, signature, ak.public, b"nonce", {0: values[0]}) == "pcr_selection"
    assert reason(raw, signature, ak.public, b"nonce", {**values, 7: bytes(32)}) == "pcr_digest"
    signer_check = {"expected_qualified_signer": b"\x00\x0bother"}
    assert reason(raw, signature, ak.public, b"nonce", values, **signer_check) == "signer"
    assert reason(*_quote(ak, b"nonce", values, magic=0x12345678), ak.public, b"nonce") == "magic"
    time_attestation = _quote(ak, b"nonce", values, type=0x8019)  # TPM_ST_ATTEST_TIME
    assert reason(*time_attestation, ak.public, b"nonce") == "type"
    junk = b"\xff\x54\x43\x47\x80\x18"
    assert reason(junk, ak.sign(junk), ak.public, b"nonce") == "malformed"


def test_certify_verifier_checks_the_certified_name() -> None:
    ak = _SoftwareAk()
    public = _ecc_public(b"\x01" * 32, b"\x02" * 32)
    body = tpm2b(public_name(public)) + tpm2b(b"\x00\x0bqualified")
    raw = marshal_attestation(ST_ATTEST_CERTIFY, b"s", b"n", ClockInfo(0, 0, 0, True), 0, body)
    parsed = verify_certify(raw, ak.sign(raw), ak.public, b"n", public)
    assert isinstance(parsed.body, CertifyInfo) and parsed.body.name == public_name(public)
    other = _ecc_public(b"\x03" * 32, b"\x02" * 32)
    with pytest.raises(AttestVerificationError) as raised:
        verify_certify(raw, ak.sign(raw), ak.public, b"n", other)
    assert raised.value.reason == "name"


def test_attest_module_does_not_load_tpm2_pytss() -> None:
    code = (
        "import sys, tpmcard.tpm.attest, tpmcard.tpm.keyblob, tpmcard.tpm.swtpm;"
        "sys.exit('tpm2_pytss' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# -- TCTI selection -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("explicit", "env", "expected"),
    [
        (None, {}, None),
        (None, {"TPMCARD_TCTI": "device:/dev/tpmrm0"}, "device:/dev/tpmrm0"),
        ("swtpm:port=2321", {"TPMCARD_TCTI": "device:/dev/tpmrm0"}, "swtpm:port=2321"),
        ("embedded", {"TPMCARD_TCTI": "device:/dev/tpmrm0"}, None),
        ("", {"TPMCARD_TCTI": " mssim:port=2321 "}, "mssim:port=2321"),
        (None, {"TPMCARD_TCTI": "embedded"}, None),
    ],
)
def test_tcti_precedence(explicit: str | None, env: dict[str, str], expected: str | None) -> None:
    assert resolve_tcti(explicit, env) == expected
