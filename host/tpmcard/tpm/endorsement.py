"""The endorsement hierarchy of :class:`~tpmcard.tpm.adapter.Tpm` (docs/binding.md §8, rooting the
AK): the EK certificate in NV, the EK public key, and credential activation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tpm2_pytss import (
    ESYS_TR,
    TPMA_NV,
)

from tpmcard.errors import (
    TpmError,
)
from tpmcard.tpm.credential import (
    NV_EK_CERTIFICATE_ECC,
    NV_EK_CERTIFICATE_RSA,
)
from tpmcard.tpm.esys import (
    _HT_PERSISTENT,
    _MAX_NV_CHUNK,
    EK_PERSISTENT_HANDLE,
)
from tpmcard.tpm.objects import (
    ObjectCreation,
    _ek_template,
)


class Endorsement(ObjectCreation):
    """The EK: its certificate, its public key, ActivateCredential with it."""

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
