"""Concurrent single calls served as batches (query embedding under load)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tools.coalesce import Coalescer


def test_concurrent_calls_share_batches_and_each_gets_its_own_result() -> None:
    sizes: list[int] = []

    def slow_square(items: list[int]) -> list[int]:
        sizes.append(len(items))
        time.sleep(0.05)  # a model call: others queue meanwhile
        return [i * i for i in items]

    coalescer = Coalescer(slow_square, max_batch=8)
    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(coalescer.call, range(32)))
    assert results == [i * i for i in range(32)]
    assert sum(sizes) == 32 and max(sizes) <= 8 and coalescer.batches < 32


def test_a_lone_call_runs_at_once_and_errors_reach_every_caller_of_the_batch() -> None:
    def failing(items: list[str]) -> list[str]:
        raise ValueError(f"bad batch of {len(items)}")

    assert Coalescer(lambda items: [s.upper() for s in items]).call("a") == "A"
    coalescer = Coalescer(failing)
    with pytest.raises(ValueError, match="bad batch"):
        coalescer.call("x")
    errors: list[BaseException] = []

    def call() -> None:
        try:
            coalescer.call("y")
        except ValueError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(errors) == 4


def test_query_vectors_equal_one_by_one_encoding() -> None:
    from tools.config import Settings
    from tools.index.embeddings import get_embedder

    embedder = get_embedder(Settings())
    questions = [f"How do I stop the daemon, take {n}?" for n in range(12)]
    with ThreadPoolExecutor(12) as pool:
        together = list(pool.map(embedder.encode_query, questions))
    for question, vector in zip(questions, together, strict=True):
        alone = embedder.encode([question])
        assert vector.shape == alone.shape
        assert float(np.dot(vector[0], alone[0])) > 0.999
