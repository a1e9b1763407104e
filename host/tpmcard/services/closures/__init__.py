"""On-card closures (docs/closures.md): images, the assembler and builder, and the session API
(``session.closures``)."""

from __future__ import annotations

from tpmcard.services.closures.assembler import assemble
from tpmcard.services.closures.builder import Builder
from tpmcard.services.closures.image import (
    ClosureFormatError,
    ClosureInfo,
    Header,
    PlainImage,
    author_hash,
    read_image,
    sealed_header,
)

__all__ = [
    "Builder",
    "ClosureFormatError",
    "ClosureInfo",
    "Header",
    "PlainImage",
    "assemble",
    "author_hash",
    "read_image",
    "sealed_header",
]
