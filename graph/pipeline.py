"""The pipeline graph: plan (S) -> wash (A) -> refine (A) -> index (C) -> train (B).

Routing is data: the plan node writes ``plan[stage] = {"run", "reason"}`` and each
conditional edge goes to the next stage the plan runs. A failed stage ends the run (nothing
downstream runs, so nothing is promoted). With a ``question`` the chat subgraph answers it
after the stages.

``graph`` is compiled without a checkpointer, as ``langgraph dev`` requires.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from graph.configuration import Context
from graph.state import PipelineInput, PipelineState
from nodes import scheduler
from nodes.stage import stage_node
from tools.stages import stage_names


def order() -> tuple[str, ...]:
    """Every node after ``plan``, in pipeline order: the stages, chat, finish."""
    return (*stage_names(), "chat", "finish")


def next_step(state: PipelineState, after: str | None) -> str:
    """The node that follows ``after``: the next planned stage, chat, or finish."""
    reports = state.get("reports") or {}
    if any(rep.get("status") == "failed" for rep in reports.values()):
        return "finish"
    plan = state.get("plan") or {}
    steps = order()
    start = steps.index(after) + 1 if after else 0
    for name in steps[start:]:
        if name in plan and plan[name].get("run"):
            return name
        if name == "chat" and state.get("question"):
            return "chat"
    return "finish"


def _router(after: str | None) -> Callable[[PipelineState], str]:
    def route(state: PipelineState) -> str:
        return next_step(state, after)

    route.__name__ = f"after_{after or 'plan'}"
    return route


def chat(state: PipelineState, config: RunnableConfig, runtime: Runtime[Context]) -> dict[str, Any]:
    """The pipeline's chat route: answer ``question`` with the chat subgraph."""
    from graph.chat import graph as chat_graph
    from tools.finalist import ANSWER_KEYS

    result = chat_graph.invoke({"question": state["question"]}, config, context=runtime.context)
    keys = (*ANSWER_KEYS, "standalone_question", "intuition")
    return {"answer": {k: result.get(k) for k in keys}}


def build_pipeline_graph(checkpointer: Any = None):
    """Compile the pipeline graph from the stage registry (optionally with a checkpointer)."""
    steps = order()
    builder = StateGraph(PipelineState, input_schema=PipelineInput, context_schema=Context)
    builder.add_node("plan", scheduler.plan)
    for name in stage_names():
        builder.add_node(name, stage_node(name))
    builder.add_node("chat", chat)
    builder.add_node("finish", scheduler.finish)
    builder.add_edge(START, "plan")
    for after in ("plan", *stage_names()):
        targets = [n for n in steps if after == "plan" or steps.index(n) > steps.index(after)]
        builder.add_conditional_edges(after, _router(None if after == "plan" else after), targets)
    builder.add_edge("chat", "finish")
    builder.add_edge("finish", END)
    return builder.compile(checkpointer=checkpointer, name="pipeline")


graph = build_pipeline_graph()
