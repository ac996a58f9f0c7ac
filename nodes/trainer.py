"""Agent B in chat: the adapter's intuition (its train stage: ``tools.stages``)."""

from __future__ import annotations

import time
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from graph.configuration import Context, get_context
from graph.state import ChatState

EXTRACTIVE_SKIP = "skipped: the extractive finalist answers from the facts alone"


def intuition(
    state: ChatState, config: RunnableConfig, runtime: Runtime[Context]
) -> dict[str, Any]:
    """Ask the current adapter, unless the finalist could not use its answer.

    It runs after retrieval: with no relevant fact the finalist refuses and would drop the
    guess, so it is not computed. ``chat.use_lora`` (or the request's ``use_lora``) and
    the adapter's manifest decide the rest (``tools.lora.infer.skip_reason``); under
    ``auto`` the extractive finalist, which answers from the facts alone, does not ask it.
    """
    from tools.finalist import finalist_name
    from tools.finalist.fuse import relevant_facts
    from tools.lora.infer import get_intuition, skip_reason

    ctx = get_context(runtime, config)
    chat = ctx.settings.chat
    if reason := skip_reason(chat.use_lora, ctx.data_path):
        return {"intuition": None, "intuition_status": reason}
    if chat.use_lora == "auto" and finalist_name(ctx.settings.model_d) == "extractive":
        return {"intuition": None, "intuition_status": EXTRACTIVE_SKIP}
    if not relevant_facts(state.get("facts") or [], chat)[0]:
        return {"intuition": None, "intuition_status": "skipped: no relevant facts to check it"}
    start = time.perf_counter()
    model = get_intuition(ctx.settings, ctx.data_path)
    if model is None:
        return {"intuition": None, "intuition_status": "no adapter"}
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
