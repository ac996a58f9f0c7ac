"""Agent B: train the LoRA adapter (pipeline) and give its intuition (chat)."""

from __future__ import annotations

import time
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from graph.configuration import Context, get_context
from graph.state import ChatState, PipelineState
from nodes.common import stage_update


def train(
    state: PipelineState, config: RunnableConfig, runtime: Runtime[Context]
) -> dict[str, Any]:
    """Train a new adapter version; it is promoted only if it beats the current one."""
    from tools.lora import run_train

    ctx = get_context(runtime, config)
    return stage_update(
        "train",
        state,
        ctx,
        lambda: run_train(ctx.settings, ctx.data_path, force_cpu=bool(state.get("force_cpu"))),
    )


def intuition(
    state: ChatState, config: RunnableConfig, runtime: Runtime[Context]
) -> dict[str, Any]:
    """Ask the current adapter; off per request (``use_lora``) or when none is promoted."""
    from tools.lora.infer import get_intuition

    ctx = get_context(runtime, config)
    if not ctx.settings.chat.use_lora:
        return {"intuition": None, "intuition_status": "off"}
    start = time.perf_counter()
    model = get_intuition(ctx.settings, ctx.data_path)
    if model is None:
        return {"intuition": None, "intuition_status": "no adapter"}
    text = model.generate(state["standalone_question"])
    return {
        "intuition": text,
        "intuition_status": "generated",
        "timings": {"intuition": time.perf_counter() - start},
    }
