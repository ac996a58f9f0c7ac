"""The answer of the chat graph, defined once: what every front end shows or returns."""

from __future__ import annotations

from typing_extensions import TypedDict

from tools.records import Citation


class Answer(TypedDict):
    """What the finalist returns and the chat graph's state carries."""

    answer: str
    """The text; every factual sentence cites ``[n]``."""
    citations: list[Citation]
    """Numbered in order of first use."""
    used_facts: list[str]
    """Chunk ids of the cited facts."""
    used_lora: bool
    """Whether the adapter's intuition went into the answer."""
    intuition_status: str
    """``used``, ``unverified``, ``dropped``, ``off``, ``no adapter``, ..."""
    finalist: str
    """``openai`` or ``extractive``."""
    refused: bool
    """The answer is "I don't know based on the indexed sources"."""
    notes: list[str]
    """What the finalist filtered or fixed, for people reading the result."""


ANSWER_KEYS: tuple[str, ...] = tuple(Answer.__annotations__)
