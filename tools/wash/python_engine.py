"""The plain-Python wash engine: partition functions run in this process, in order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


class PythonEngine:
    """Run every partition function over the whole input in the calling process."""

    name = "python"

    def __enter__(self) -> PythonEngine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None

    def map_partitions(self, fn: Callable[[list[T]], list[R]], items: Sequence[T]) -> list[R]:
        """Apply ``fn`` to all ``items`` as one partition; results keep the input order."""
        return fn(list(items))
