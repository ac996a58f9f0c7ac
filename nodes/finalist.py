"""Agent D: condense the follow-up, then fuse facts and intuition into a cited answer."""

from __future__ import annotations

import time
from typing import Any

from langchain_core.callbacks import dispatch_custom_event
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.config import get_stream_writer
from langgraph.runtime import Runtime

from graph.configuration import Context, get_context
from graph.state import ChatState


def condense(state: ChatState, config: RunnableConfig, runtime: Runtime[Context]) -> dict[str, Any]:
    """Redact the question, add it to the thread, and make it standalone from the history."""
    from tools.cleaning.redact import redact_text
    from tools.finalist.condense import condense_question

    ctx = get_context(runtime, config)
    if not str(state.get("question") or "").strip():
        raise ValueError("send a non-empty `question`")
    question = redact_text(state["question"])[0]  # stored in the thread: no secrets there
    history = list(state.get("messages") or [])
    update: dict[str, Any] = {"messages": [HumanMessage(content=question)]}
    start = time.perf_counter()
    update["question"] = question
    update["standalone_question"] = condense_question(question, history, ctx.settings)
    update["timings"] = {"condense": time.perf_counter() - start}
    return update


def fuse(state: ChatState, config: RunnableConfig, runtime: Runtime[Context]) -> dict[str, Any]:
    """Compose the answer: facts win, citations as [n], unsupported intuition labelled."""
    from tools.finalist import ANSWER_KEYS, sentence_meaning
    from tools.finalist import fuse as fuse_answer

    ctx = get_context(runtime, config)
    writer = get_stream_writer()

    def emit(token: str) -> None:
        # The stream writer feeds LangGraph's "custom" mode (CLI, Chainlit); the callback
        # event feeds astream_events, which LangServe's /stream_events relays.
        writer({"token": token})
        dispatch_custom_event("token", {"token": token}, config=config)

    start = time.perf_counter()
    result = fuse_answer(
        state["standalone_question"],
        state.get("facts") or [],
        state.get("intuition"),
        ctx.settings,
        stream_callback=emit,
        meaning=sentence_meaning(ctx.settings),
    )
    answer = {key: result[key] for key in ANSWER_KEYS}
    if state.get("intuition") is None and state.get("intuition_status"):
        answer["intuition_status"] = state["intuition_status"]  # why it was not asked
    return {
        **answer,
        "messages": [AIMessage(content=result["answer"])],
        "timings": {"fuse": time.perf_counter() - start},
    }
