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

import os

# The TSS logs every error to stderr on its own; ours carry the same facts. Quiet it unless the
# user configured TSS2_LOG (read when the libraries first log, so set before they load).
os.environ.setdefault("TSS2_LOG", "all+NONE")

import logging  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterable, Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402
from types import TracebackType  # noqa: E402
from typing import Any, TypeVar  # noqa: E402

from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from tpm2_pytss import (  # noqa: E402
    ESAPI,
    ESYS_TR,
    TPM2_ALG,
    TPM2_CAP,
    TPM2_ECC,
    TPM2_RH,
    TPM2_SE,
    TPM2_ST,
    TPM2_SU,
    TPM2B_DATA,
    TPM2B_DIGEST,
    TPM2B_ECC_POINT,
    TPM2B_ENCRYPTED_SECRET,
    TPM2B_ID_OBJECT,
    TPM2B_PRIVATE,
    TPM2B_PUBLIC,
    TPM2B_SENSITIVE_CREATE,
    TPMA_NV,
    TPMA_OBJECT,
    TPMA_SESSION,
    TPML_DIGEST_VALUES,
    TPML_PCR_SELECTION,
    TPMS_CONTEXT,
    TPMS_ECC_PARMS,
    TPMS_ECC_POINT,
    TPMS_KEYEDHASH_PARMS,
    TPMS_RSA_PARMS,
    TPMS_SENSITIVE_CREATE,
    TPMT_HA,
    TPMT_KEYEDHASH_SCHEME,
    TPMT_PUBLIC,
    TPMT_SIG_SCHEME,
    TPMT_SYM_DEF,
    TPMT_SYM_DEF_OBJECT,
    TPMT_TK_HASHCHECK,
    TPMU_HA,
    TPMU_PUBLIC_PARMS,
    TPMU_SYM_KEY_BITS,
    TPMU_SYM_MODE,
    TSS2_Exception,
)

from tpmcard.errors import (  # noqa: E402  # noqa: E402
    NotSupportedError,
    TpmAuthError,
    TpmError,
    TpmLockoutError,
    TpmPolicyError,
)
from tpmcard.tpm.attest import Attestation, Certification, Quote, QuoteInfo  # noqa: E402
from tpmcard.tpm.credential import (  # noqa: E402
    EK_AUTH_POLICY,
    NV_EK_CERTIFICATE_ECC,
    NV_EK_CERTIFICATE_RSA,
)
from tpmcard.tpm.keyblob import (  # noqa: E402
    BindingKey,
    KeyBlob,
    PcrPolicy,
    PolicyCommand,
)
from tpmcard.tpm.swtpm import Swtpm  # noqa: E402
from tpmcard.tpm_structures import (  # noqa: E402
    CC_POLICY_AUTH_VALUE,
    CC_POLICY_PCR,
    EMPTY_POLICY,
    RH_OWNER,
    PcrSelection,
    Reader,
    ecdsa_signature_to_der,
    parse_pcr_selection_list,
    pcr_composite_digest,
    policy_auth_value,
    policy_pcr,
)

T = TypeVar("T")
log = logging.getLogger(__name__)

#: The persistent handle the TCG reserves for the SRK (Registry of Reserved TPM 2.0 Handles).
SRK_PERSISTENT_HANDLE = 0x81000001
#: ... and for the RSA and ECC EKs (TCG TPM v2.0 Provisioning Guidance §7.8).
EK_PERSISTENT_HANDLE = {"rsa": 0x81010001, "ecc": 0x81010002}
_MAX_NV_CHUNK = 512  # below every TPM's MAX_NV_BUFFER_SIZE (PC Client: at least 512)

