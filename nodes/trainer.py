"""Agent B in chat: the adapter's intuition (its train stage: ``tools.stages``)."""

from __future__ import annotations

import time
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from graph.configuration import Context, get_context
from graph.state import ChatState


def intuition(
    state: ChatState, config: RunnableConfig, runtime: Runtime[Context]
) -> dict[str, Any]:
    """Ask the current adapter, unless its answer would be wasted.

    Off per request (``use_lora``) and when the finalist is extractive (it drops the
    intuition, so the request does not pay for it); ``no adapter`` when none is promoted.
    """
    from tools.finalist import finalist_name
    from tools.lora.infer import get_intuition

    ctx = get_context(runtime, config)
    if not ctx.settings.chat.use_lora or finalist_name(ctx.settings.model_d) == "extractive":
        return {"intuition": None, "intuition_status": "off"}
    start = time.perf_counter()
    model = get_intuition(ctx.settings, ctx.data_path)
    if model is None:
        return {"intuition": None, "intuition_status": "no adapter"}
    chat = ctx.settings.chat
    text = model.generate(
        state["standalone_question"],
        max_new_tokens=chat.intuition_tokens,
        max_seconds=chat.intuition_seconds,
    )
    return {
        "intuition": text,
        "intuition_status": "generated",
        "timings": {"intuition": time.perf_counter() - start},
    }
