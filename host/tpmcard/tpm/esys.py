"""The TPM connection under :class:`~tpmcard.tpm.adapter.Tpm`: ESAPI over a TCTI (or the embedded
swtpm), its lifetime, and every TSS error translated into :class:`~tpmcard.errors.TpmError`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, Self, TypeVar

from tpm2_pytss import (
    ESAPI,
    ESYS_TR,
    TPM2_CAP,
    TPM2_SU,
    TPML_PCR_SELECTION,
    TPMS_CONTEXT,
    TSS2_Exception,
)

from tpmcard.errors import (
    TpmAuthError,
    TpmError,
    TpmLockoutError,
    TpmPolicyError,
)
from tpmcard.lifetime import Closeable
from tpmcard.tpm.swtpm import Swtpm
from tpmcard.tpm_structures import (
    PcrSelection,
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


class _Loaded(Protocol):
    """An object loaded for the caller (:class:`~tpmcard.tpm.adapter.LoadedKey`)."""

    def close(self) -> None: ...


class TpmConnection(Closeable):
    """The ESAPI connection under :class:`~tpmcard.tpm.adapter.Tpm`: opening and closing it,
    the TPM's error codes translated, handles listed and flushed."""

    def __init__(self, esapi: ESAPI, tcti: str, swtpm: Swtpm | None) -> None:
        """Use :meth:`open`."""
        self._esapi = esapi
        self._tcti = tcti
        self._swtpm = swtpm
        self._srk_context: TPMS_CONTEXT | None = None
        self._persistent: dict[int, ESYS_TR] = {}
        self._creation_parent: int | None = None
        self._loaded: set[_Loaded] = set()

    @classmethod
    def open(cls, tcti: str | None = None, *, state_dir: Path | str | None = None) -> Self:
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

    @property
    def tcti(self) -> str:
        """A TCTI string that reaches this same TPM (for ``TPM2TOOLS_TCTI``, tpm2-pytss)."""
        return self._tcti

    @property
    def swtpm(self) -> Swtpm | None:
        """The embedded swtpm this object owns, or None for an external TPM."""
        return self._swtpm

    def transient_handles(self) -> list[int]:
        """Transient objects loaded in the TPM now (by anyone)."""
        return self._handles(_HT_TRANSIENT)

    def session_handles(self) -> list[int]:
        """Sessions loaded or saved in the TPM now (by anyone)."""
        return self._handles(_HT_LOADED_SESSION) + self._handles(_HT_SAVED_SESSION)

    def persistent_handles(self) -> list[int]:
        return self._handles(_HT_PERSISTENT)

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