# TPM 2.0 Part 2 §6.6 response codes this module reacts to (format-one codes with their
# handle/parameter/session number stripped, as TSS2_Exception.error reports them).
_RC_INITIALIZE = 0x100
_RC_FAILURE = 0x101
_RC_VALUE = 0x084
_RC_AUTH_FAIL = 0x08E
_RC_POLICY_FAIL = 0x09D
_RC_INTEGRITY = 0x09F
_RC_BAD_AUTH = 0x0A2
_RC_OBJECT_MEMORY = 0x902
_RC_SESSION_MEMORY = 0x903
_RC_TESTING = 0x90A
_RC_YIELDED = 0x908
_RC_LOCKOUT = 0x921
_RC_RETRY = 0x922
_LAYER_MASK = 0xFF0000
_LAYER_TCTI = 0x0A0000

# Part 2 §6.13 TPM_PT properties read by info().
_PT_FAMILY_INDICATOR = 0x100
_PT_LEVEL = 0x101
_PT_REVISION = 0x102
_PT_DAY_OF_YEAR = 0x103
_PT_YEAR = 0x104
_PT_MANUFACTURER = 0x105
_PT_VENDOR_STRING_1 = 0x106
_PT_FIRMWARE_VERSION_1 = 0x10B
_PT_FIRMWARE_VERSION_2 = 0x10C

# Part 2 §7.2 TPM_HT handle types (most significant octet).
_HT_LOADED_SESSION = 0x02000000
_HT_SAVED_SESSION = 0x03000000
_HT_TRANSIENT = 0x80000000
_HT_PERSISTENT = 0x81000000

_MAX_RANDOM_PER_CALL = 32  # TPM2_GetRandom returns at most sizeof(TPMU_HA); 32 is safe on all
#: MAX_SYM_DATA (Part 2 §10.4.5 TPM2B_SENSITIVE_DATA): the most TPM2_Create seals; 128 on every
#: PC Client TPM (PC Client Platform TPM Profile, Table "Implementation values").
MAX_SEALED_DATA = 128

_A = TPMA_OBJECT
# Everything tpmcard creates stays in this TPM under this parent, with TPM-generated secrets.
_BOUND = _A.FIXEDTPM | _A.FIXEDPARENT | _A.SENSITIVEDATAORIGIN


def _ecc_template(
    attributes: int,
    *,
    scheme: int = TPM2_ALG.NULL,
    storage: bool = False,
    auth_policy: bytes = b"",
) -> TPM2B_PUBLIC:
    """A P-256 template, nameAlg SHA-256, KDF NULL. Only storage keys carry a symmetric
    algorithm; signing and ECDH keys must have TPM_ALG_NULL there (Part 2 §12.2.3.6)."""
    params = TPMS_ECC_PARMS(curveID=TPM2_ECC.NIST_P256)
    if storage:
        params.symmetric = TPMT_SYM_DEF_OBJECT(
            algorithm=TPM2_ALG.AES,
            keyBits=TPMU_SYM_KEY_BITS(aes=128),
            mode=TPMU_SYM_MODE(aes=TPM2_ALG.CFB),
        )
    else:
        params.symmetric.algorithm = TPM2_ALG.NULL
    params.scheme.scheme = scheme
    if scheme != TPM2_ALG.NULL:
        params.scheme.details.anySig.hashAlg = TPM2_ALG.SHA256
    params.kdf.scheme = TPM2_ALG.NULL
    return TPM2B_PUBLIC(
        publicArea=TPMT_PUBLIC(
            type=TPM2_ALG.ECC,
            nameAlg=TPM2_ALG.SHA256,
            objectAttributes=attributes,
            authPolicy=auth_policy,
            parameters=TPMU_PUBLIC_PARMS(eccDetail=params),
        )
    )


