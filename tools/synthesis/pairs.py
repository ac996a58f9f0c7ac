"""A synthesized question/answer pair, and how many pairs a record of some size gives."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QAPair:
    """One question/answer pair and the records it comes from (one for synthesized pairs)."""

    question: str
    answer: str
    source_ids: tuple[str, ...]


WORDS_PER_PAIR = 250
MAX_PAIRS_PER_RECORD = 5


def pairs_for_length(text: str) -> int:
    """How many pairs a record of this size should give: one per 250 words, 1 to 5."""
    return max(1, min(MAX_PAIRS_PER_RECORD, 1 + len(text.split()) // WORDS_PER_PAIR))
