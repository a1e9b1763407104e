"""tpmcard: couple a host TPM 2.0 with a JavaCard."""

from __future__ import annotations

__version__ = "0.1.0"