#: The SRK: TCG ECC P-256 storage template (TCG TPM v2.0 Provisioning Guidance §7.5.1; EK
#: Credential Profile 2.5 template H-2: zero-size unique, so that TSS2 key files with parent
#: TPM_RH_OWNER load in tpm2-openssl, tpm2-tss-engine and tpm2-pytss too). Deterministic: the
#: same owner seed always yields the same key.
SRK_TEMPLATE = _ecc_template(
    _BOUND | _A.USERWITHAUTH | _A.NODA | _A.RESTRICTED | _A.DECRYPT, storage=True
)
#: A general-purpose signing key: ECDSA-SHA256 only, usable with its authValue.
_SIGNING_ATTRIBUTES = _BOUND | _A.USERWITHAUTH | _A.SIGN_ENCRYPT
#: An attestation key: restricted (signs only TPM-made structures such as quotes, never a digest
#: that could mimic one), ECDSA-SHA256 (Part 1 §25.3.3 restricted signing keys).
_ATTESTATION_TEMPLATE = _ecc_template(
    _BOUND | _A.USERWITHAUTH | _A.NODA | _A.RESTRICTED | _A.SIGN_ENCRYPT,
    scheme=TPM2_ALG.ECDSA,
)

#: The EK templates of the TCG EK Credential Profile 2.5 §B.3.3 (L-1, RSA 2048) and §B.3.4
#: (L-2, ECC NIST P-256): restricted decryption keys usable only through PolicySecret(endorsement).
_EK_ATTRIBUTES = _BOUND | _A.ADMINWITHPOLICY | _A.RESTRICTED | _A.DECRYPT


def _ek_template(kind: str) -> TPM2B_PUBLIC:
    symmetric = TPMT_SYM_DEF_OBJECT(
        algorithm=TPM2_ALG.AES,
        keyBits=TPMU_SYM_KEY_BITS(aes=128),
        mode=TPMU_SYM_MODE(aes=TPM2_ALG.CFB),
    )
    if kind == "rsa":
        rsa_params = TPMS_RSA_PARMS(symmetric=symmetric, keyBits=2048, exponent=0)
        rsa_params.scheme.scheme = TPM2_ALG.NULL
        area = TPMT_PUBLIC(
            type=TPM2_ALG.RSA,
            nameAlg=TPM2_ALG.SHA256,
            objectAttributes=_EK_ATTRIBUTES,
            authPolicy=EK_AUTH_POLICY,
            parameters=TPMU_PUBLIC_PARMS(rsaDetail=rsa_params),
        )
        area.unique.rsa = bytes(256)
        return TPM2B_PUBLIC(publicArea=area)
    template = _ecc_template(_EK_ATTRIBUTES, storage=True, auth_policy=EK_AUTH_POLICY)
    template.publicArea.unique.ecc.x = bytes(32)
    template.publicArea.unique.ecc.y = bytes(32)
    return template


