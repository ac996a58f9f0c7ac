"""Concurrent single calls served as one batch call (query embedding under load).

A server answers many questions at once; embedding each on its own costs a model call per
question, while one call on a batch costs little more than one on a single text. A
:class:`Coalescer` lets the first caller run the batch function on everything queued at that
moment; callers who arrive while it runs wait, and the next of them runs the next batch with
all that queued meanwhile. Nothing waits for a timer: a lone caller runs at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class _Call(Generic[T, R]):
    item: T
    result: R | None = None
    error: BaseException | None = None
    done: bool = False


class Coalescer(Generic[T, R]):
    """Serve :meth:`call` of one item by ``batch(items) -> results`` over queued items.

    Args:
        batch: Maps a list of items to a list of results, in order.
        max_batch: Most items per batch call.
    """

    def __init__(self, batch: Callable[[list[T]], Sequence[R]], max_batch: int = 64) -> None:
        self._batch = batch
        self._max_batch = max_batch
        self._queue: list[_Call[T, R]] = []
        self._running = False
        self._changed = threading.Condition()
        self.batches = 0
        """How many batch calls were made (for tests and metrics)."""

    def call(self, item: T) -> R:
        """The result of ``item``, computed in a batch with whatever else is queued.

        Raises:
            BaseException: What the batch function raised for the batch holding ``item``.
        """
        mine: _Call[T, R] = _Call(item)
        with self._changed:
            self._queue.append(mine)
            while not mine.done:
                if self._running:
                    self._changed.wait()
                    continue
                self._running = True
                calls, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
                self._changed.release()
                try:
                    self._run(calls)
                finally:
                    self._changed.acquire()
                    self.batches += 1
                    self._running = False
                    self._changed.notify_all()
        return self._outcome(mine)

    def _run(self, calls: list[_Call[T, R]]) -> None:
        try:
            results = self._batch([c.item for c in calls])
            for c, result in zip(calls, results, strict=True):
                c.result = result
        except BaseException as exc:
            for c in calls:
                c.error = exc
        for c in calls:
            c.done = True

    @staticmethod
    def _outcome(call: _Call[T, R]) -> R:
        if call.error is not None:
            raise call.error
        return call.result  # type: ignore[return-value]
