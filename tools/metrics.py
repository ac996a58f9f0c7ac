"""Prometheus metrics (prometheus-client): requests, per-node latency, retrieval hits, errors.

The HTTP server records requests with :func:`observe_request`; graph runs record their nodes
through :class:`MetricsCallback`, a LangChain callback handler passed in the run's config.
:func:`render` gives the text exposition format served at ``/metrics``.
"""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest

REQUESTS = Counter(
    "data_alchemy_requests",
    "HTTP requests by route template, method and status.",
    ["route", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "data_alchemy_request_seconds", "HTTP request latency (whole response) by route.", ["route"]
)
NODE_SECONDS = Histogram(
    "data_alchemy_node_seconds",
    "Graph node latency by graph and node.",
    ["graph", "node"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800),
)
RETRIEVAL_HITS = Histogram(
    "data_alchemy_retrieval_hits",
    "Facts returned per retrieval.",
    buckets=(0, 1, 2, 3, 5, 8, 10, 20, 50),
)
ERRORS = Counter(
    "data_alchemy_errors",
    "Errors by where they happened (http, node:<graph>.<node>, run).",
    ["where"],
)


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    """Count one HTTP request and its latency; a 5xx status also counts as an error."""
    REQUESTS.labels(route=route, method=method, status=str(status)).inc()
    REQUEST_SECONDS.labels(route=route).observe(seconds)
    if status >= 500:
        ERRORS.labels(where="http").inc()


def record_error(where: str) -> None:
    """Count one error at ``where``."""
    ERRORS.labels(where=where).inc()


def render() -> tuple[bytes, str]:
    """The current metrics in Prometheus text format, with their content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


class MetricsCallback(BaseCallbackHandler):
    """Times each graph node and counts retrieval hits and node errors.

    A node's run is the chain run whose name equals its ``langgraph_node`` metadata; any
    node output with a ``facts`` list counts as one retrieval.

    Args:
        graph: Label of the graph whose runs this handler sees (``chat``, ``pipeline``).
    """

    run_inline = True

    def __init__(self, graph: str) -> None:
        self.graph = graph
        self._started: dict[UUID, tuple[str, float]] = {}

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Start the clock when the run is a graph node."""
        node = (metadata or {}).get("langgraph_node")
        if node and kwargs.get("name") == node:
            self._started[run_id] = (node, time.perf_counter())

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Record the node's latency and, for a retrieval, its hit count."""
        started = self._started.pop(run_id, None)
        if started is None:
            return
        node, t0 = started
        NODE_SECONDS.labels(graph=self.graph, node=node).observe(time.perf_counter() - t0)
        facts = outputs.get("facts") if isinstance(outputs, dict) else None
        if isinstance(facts, list):
            RETRIEVAL_HITS.observe(len(facts))

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Count the failed node."""
        started = self._started.pop(run_id, None)
        if started is not None:
            record_error(f"node:{self.graph}.{started[0]}")
