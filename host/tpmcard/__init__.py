"""tpmcard: couple a host TPM 2.0 with a JavaCard.

``tpmcard.connect()`` opens a secured session with the card this host is paired with
(:func:`tpmcard.services.session.connect`); everything else lives in the submodules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "connect"]

if TYPE_CHECKING:
    from tpmcard.services.session import connect


def __getattr__(name: str) -> Any:
    # Lazy: `import tpmcard.apdu` (or the CLI's start) must not load the TPM and channel code.
    if name == "connect":
        from tpmcard.services.session import connect

        return connect
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
