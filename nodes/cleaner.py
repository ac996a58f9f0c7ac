"""Agent A: wash (load, clean, redact, dedup, chunk) and refine (SFT synthesis)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from graph.configuration import Context, get_context
from graph.state import PipelineState
from nodes.common import request_sources, stage_update
from nodes.knowledge import open_retriever

log = logging.getLogger(__name__)


def _raft_search(ctx: Context) -> Callable[..., list[dict[str, Any]]] | None:
    """The index's search for RAFT distractors; None when there is no usable index."""
    try:
        retriever = open_retriever(ctx)
    except Exception as exc:  # e.g. built with another embedding model: refine goes on
        log.warning("RAFT examples skipped: the index cannot be opened (%s)", exc)
        return None
    return retriever.search if retriever else None


def wash(state: PipelineState, config: RunnableConfig, runtime: Runtime[Context]) -> dict[str, Any]:
    """Turn the raw sources into ``cleaned_corpus.jsonl`` and ``rag_chunks.jsonl``."""
    from tools.wash import run_wash

    ctx = get_context(runtime, config)
    return stage_update(
        "wash",
        state,
        ctx,
        lambda: run_wash(
            ctx.settings,
            ctx.data_path,
            mode=state.get("mode") or "python",
            sources=request_sources(state),
        ),
    )


def refine(
    state: PipelineState, config: RunnableConfig, runtime: Runtime[Context]
) -> dict[str, Any]:
    """Turn cleaned records (and 👍 feedback) into SFT pairs, RAFT examples included."""
    from tools.synthesis.refine import run_refine

    ctx = get_context(runtime, config)
    return stage_update(
        "refine",
        state,
        ctx,
        lambda: run_refine(
            ctx.settings,
            ctx.data_path,
            max_samples=state.get("max_samples"),
            retriever=_raft_search(ctx),
        ),
    )
