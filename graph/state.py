"""Typed state shared by the nodes of the pipeline and chat graphs.

Keys a caller does not send are ``NotRequired`` so that LangServe and LangGraph Studio can
derive input schemas (see NOTES-stack.md: ``typing_extensions.TypedDict`` on Python 3.11).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from typing_extensions import NotRequired, TypedDict  # noqa: UP035 (see NOTES-stack)

from tools.records import Citation, Hit
from tools.stages import stage_names

__all__ = [
    "ChatInput",
    "ChatState",
    "PipelineInput",
    "PipelineState",
    "StageName",
    "StagePlan",
    "merge_dicts",
]

StageName = Literal[stage_names()]
"""A registered stage (``tools.stages``)."""


def merge_dicts(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Reducer that merges per-stage dicts written by different nodes."""
    return {**(left or {}), **(right or {})}


class StagePlan(TypedDict):
    """The scheduler's decision for one stage."""

    run: bool
    reason: str
    fingerprint: NotRequired[str]
    """The inputs' hash, when the plan computed it (the stage then does not again)."""


class PipelineInput(TypedDict):
    """What a caller asks of one pipeline run (the graph's input schema)."""

    stages: NotRequired[list[StageName]]
    """Stages requested (default: all)."""
    mode: NotRequired[Literal["python", "spark"]]
    """Wash engine."""
    synthesis: NotRequired[bool]
    """Run the refine stage (SFT synthesis) when the request includes it."""
    max_samples: NotRequired[int]
    """Cap on new LLM calls in refine."""
    sources: NotRequired[dict[str, list[str]]]
    """Source overrides ``{"jira": [...], "git": [...], "docs": [...]}``."""
    force: NotRequired[bool]
    """Run requested stages even when their inputs did not change."""
    rebuild: NotRequired[bool]
    """Rebuild the index from scratch (e.g. after changing the embedding model)."""
    force_cpu: NotRequired[bool]
    """Train on the CPU even when an accelerator is present."""
    question: NotRequired[str]
    """When set, the chat route answers it after the stages."""
    run_id: NotRequired[str]
    """Given by a caller that tracks the run (the API's ``/runs``), else made by the plan."""


class PipelineState(PipelineInput):
    """State of one pipeline run: the request, the plan, and what each stage reported."""

    start: NotRequired[str]
    """When the run began (ISO 8601, UTC), stamped by the plan node."""
    plan: NotRequired[dict[str, StagePlan]]
    reports: NotRequired[Annotated[dict[str, dict[str, Any]], merge_dicts]]
    status: NotRequired[Literal["ok", "failed", "interrupted"]]
    answer: NotRequired[dict[str, Any]]


class ChatInput(TypedDict):
    """What a caller sends for one chat turn: the question, never the thread's messages.

    The history is the graph's own (``ChatState.messages``), so no caller can put words in
    the assistant's mouth.
    """

    question: str
    """The user's question."""


class ChatState(TypedDict):
    """State of one chat turn; ``messages`` is the thread's memory."""

    messages: NotRequired[Annotated[list[AnyMessage], add_messages]]
    question: NotRequired[str]
    """The user's question (redacted once the condense node has run)."""
    standalone_question: NotRequired[str]
    facts: NotRequired[list[Hit]]
    """Retrieved chunks (with scores), best first."""
    intuition: NotRequired[str | None]
    """What the LoRA adapter answered, unverified."""
    intuition_status: NotRequired[str]
    answer: NotRequired[str]
    citations: NotRequired[list[Citation]]
    used_facts: NotRequired[list[str]]
    """Chunk ids of the facts the answer rests on."""
    notes: NotRequired[list[str]]
    """What the finalist filtered or fixed, for people reading the result."""
    used_lora: NotRequired[bool]
    refused: NotRequired[bool]
    finalist: NotRequired[str]
    timings: NotRequired[Annotated[dict[str, float], merge_dicts]]