class LoadedKey:
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

    def __enter__(self) -> LoadedKey:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Tpm:
    """A connection to a TPM 2.0: the embedded swtpm, or any TCTI.

    ``with Tpm.open() as tpm: ...`` (embedded) or ``Tpm.open("device:/dev/tpmrm0")``.
    """

    def __init__(self, esapi: ESAPI, tcti: str, swtpm: Swtpm | None) -> None:
        """Use :meth:`open`."""
        self._esapi = esapi
        self._tcti = tcti
        self._swtpm = swtpm
        self._srk_context: TPMS_CONTEXT | None = None
        self._persistent: dict[int, ESYS_TR] = {}
        self._creation_parent: int | None = None
        self._loaded: set[LoadedKey] = set()

    # -- connection ---------------------------------------------------------------------------

    @classmethod
    def open(cls, tcti: str | None = None, *, state_dir: Path | str | None = None) -> Tpm:
        """Connect. ``tcti=None``: start and own the embedded swtpm (state in ``state_dir``,
        default ``tpmcard.paths.state_dir()/swtpm``). Otherwise a TCTI string as tpm2-tools
        takes it: ``device:/dev/tpmrm0``, ``swtpm:port=2321``, ``mssim:host=...,port=...``.
        The caller resolves precedence (``tpmcard.tpm.resolve_tcti``)."""
        swtpm: Swtpm | None = None
        if tcti is None:
            swtpm = Swtpm(state_dir).start()
            tcti = swtpm.tcti
        try:
            try:
                esapi = ESAPI(tcti)
            except TSS2_Exception as exc:
                raise TpmError(
                    f"cannot reach the TPM at {tcti!r} ({exc}); check that it exists and is "
                    "running, or fix TPMCARD_TCTI",
                    rc=int(exc.rc),
                ) from exc
            except (RuntimeError, ValueError) as exc:
                raise TpmError(f"bad TCTI {tcti!r}: {exc}") from exc
            tpm = cls(esapi, tcti, swtpm)
            try:
                tpm._probe()
            except BaseException:
                tpm.close()
                raise
            return tpm
        except BaseException:
            if swtpm is not None:
                swtpm.stop()
            raise

    def close(self) -> None:
        """Flush what this object loaded, disconnect, and stop the embedded swtpm if owned."""
        try:
            for key in list(self._loaded):
                key.close()
            for handle in self._persistent.values():
                try:  # frees ESAPI's metadata only; the persistent key stays in the TPM
                    self._esapi.tr_close(handle)
                except TSS2_Exception as exc:
                    log.debug("closing a persistent handle: %s", exc)
            self._persistent.clear()
            self._srk_context = None
        finally:
            if not self._esapi.is_closed():
                self._esapi.close()
            if self._swtpm is not None:
                self._swtpm.stop()

    def __enter__(self) -> Tpm:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def tcti(self) -> str:
        """A TCTI string that reaches this same TPM (for ``TPM2TOOLS_TCTI``, tpm2-pytss)."""
        return self._tcti

    @property
    def swtpm(self) -> Swtpm | None:
        """The embedded swtpm this object owns, or None for an external TPM."""
        return self._swtpm

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

    # -- endorsement (docs/binding.md §8: rooting the AK) -------------------------------------

    def read_ek_certificate(self) -> bytes:
        """The EK certificate (DER) from its NV index (TCG EK Credential Profile §2.2.1.4): the
        RSA one at 0x01c00002, else the ECC P-256 one at 0x01c0000a."""
        handles = self._handles(0x01000000)
        for index in (NV_EK_CERTIFICATE_RSA, NV_EK_CERTIFICATE_ECC):
            if index in handles:
                return self._nv_read_all(index)
        raise TpmError(
            "this TPM holds no EK certificate (NV index 0x01c00002 or 0x01c0000a): its "
            "manufacturer did not provision one. The embedded swtpm gets one when its state is "
            "created (`tpmcard tpm reset` recreates it); a real TPM's certificate may have to be "
            "fetched from its vendor",
        )

    def _nv_read_all(self, index: int) -> bytes:
        handle = self._call(f"open NV index 0x{index:08x}", self._esapi.tr_from_tpmpublic, index)
        try:
            public, _name = self._call(
                "read the EK certificate's NV public area", self._esapi.nv_read_public, handle
            )
            size = int(public.nvPublic.dataSize)
            auth = handle if int(public.nvPublic.attributes) & TPMA_NV.AUTHREAD else ESYS_TR.OWNER
            data = b""
            while len(data) < size:
                chunk = self._call(
                    "read the EK certificate",
                    self._esapi.nv_read,
                    handle,
                    min(_MAX_NV_CHUNK, size - len(data)),
                    len(data),
                    auth,
                )
                data += bytes(chunk)
            return data
        finally:
            self._esapi.tr_close(handle)

    def ek_public_key(self, kind: str) -> Any:
        """The TPM's ``kind`` ("rsa" or "ecc") EK public key as a ``cryptography`` key: the
        persistent one at its TCG handle, or the primary from the EK template."""
        from cryptography.hazmat.primitives.serialization import load_der_public_key

        with self._endorsement_key(kind) as ek:
            public, _name, _qualified = self._call(
                "read the EK's public area", self._esapi.read_public, ek
            )
        return load_der_public_key(public.to_der())

    @contextmanager
    def _endorsement_key(self, kind: str) -> Iterator[ESYS_TR]:
        persistent = EK_PERSISTENT_HANDLE[kind]
        if persistent in self._handles(_HT_PERSISTENT):
            yield self._persistent_handle(persistent)
            return
        created, *_ = self._call(
            "create the endorsement key",
            self._esapi.create_primary,
            None,
            _ek_template(kind),
            ESYS_TR.ENDORSEMENT,
        )
        try:
            yield created
        finally:
            self._flush(created)

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

    # -- diagnostics --------------------------------------------------------------------------

    def transient_handles(self) -> list[int]:
        """Transient objects loaded in the TPM now (by anyone)."""
        return self._handles(_HT_TRANSIENT)

    def session_handles(self) -> list[int]:
        """Sessions loaded or saved in the TPM now (by anyone)."""
        return self._handles(_HT_LOADED_SESSION) + self._handles(_HT_SAVED_SESSION)

    def persistent_handles(self) -> list[int]:
        return self._handles(_HT_PERSISTENT)

    # -- internals ----------------------------------------------------------------------------

    def _call(self, what: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one ESAPI call; TPM2_Startup and retry once on TPM_RC_INITIALIZE, retry the
        TPM's "try again" warnings a few times, translate every TSS error."""
        started = False
        retries = 0
        while True:
            try:
                return function(*args, **kwargs)
            except TSS2_Exception as exc:
                rc = int(exc.rc)
                if rc == _RC_INITIALIZE and not started:
                    self._startup()
                    started = True
                    continue
                if rc in (_RC_RETRY, _RC_YIELDED, _RC_TESTING) and retries < 20:
                    retries += 1
                    time.sleep(0.005 * retries)
                    continue
                raise self._translate(what, exc) from exc

    def _translate(self, what: str, exc: TSS2_Exception) -> TpmError:
        rc = int(exc.rc)
        detail = f"{exc} (rc=0x{rc:x})"
        if rc & _LAYER_MASK == _LAYER_TCTI:
            return TpmError(
                f"lost the connection to the TPM at {self.tcti!r} while trying to {what}: "
                f"{detail}; check that the TPM (or swtpm) is still running",
                rc=rc,
            )
        if rc & _LAYER_MASK:
            return TpmError(f"could not {what}: {detail}", rc=rc)
        error = int(exc.error)
        if error == _RC_POLICY_FAIL:
            return TpmPolicyError(f"the TPM refused the policy to {what}: {detail}", rc=rc)
        if error in (_RC_AUTH_FAIL, _RC_BAD_AUTH):
            return TpmAuthError(
                f"wrong PIN or password to {what}; each failure counts towards the TPM's "
                f"dictionary-attack lockout ({detail})",
                rc=rc,
            )
        if rc == _RC_LOCKOUT:
            return TpmLockoutError(
                "the TPM is locked out after too many wrong PINs or passwords; wait for it to "
                f"recover, or have the owner reset it (tpm2_dictionarylockout -c) ({detail})",
                rc=rc,
            )
        if rc in (_RC_OBJECT_MEMORY, _RC_SESSION_MEMORY):
            return TpmError(
                f"the TPM has no free slot to {what}: another program left objects or sessions "
                f"loaded; flush them (tpm2_flushcontext -t -s) or use a resource manager "
                f"(/dev/tpmrm0) ({detail})",
                rc=rc,
            )
        if error == _RC_INTEGRITY:
            return TpmError(
                f"could not {what}: this key was not made by this TPM under this parent, or the "
                f"TPM was cleared since ({detail})",
                rc=rc,
            )
        if rc == _RC_FAILURE:
            return TpmError(f"the TPM is in failure mode; restart it ({detail})", rc=rc)
        return TpmError(f"the TPM refused to {what}: {detail}", rc=rc)

    def _startup(self) -> None:
        """TPM2_Startup for a TPM found not started: resume saved state if there is any."""
        try:
            self._esapi.startup(TPM2_SU.STATE)
        except TSS2_Exception as exc:
            if int(exc.error) != _RC_VALUE:
                raise self._translate("start the TPM (TPM2_Startup)", exc) from exc
            try:
                self._esapi.startup(TPM2_SU.CLEAR)
            except TSS2_Exception as exc2:
                raise self._translate("start the TPM (TPM2_Startup)", exc2) from exc2

    def _probe(self) -> None:
        self._properties(_PT_FAMILY_INDICATOR, 1)

    def _properties(self, first: int, count: int) -> dict[int, int]:
        _more, data = self._call(
            "read TPM properties",
            self._esapi.get_capability,
            TPM2_CAP.TPM_PROPERTIES,
            first,
            count,
        )
        return {int(p.property): int(p.value) for p in data.data.tpmProperties}

    def _handles(self, first: int) -> list[int]:
        out: list[int] = []
        start = first
        while True:
            more, data = self._call(
                "list handles", self._esapi.get_capability, TPM2_CAP.HANDLES, start, 64
            )
            batch = [int(h) for h in data.data.handles if int(h) >> 24 == first >> 24]
            out.extend(batch)
            if not more or not batch:
                return out
            start = batch[-1] + 1

    @staticmethod
    def _tpml(selection: PcrSelection) -> TPML_PCR_SELECTION:
        tpml, _ = TPML_PCR_SELECTION.unmarshal(selection.marshal_list())
        return tpml

    def _flush(self, handle: ESYS_TR) -> None:
        try:
            self._esapi.flush_context(handle)
        except TSS2_Exception as exc:  # never mask the error that brought us here
            if int(exc.rc) & _LAYER_MASK == _LAYER_TCTI:
                return
            raise self._translate("flush a transient object", exc) from exc

    def _start_policy_session(self, salt_key: ESYS_TR) -> ESYS_TR:
        """A policy session salted with ``salt_key`` (the parent) whose responses are encrypted
        (AES-128-CFB parameter encryption, Part 1 §21); the caller flushes it."""
        session = self._call(
            "start a policy session",
            self._esapi.start_auth_session,
            salt_key,
            ESYS_TR.NONE,
            TPM2_SE.POLICY,
            TPMT_SYM_DEF(
                algorithm=TPM2_ALG.AES,
                keyBits=TPMU_SYM_KEY_BITS(aes=128),
                mode=TPMU_SYM_MODE(aes=TPM2_ALG.CFB),
            ),
            TPM2_ALG.SHA256,
        )
        try:
            attributes = TPMA_SESSION.CONTINUESESSION | TPMA_SESSION.ENCRYPT
            self._esapi.trsess_set_attributes(session, attributes, attributes)
        except BaseException:
            self._flush(session)
            raise
        return session

    def _replay_policy(
        self,
        session: ESYS_TR,
        blob: KeyBlob,
        pcr_policy: PcrPolicy,
        changed_message: str = "",
    ) -> None:
        changed_message = changed_message or _PCR_CHANGED
        for command in blob.policy:
            if command.command_code == CC_POLICY_PCR:
                policy = PcrPolicy.from_policy_command(command)
                try:
                    # With the expected digest given, the TPM compares it with the current PCRs
                    # itself and answers TPM_RC_VALUE on a mismatch (Part 3 §23.7).
                    self._esapi.policy_pcr(session, policy.pcr_digest, self._tpml(policy.selection))
                except TSS2_Exception as exc:
                    if int(exc.error) == _RC_VALUE:
                        raise TpmPolicyError(
                            changed_message.format(selection=policy.selection),
                            rc=int(exc.rc),
                            pcr_selection=str(policy.selection),
                        ) from exc
                    raise self._translate("replay the PCR policy", exc) from exc
            elif command.command_code == CC_POLICY_AUTH_VALUE:
                self._call("add the PIN to the policy", self._esapi.policy_auth_value, session)
            else:
                raise NotSupportedError(
                    f"policy command 0x{command.command_code:x} in a key file is not supported"
                )

    # SRK handling ----------------------------------------------------------------------------

    def _create(
        self,
        template: TPM2B_PUBLIC,
        auth: bytes | None,
        policy: tuple[PolicyCommand, ...],
        kind: str,
    ) -> KeyBlob:
        sensitive = TPM2B_SENSITIVE_CREATE(TPMS_SENSITIVE_CREATE(userAuth=auth or b""))
        return self._create_object(template, sensitive, auth, policy, f"create a {kind} key")

    def _create_object(
        self,
        template: TPM2B_PUBLIC,
        sensitive: TPM2B_SENSITIVE_CREATE,
        auth: bytes | None,
        policy: tuple[PolicyCommand, ...],
        what: str,
    ) -> KeyBlob:
        parent_handle = self._parent_for_new_keys()
        with self._parent(parent_handle) as parent:
            private, public, *_ = self._call(what, self._esapi.create, parent, sensitive, template)
        return KeyBlob(
            public=public.marshal(),
            private=private.marshal(),
            parent=parent_handle,
            empty_auth=auth is None,
            policy=policy,
        )

    def _load(self, blob: KeyBlob) -> ESYS_TR:
        with self._parent(blob.parent) as parent:
            return self._call_load(blob, parent)

    def _call_load(self, blob: KeyBlob, parent: ESYS_TR) -> ESYS_TR:
        private, _ = TPM2B_PRIVATE.unmarshal(blob.private)
        public, _ = TPM2B_PUBLIC.unmarshal(blob.public)
        return self._call("load the key", self._esapi.load, parent, private, public)

    def _parent_for_new_keys(self) -> int:
        """The persistent SRK at 0x81000001 if the TPM has one that can be a parent, else the
        owner-hierarchy primary from SRK_TEMPLATE (recorded in the blob as TPM_RH_OWNER)."""
        if self._creation_parent is None:
            self._creation_parent = RH_OWNER
            if SRK_PERSISTENT_HANDLE in self._handles(_HT_PERSISTENT):
                handle = self._persistent_handle(SRK_PERSISTENT_HANDLE)
                public, _name, _qn = self._call(
                    "read the persistent SRK", self._esapi.read_public, handle
                )
                attributes = int(public.publicArea.objectAttributes)
                if attributes & _A.RESTRICTED and attributes & _A.DECRYPT:
                    self._creation_parent = SRK_PERSISTENT_HANDLE
        return self._creation_parent

    def _persistent_handle(self, handle: int) -> ESYS_TR:
        if handle not in self._persistent:
            self._persistent[handle] = self._call(
                f"open persistent key 0x{handle:08x}", self._esapi.tr_from_tpmpublic, handle
            )
        return self._persistent[handle]

    @contextmanager
    def _parent(self, parent: int) -> Iterator[ESYS_TR]:
        """The parent key loaded for the duration of the block (transient ones flushed)."""
        if parent >> 24 == _HT_PERSISTENT >> 24:
            yield self._persistent_handle(parent)
            return
        if parent != RH_OWNER:
            raise NotSupportedError(f"key files with parent 0x{parent:08x} are not supported")
        handle = self._load_srk()
        try:
            yield handle
        finally:
            self._flush(handle)

    def _load_srk(self) -> ESYS_TR:
        if self._srk_context is not None:
            try:
                return self._esapi.context_load(self._srk_context)
            except TSS2_Exception as exc:  # context invalidated (TPM reset); recreate below
                log.debug("saved SRK context no longer loads (%s); recreating the SRK", exc)
                self._srk_context = None
        handle, *_ = self._call(
            "create the storage root key (SRK)",
            self._esapi.create_primary,
            None,
            SRK_TEMPLATE,
            ESYS_TR.OWNER,
        )
        try:
            self._srk_context = self._esapi.context_save(handle)
        except TSS2_Exception as exc:  # only an optimisation: recreate it next time
            log.debug("could not save the SRK context: %s", exc)
            self._srk_context = None
        return handle


_PCR_CHANGED = (
    "the host's PCR state changed since pairing: PCRs {selection} no longer hold the values "
    "this key is bound to"
)
_SEALED_PCR_CHANGED = (
    "the TPM refused to unseal: PCRs {selection} no longer hold the values the data was sealed "
    "to (it opens again only if they return to those values)"
)
