"""Object creation of :class:`~tpmcard.tpm.adapter.Tpm`: the templates, the storage root key
(persistent, or a primary kept as a saved context), create and load under it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from tpm2_pytss import (
    ESYS_TR,
    TPM2_ALG,
    TPM2_ECC,
    TPM2B_PRIVATE,
    TPM2B_PUBLIC,
    TPM2B_SENSITIVE_CREATE,
    TPMA_OBJECT,
    TPMS_ECC_PARMS,
    TPMS_RSA_PARMS,
    TPMS_SENSITIVE_CREATE,
    TPMT_PUBLIC,
    TPMT_SYM_DEF_OBJECT,
    TPMU_PUBLIC_PARMS,
    TPMU_SYM_KEY_BITS,
    TPMU_SYM_MODE,
    TSS2_Exception,
)

from tpmcard.errors import (
    NotSupportedError,
)
from tpmcard.tpm.credential import (
    EK_AUTH_POLICY,
)
from tpmcard.tpm.esys import _HT_PERSISTENT, SRK_PERSISTENT_HANDLE, TpmConnection
from tpmcard.tpm.keyblob import (
    KeyBlob,
    PolicyCommand,
)
from tpmcard.tpm_structures import (
    RH_OWNER,
)

log = logging.getLogger(__name__)


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


class ObjectCreation(TpmConnection):
    """Creating and loading objects under the storage root key (SRK) of
    :class:`~tpmcard.tpm.adapter.Tpm`."""

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
