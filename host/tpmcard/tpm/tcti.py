"""Which TPM tpmcard uses: one rule, shared by the CLI and every other entry point."""

from __future__ import annotations

import os
from collections.abc import Mapping

#: Environment variable naming a TCTI (tpm2-tools syntax, e.g. ``device:/dev/tpmrm0``).
TCTI_ENV = "TPMCARD_TCTI"
#: The value (in the argument or the environment) that selects the embedded swtpm explicitly.
EMBEDDED = "embedded"


def resolve_tcti(
    explicit: str | None = None, environ: Mapping[str, str] | None = None
) -> str | None:
    """The TCTI to pass to ``Tpm.open``: ``explicit`` (e.g. a ``--tcti`` option), else
    ``$TPMCARD_TCTI``, else None (the embedded swtpm). Empty values count as unset; the word
    ``embedded`` selects the embedded TPM (so ``--tcti embedded`` overrides the environment)."""
    env = os.environ if environ is None else environ
    for value in (explicit, env.get(TCTI_ENV)):
        if value is not None and value.strip():
            value = value.strip()
            return None if value.lower() == EMBEDDED else value
    return None
