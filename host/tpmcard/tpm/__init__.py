"""The TPM layer: the only package that talks to a TPM (and the only one importing tpm2_pytss).

* :mod:`~tpmcard.tpm.adapter` — :class:`Tpm`, the connection and every TPM operation.
* :mod:`~tpmcard.tpm.swtpm` — :class:`Swtpm`, the embedded TPM with persistent state.
* :mod:`~tpmcard.tpm.keyblob`, :mod:`~tpmcard.tpm.attest`, :mod:`~tpmcard.tpm_structures` —
  key files, attestation parsing and verification, TPM structures: pure Python, importable
  by layers that must not load the TSS libraries.

``Tpm`` and ``LoadedKey`` are imported lazily, so ``import tpmcard.tpm.attest`` does not load
tpm2_pytss.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

# The TSS logs every error to stderr on its own; ours carry the same facts. Quiet it unless the
# user configured TSS2_LOG (read when the libraries first log; this package's __init__ runs
# before any of its modules loads them).
os.environ.setdefault("TSS2_LOG", "all+NONE")

from tpmcard.tpm.tcti import EMBEDDED, TCTI_ENV, resolve_tcti

if TYPE_CHECKING:
    from tpmcard.tpm.adapter import LoadedKey, Tpm
    from tpmcard.tpm.swtpm import Swtpm

__all__ = ["EMBEDDED", "TCTI_ENV", "LoadedKey", "Swtpm", "Tpm", "resolve_tcti"]


def __getattr__(name: str) -> Any:
    if name in ("Tpm", "LoadedKey"):
        from tpmcard.tpm import adapter

        return getattr(adapter, name)
    if name == "Swtpm":
        from tpmcard.tpm.swtpm import Swtpm

        return Swtpm
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
