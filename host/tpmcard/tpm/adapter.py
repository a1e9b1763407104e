"""The TPM adapter: the one place tpmcard talks to a TPM, through tpm2-pytss (ESAPI).

Callers get bytes, :class:`~tpmcard.tpm.keyblob.KeyBlob` and ``cryptography`` objects, never
tpm2-pytss types; every TSS error becomes a :class:`~tpmcard.errors.TpmError` (``rc`` kept),
with subclasses for what the caller acts on (:mod:`tpmcard.errors`).

Object lifetimes. Without a resource manager (swtpm, mssim, /dev/tpm0) transient objects stay
loaded after the connection closes and a TPM has few slots (swtpm: 3). So every object this
module loads is flushed by the operation, or by the :class:`LoadedKey` context manager, that
loaded it. The storage parent (SRK) is loaded only for as long as TPM2_Load or
TPM2_StartAuthSession needs it; between operations it is kept as a saved context, which costs
no slot and reloads in well under a millisecond.

Not thread-safe: use one :class:`Tpm` per thread.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from tpm2_pytss import (
    ESYS_TR,
    TPM2_ALG,
    TPM2_RH,
    TPM2_SE,
    TPM2_ST,
    TPM2B_DATA,
    TPM2B_DIGEST,
    TPM2B_ECC_POINT,
    TPM2B_ENCRYPTED_SECRET,
    TPM2B_ID_OBJECT,
    TPM2B_PUBLIC,
    TPM2B_SENSITIVE_CREATE,
    TPML_DIGEST_VALUES,
    TPMS_ECC_POINT,
    TPMS_KEYEDHASH_PARMS,
    TPMS_SENSITIVE_CREATE,
    TPMT_HA,
    TPMT_KEYEDHASH_SCHEME,
    TPMT_PUBLIC,
    TPMT_SIG_SCHEME,
    TPMT_SYM_DEF,
    TPMT_TK_HASHCHECK,
    TPMU_HA,
    TPMU_PUBLIC_PARMS,
)

from tpmcard.errors import (
    NotSupportedError,
    TpmAuthError,
    TpmError,
    TpmPolicyError,
)
from tpmcard.lifetime import Closeable
from tpmcard.tpm.attest import Attestation, Certification, Quote, QuoteInfo
from tpmcard.tpm.endorsement import Endorsement
from tpmcard.tpm.esys import (
    _MAX_RANDOM_PER_CALL,
    _PT_DAY_OF_YEAR,
    _PT_FAMILY_INDICATOR,
    _PT_FIRMWARE_VERSION_1,
    _PT_FIRMWARE_VERSION_2,
    _PT_LEVEL,
    _PT_MANUFACTURER,
    _PT_REVISION,
    _PT_VENDOR_STRING_1,
    _PT_YEAR,
    MAX_SEALED_DATA,
)
from tpmcard.tpm.keyblob import (
    BindingKey,
    KeyBlob,
    PcrPolicy,
    PolicyCommand,
)
from tpmcard.tpm.objects import (
    _A,
    _ATTESTATION_TEMPLATE,
    _BOUND,
    _SIGNING_ATTRIBUTES,
    _ecc_template,
)
from tpmcard.tpm.policy import _PCR_CHANGED, _SEALED_PCR_CHANGED, PolicySessions
from tpmcard.tpm_structures import (
    CC_POLICY_AUTH_VALUE,
    EMPTY_POLICY,
    PcrSelection,
    Reader,
    ecdsa_signature_to_der,
    parse_pcr_selection_list,
    pcr_composite_digest,
    policy_auth_value,
    policy_pcr,
)


class LoadedKey(Closeable):
    """A key loaded in the TPM; flushed by :meth:`close` or at the end of a ``with`` block."""

    def __init__(self, tpm: Tpm, handle: ESYS_TR, blob: KeyBlob) -> None:
        self._tpm = tpm
        self._handle: ESYS_TR | None = handle
        self.blob = blob

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self.blob.public_key()

    @property
    def name(self) -> bytes:
        return self.blob.name

    def _tr(self) -> ESYS_TR:
        """The ESAPI handle, for this module only (callers never see tpm2_pytss types)."""
        if self._handle is None:
            raise TpmError("the key was already flushed from the TPM")
        return self._handle

    def sign(self, digest: bytes) -> bytes:
        """ECDSA-sign a SHA-256 digest; return the X9.62 DER signature."""
        if len(digest) != 32:
            raise ValueError("sign() takes a 32-byte SHA-256 digest")
        signature = self._tpm._call(
            "sign",
            self._tpm._esapi.sign,
            self._tr(),
            TPM2B_DIGEST(digest),
            TPMT_SIG_SCHEME(scheme=TPM2_ALG.NULL),
            TPMT_TK_HASHCHECK(tag=TPM2_ST.HASHCHECK, hierarchy=TPM2_RH.NULL),
        )
        return ecdsa_signature_to_der(signature.marshal())

    def close(self) -> None:
        if self._handle is not None:
            handle, self._handle = self._handle, None
            self._tpm._loaded.discard(self)
            self._tpm._flush(handle)


class Tpm(PolicySessions, Endorsement):
    """A connection to a TPM 2.0: the embedded swtpm, or any TCTI.

    ``with Tpm.open() as tpm: ...`` (embedded) or ``Tpm.open("device:/dev/tpmrm0")``.
    """

    # -- simple commands ----------------------------------------------------------------------

    def get_random(self, n: int) -> bytes:
        """``n`` bytes from the TPM's RNG."""
        if n < 0:
            raise ValueError("n must be >= 0")
        out = b""
        while len(out) < n:
            chunk = self._call(
                "get random bytes",
                self._esapi.get_random,
                min(n - len(out), _MAX_RANDOM_PER_CALL),
            )
            if not bytes(chunk):
                raise TpmError("the TPM returned no random bytes")
            out += bytes(chunk)
        return out

    def info(self) -> dict[str, Any]:
        """Who made the TPM and what it runs: manufacturer, vendor string, firmware version,
        spec family/level/revision/date, and the TCTI."""
        props = self._properties(_PT_FAMILY_INDICATOR, 0x20)

        def text(*keys: int) -> str:
            raw = b"".join(props.get(k, 0).to_bytes(4, "big") for k in keys)
            return raw.replace(b"\0", b"").decode("ascii", errors="replace").strip()

        fw1 = props.get(_PT_FIRMWARE_VERSION_1, 0)
        fw2 = props.get(_PT_FIRMWARE_VERSION_2, 0)
        revision = props.get(_PT_REVISION, 0)
        return {
            "manufacturer": text(_PT_MANUFACTURER),
            "vendor": text(*range(_PT_VENDOR_STRING_1, _PT_VENDOR_STRING_1 + 4)),
            "firmware_version": f"{fw1 >> 16}.{fw1 & 0xFFFF}.{fw2 >> 16}.{fw2 & 0xFFFF}",
            "family": text(_PT_FAMILY_INDICATOR),
            "spec_level": props.get(_PT_LEVEL, 0),
            "spec_revision": f"{revision // 100}.{revision % 100:02d}",
            "spec_date": f"{props.get(_PT_YEAR, 0)}, day {props.get(_PT_DAY_OF_YEAR, 0)}",
            "tcti": self.tcti,
            "embedded": self._swtpm is not None,
        }

    # -- PCRs ---------------------------------------------------------------------------------

    def pcr_read(self, indices: Iterable[int], bank: str = "sha256") -> dict[int, bytes]:
        """PCR values by index (ascending). Raises NotSupportedError if the bank is absent."""
        selection = PcrSelection.of(indices, bank)
        values: dict[int, bytes] = {}
        remaining = list(selection.indices)
        while remaining:  # the TPM returns at most 8 digests per TPM2_PCR_Read (Part 3 §22.4)
            request = PcrSelection(selection.bank, tuple(remaining))
            _counter, returned, digests = self._call(
                "read PCRs", self._esapi.pcr_read, self._tpml(request)
            )
            got = parse_pcr_selection_list(Reader(returned.marshal(), "TPML_PCR_SELECTION"))
            indices_got = [i for s in got if s.bank == selection.bank for i in s.indices]
            if not indices_got:
                raise NotSupportedError(
                    f"the TPM does not hold PCRs {request}: no such bank or PCR allocated"
                )
            for index, value in zip(indices_got, digests, strict=True):
                values[index] = bytes(value)
            remaining = [i for i in remaining if i not in values]
        return {i: values[i] for i in selection.indices}

    def pcr_extend(self, index: int, digest: bytes) -> None:
        """PCR[index] := SHA-256(PCR[index] || digest) in the sha256 bank (Part 3 §22.2)."""
        if len(digest) != 32:
            raise ValueError("pcr_extend takes a 32-byte SHA-256 digest")
        PcrSelection.of([index])  # range check
        values = TPML_DIGEST_VALUES(
            [TPMT_HA(hashAlg=TPM2_ALG.SHA256, digest=TPMU_HA(sha256=digest))]
        )
        self._call(f"extend PCR {index}", self._esapi.pcr_extend, ESYS_TR(index), values)

    def pcr_digest(self, indices: Iterable[int]) -> bytes:
        """SHA-256 of the sha256-bank values in ascending index order: the pcrDigest that
        TPM2_PolicyPCR and TPM2_Quote compute over the same selection."""
        selection = PcrSelection.of(indices)
        return pcr_composite_digest(self.pcr_read(selection.indices), selection)

    # -- keys ---------------------------------------------------------------------------------

    def create_p256_key(self, auth: bytes | None = None) -> KeyBlob:
        """Create an ECDSA-SHA256 P-256 signing key under the SRK; return its blob.

        With ``auth``, using the key needs that value (dictionary-attack protected)."""
        attributes = _SIGNING_ATTRIBUTES | (_A.NODA if auth is None else 0)
        template = _ecc_template(attributes, scheme=TPM2_ALG.ECDSA)
        return self._create(template, auth, (), "signing")

    def load(self, blob: KeyBlob, auth: bytes | None = None) -> LoadedKey:
        """Load a key for several operations; close the result (or use ``with``)."""
        handle = self._load(blob)
        if auth is not None:
            self._esapi.tr_set_auth(handle, auth)
        key = LoadedKey(self, handle, blob)
        self._loaded.add(key)
        return key

    def sign(self, blob: KeyBlob, digest: bytes, auth: bytes | None = None) -> bytes:
        """Load, sign a 32-byte SHA-256 digest (DER ECDSA), flush."""
        with self.load(blob, auth) as key:
            return key.sign(digest)

    def qualified_name(self, blob: KeyBlob) -> bytes:
        """The key's Qualified Name under its parent, as quotes name their signer."""
        with self.load(blob) as key:
            _public, _name, qualified = self._call(
                "read the key's public area", self._esapi.read_public, key._tr()
            )
            return bytes(qualified)

    # -- binding protocol ---------------------------------------------------------------------

    def create_binding_key(
        self, pcr_indices: Iterable[int], auth: bytes | None = None
    ) -> BindingKey:
        """Create a P-256 key-agreement key that only works while the sha256-bank PCRs
        ``pcr_indices`` hold their current values (and, with ``auth``, given that PIN).

        Attributes: fixedTPM, fixedParent, sensitiveDataOrigin (never leaves this TPM, not
        duplicable), decrypt, not sign, scheme ECDH-SHA256, symmetric NULL. userWithAuth is
        CLEAR, so the USER role (ECDH_ZGen) requires the policy: PolicyPCR, then
        PolicyAuthValue when there is a PIN. adminWithPolicy is CLEAR, so the ADMIN role
        (TPM2_Certify of this key, ObjectChangeAuth) takes the authValue, which an attacker
        without the PIN does not have and which leaves the PCR policy in force. noDA only
        without a PIN.
        """
        selection = PcrSelection.of(pcr_indices)
        for _attempt in range(3):
            values = self.pcr_read(selection.indices)
            pcr_digest = pcr_composite_digest(values, selection)
            policy = policy_pcr(EMPTY_POLICY, selection, pcr_digest)
            commands = [PcrPolicy(selection, pcr_digest).to_policy_command()]
            if auth is not None:
                policy = policy_auth_value(policy)
                commands.append(PolicyCommand(CC_POLICY_AUTH_VALUE))
            attributes = _BOUND | _A.DECRYPT | (_A.NODA if auth is None else 0)
            template = _ecc_template(attributes, scheme=TPM2_ALG.ECDH, auth_policy=policy)
            blob = self._create(template, auth, tuple(commands), "binding")
            # A PCR extended between the read and TPM2_Create would leave a key bound to a
            # state that no longer exists; check and retry rather than hand that out.
            if self.pcr_digest(selection.indices) == pcr_digest:
                return BindingKey(
                    blob, blob.public_key(), policy, selection, pcr_digest, dict(values)
                )
        raise TpmError(f"PCRs {selection} kept changing while the binding key was created")

    def ecdh_zgen(
        self,
        key: BindingKey | KeyBlob,
        peer_public_key: ec.EllipticCurvePublicKey,
        auth: bytes | None = None,
    ) -> bytes:
        """TPM2_ECDH_ZGen with a binding key: the 32-byte x-coordinate of d*Q_peer.

        Runs in a policy session that replays the key's policy. The session is salted with the
        SRK and encrypts the response, so Z does not cross the TPM bus in clear.
        Raises TpmPolicyError when the bound PCRs changed since the key was made, TpmAuthError
        on a wrong PIN.
        """
        blob = key.blob if isinstance(key, BindingKey) else key
        pcr_policy = blob.pcr_policy
        if pcr_policy is None:
            raise ValueError("ecdh_zgen needs a binding key (one with a PCR policy)")
        if any(c.command_code == CC_POLICY_AUTH_VALUE for c in blob.policy) and auth is None:
            raise TpmAuthError("this binding key needs its PIN")
        if not isinstance(peer_public_key.curve, ec.SECP256R1):
            raise ValueError("the peer key must be on P-256")
        numbers = peer_public_key.public_numbers()
        point = TPM2B_ECC_POINT(
            TPMS_ECC_POINT(x=numbers.x.to_bytes(32, "big"), y=numbers.y.to_bytes(32, "big"))
        )
        with self._parent(blob.parent) as parent:
            handle = self._call_load(blob, parent)
            try:
                session = self._start_policy_session(parent)
            except BaseException:
                self._flush(handle)
                raise
        try:
            self._replay_policy(session, blob, pcr_policy)
            if auth is not None:
                self._esapi.tr_set_auth(handle, auth)
            try:
                z = self._call(
                    "compute the shared secret (ECDH_ZGen)",
                    self._esapi.ecdh_zgen,
                    handle,
                    point,
                    session1=session,
                )
            except TpmError as exc:
                if isinstance(exc, TpmPolicyError):
                    raise TpmPolicyError(
                        _PCR_CHANGED.format(selection=pcr_policy.selection),
                        rc=exc.rc,
                        pcr_selection=str(pcr_policy.selection),
                    ) from exc
                raise
            return bytes(z.point.x).rjust(32, b"\0")
        finally:
            self._flush(session)
            self._flush(handle)

    # -- sealed data --------------------------------------------------------------------------

    def seal(self, data: bytes, pcr_indices: Iterable[int]) -> KeyBlob:
        """Seal ``data`` (1..128 bytes) to the current values of the sha256-bank PCRs
        ``pcr_indices``: a sealed data object (KEYEDHASH, scheme NULL, Part 1 §27.2.6) under the
        SRK, returned as a key file (:meth:`unseal` opens it).

        Attributes: fixedTPM, fixedParent (never leaves this TPM), sensitiveDataOrigin CLEAR
        (the caller gives the data), userWithAuth CLEAR (TPM2_Unseal needs the USER role, so
        only the policy opens it: PolicyPCR over the values read here), noDA (there is no
        authValue to guess). adminWithPolicy is CLEAR, but with an empty authValue the ADMIN
        role grants nothing that reveals the data (Unseal is USER only, Part 3 §12.7).
        """
        data = bytes(data)
        if not 1 <= len(data) <= MAX_SEALED_DATA:
            raise ValueError(f"the TPM seals 1..{MAX_SEALED_DATA} bytes, not {len(data)}")
        selection = PcrSelection.of(pcr_indices)
        sensitive = TPM2B_SENSITIVE_CREATE(TPMS_SENSITIVE_CREATE(userAuth=b"", data=data))
        for _attempt in range(3):
            pcr_digest = self.pcr_digest(selection.indices)
            policy = PcrPolicy(selection, pcr_digest)
            template = TPM2B_PUBLIC(
                publicArea=TPMT_PUBLIC(
                    type=TPM2_ALG.KEYEDHASH,
                    nameAlg=TPM2_ALG.SHA256,
                    objectAttributes=_A.FIXEDTPM | _A.FIXEDPARENT | _A.NODA,
                    authPolicy=policy_pcr(EMPTY_POLICY, selection, pcr_digest),
                    parameters=TPMU_PUBLIC_PARMS(
                        keyedHashDetail=TPMS_KEYEDHASH_PARMS(
                            scheme=TPMT_KEYEDHASH_SCHEME(scheme=TPM2_ALG.NULL)
                        )
                    ),
                )
            )
            blob = self._create_object(
                template, sensitive, None, (policy.to_policy_command(),), "seal the data"
            )
            # As for binding keys: a PCR extended between the read and TPM2_Create would seal
            # to a state that no longer exists.
            if self.pcr_digest(selection.indices) == pcr_digest:
                return blob
        raise TpmError(f"PCRs {selection} kept changing while the data was sealed")

    def unseal(self, blob: KeyBlob) -> bytes:
        """TPM2_Unseal (Part 3 §12.7) of data sealed by :meth:`seal`, in a policy session that
        replays the blob's PolicyPCR. The session is salted with the SRK and encrypts the
        response, so the data does not cross the TPM bus in clear.

        Raises TpmPolicyError when the PCRs no longer hold the values the data was sealed to.
        """
        pcr_policy = blob.pcr_policy
        if not blob.is_sealed or pcr_policy is None:
            raise ValueError("unseal takes sealed data made by Tpm.seal (a PCR-bound KEYEDHASH)")
        message = _SEALED_PCR_CHANGED.format(selection=pcr_policy.selection)
        with self._parent(blob.parent) as parent:
            handle = self._call_load(blob, parent)
            try:
                session = self._start_policy_session(parent)
            except BaseException:
                self._flush(handle)
                raise
        try:
            self._replay_policy(session, blob, pcr_policy, message)
            try:
                data = self._call("unseal the data", self._esapi.unseal, handle, session1=session)
            except TpmPolicyError as exc:
                raise TpmPolicyError(
                    message, rc=exc.rc, pcr_selection=str(pcr_policy.selection)
                ) from exc
            return bytes(data)
        finally:
            self._flush(session)
            self._flush(handle)

    # -- attestation --------------------------------------------------------------------------

    def create_attestation_key(self) -> KeyBlob:
        """Create a restricted ECDSA-SHA256 P-256 signing key (an AK) under the SRK."""
        return self._create(_ATTESTATION_TEMPLATE, None, (), "attestation")

    def quote(self, ak: KeyBlob, pcr_indices: Iterable[int], qualifying_data: bytes) -> Quote:
        """TPM2_Quote over sha256-bank PCRs with ``qualifying_data`` (the verifier's nonce,
        at most 64 bytes) as extraData. The returned PCR values match the quoted digest."""
        if len(qualifying_data) > 64:
            raise ValueError("qualifying data is at most 64 bytes (TPM2B_DATA)")
        selection = PcrSelection.of(pcr_indices)
        with self.load(ak) as key:
            for _attempt in range(3):
                values = self.pcr_read(selection.indices)
                attest, signature = self._call(
                    "quote PCRs",
                    self._esapi.quote,
                    key._tr(),
                    self._tpml(selection),
                    TPM2B_DATA(qualifying_data),
                    TPMT_SIG_SCHEME(scheme=TPM2_ALG.NULL),
                )
                attest_bytes = bytes(attest)
                body = Attestation.parse(attest_bytes).body
                assert isinstance(body, QuoteInfo)
                if body.pcr_digest == pcr_composite_digest(values, selection):
                    marshalled = signature.marshal()
                    return Quote(
                        attest_bytes,
                        marshalled,
                        ecdsa_signature_to_der(marshalled),
                        selection,
                        values,
                    )
        raise TpmError(f"PCRs {selection} kept changing while being quoted")

    def certify(
        self,
        obj: KeyBlob | BindingKey,
        ak: KeyBlob,
        qualifying_data: bytes,
        obj_auth: bytes | None = None,
    ) -> Certification:
        """TPM2_Certify: the AK signs the object's Name (hence its public key, attributes and
        policy) as a key loaded in this TPM. ``obj_auth`` is the object's PIN, if it has one
        (Certify uses the object's ADMIN role)."""
        if len(qualifying_data) > 64:
            raise ValueError("qualifying data is at most 64 bytes (TPM2B_DATA)")
        blob = obj.blob if isinstance(obj, BindingKey) else obj
        with self.load(blob, obj_auth) as key, self.load(ak) as signer:
            attest, signature = self._call(
                "certify the key",
                self._esapi.certify,
                key._tr(),
                signer._tr(),
                TPM2B_DATA(qualifying_data),
                TPMT_SIG_SCHEME(scheme=TPM2_ALG.NULL),
            )
        marshalled = signature.marshal()
        return Certification(bytes(attest), marshalled, ecdsa_signature_to_der(marshalled))

    def activate_credential(
        self, ak: KeyBlob, kind: str, credential_blob: bytes, encrypted_secret: bytes
    ) -> bytes:
        """TPM2_ActivateCredential (Part 3 §12.5) of a MakeCredential bound to ``ak``'s Name,
        with this TPM's ``kind`` ("rsa" or "ecc") EK: the persistent one at its TCG handle, or
        the primary from the EK template. The EK is used through a policy session satisfying
        its PolicySecret(TPM_RH_ENDORSEMENT) (empty endorsement auth). Returns the secret."""
        blob, _ = TPM2B_ID_OBJECT.unmarshal(credential_blob)
        secret, _ = TPM2B_ENCRYPTED_SECRET.unmarshal(encrypted_secret)
        with self._endorsement_key(kind) as ek, self.load(ak) as key:
            session = self._call(
                "start a policy session",
                self._esapi.start_auth_session,
                ESYS_TR.NONE,
                ESYS_TR.NONE,
                TPM2_SE.POLICY,
                TPMT_SYM_DEF(algorithm=TPM2_ALG.NULL),
                TPM2_ALG.SHA256,
            )
            try:
                self._call(
                    "satisfy the EK's policy (PolicySecret endorsement)",
                    self._esapi.policy_secret,
                    ESYS_TR.ENDORSEMENT,
                    session,
                )
                recovered = self._call(
                    "activate the credential",
                    self._esapi.activate_credential,
                    key._tr(),
                    ek,
                    blob,
                    secret,
                    session1=ESYS_TR.PASSWORD,
                    session2=session,
                )
            finally:
                self._flush(session)
        return bytes(recovered)

    # SRK handling ----------------------------------------------------------------------------
