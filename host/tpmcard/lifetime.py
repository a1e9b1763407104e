"""Explicit lifetimes: what tpmcard opens, ``close()`` ends, and ``with`` ends it on the way out."""

from __future__ import annotations

import abc
from types import TracebackType
from typing import Self

__all__ = ["Closeable"]


class Closeable(abc.ABC):
    """A resource ended by :meth:`close`; ``with obj:`` closes it however the block ends.
    Subclasses implement :meth:`close`."""

    @abc.abstractmethod
    def close(self) -> None:
        """End the resource."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
