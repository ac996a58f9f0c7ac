"""Agent C in chat: retrieve the facts for the question (its index stage: ``tools.stages``)."""

from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from graph.configuration import Context, get_context
from graph.state import ChatState

if TYPE_CHECKING:
    from tools.index.search import Retriever


@lru_cache(maxsize=4)
def _retriever(config_path: str, _config_stamp: float, data_dir: Path) -> Retriever:
    from tools.index.search import Retriever

    return Retriever(Context(config_file=config_path).settings, data_dir)


def open_retriever(ctx: Context) -> Retriever | None:
    """The cached retriever for this data dir, or None when no index was built yet."""
    from tools.index.store import index_exists

    if not index_exists(ctx.data_path):
        return None
    return _retriever(ctx.config_path, ctx.config_stamp, ctx.data_path)


def retrieve(state: ChatState, config: RunnableConfig, runtime: Runtime[Context]) -> dict[str, Any]:
    """Hybrid search for the standalone question; no index means no facts."""
    ctx = get_context(runtime, config)
    start = time.perf_counter()
    retriever = open_retriever(ctx)
    facts = []
    if retriever is not None:
        facts = retriever.search(
            state["standalone_question"],
            k=ctx.settings.chat.top_k,
            mode="hybrid",
            filters=ctx.filters,
        )
    return {"facts": facts, "timings": {"retrieve": time.perf_counter() - start}}
