"""Retrieval evaluation: hit@1, hit@5, MRR@k and nDCG@k for dense, BM25 and hybrid search.

A question file is JSON Lines of ``{"question": str, "gold": [{"source", "id"}, ...]}``
where ``id`` is what ``tools.records.display_id`` gives: a Jira key, a full commit sha or a
doc path relative to its docs root. Metrics are computed over records, not chunks: the
ranked list is the hits' distinct records in order of their best chunk, cut at ``k``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Protocol

from tools.index.search import MODES
from tools.records import display_id

CHUNKS_PER_RECORD = 5
"""Chunks fetched per wanted record, so that ``k`` distinct records usually come back."""


class Searcher(Protocol):
    """What the evaluation needs from a retriever."""

    def search(self, query: str, k: int = 10, mode: str = "hybrid") -> list[dict[str, Any]]:
        """Return hits with ``source`` and ``doc_id``, best first."""


def load_questions(path: str | Path) -> list[dict[str, Any]]:
    """Read and check a question file.

    Raises:
        ValueError: A line is not JSON or lacks a question or gold ids; the message names
            the file and line.
    """
    questions = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{where}: not JSON: {exc}") from None
            question = item.get("question") if isinstance(item, dict) else None
            gold = item.get("gold") if isinstance(item, dict) else None
            if not isinstance(question, str) or not question.strip():
                raise ValueError(f"{where}: missing 'question'")
            if (
                not isinstance(gold, list)
                or not gold
                or not all(isinstance(g, dict) and g.get("source") and g.get("id") for g in gold)
            ):
                raise ValueError(f"{where}: 'gold' must be a non-empty list of {{source, id}}")
            questions.append(item)
    if not questions:
        raise ValueError(f"{path}: no questions")
    return questions


def ranked_records(hits: list[dict[str, Any]], k: int) -> list[tuple[str, str]]:
    """Distinct ``(source, display id)`` of the hits in rank order, at most ``k``."""
    seen: list[tuple[str, str]] = []
    for hit in hits:
        key = (hit["source"], display_id(hit["doc_id"]))
        if key not in seen:
            seen.append(key)
    return seen[:k]


def question_metrics(
    ranked: list[tuple[str, str]], gold: set[tuple[str, str]], k: int = 10
) -> dict[str, float]:
    """hit@1, hit@5, MRR@10 and nDCG@10 (binary relevance) of one ranked list.

    Those four are the contract's keys whatever ``k`` is; another ``k`` adds ``mrr@k`` and
    ``ndcg@k``.
    """

    def at(cut: int) -> dict[str, float]:
        relevant = [i for i, key in enumerate(ranked[:cut]) if key in gold]
        dcg = sum(1.0 / math.log2(i + 2) for i in relevant)
        ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(gold), cut)))
        return {
            f"mrr@{cut}": 1.0 / (relevant[0] + 1) if relevant else 0.0,
            f"ndcg@{cut}": dcg / ideal if ideal else 0.0,
        }

    first = next((i for i, key in enumerate(ranked) if key in gold), None)
    return {
        "hit@1": float(first is not None and first < 1),
        "hit@5": float(first is not None and first < 5),
        **at(10),
        **at(k),
    }


def evaluate_retrieval(
    retriever: Searcher, questions_path: str | Path, k: int = 10
) -> dict[str, Any]:
    """Score every search mode on a question file.

    Args:
        retriever: A ``tools.index.search.Retriever`` (or anything with its ``search``).
        questions_path: JSON Lines question file (see the module docstring).
        k: An extra cut-off for MRR and nDCG (the contract's @10 figures are always there).

    Returns:
        ``{"dense"|"bm25"|"hybrid": {"hit@1", "hit@5", "mrr@10", "ndcg@10", ...}, "n"}``,
        means over the questions rounded to 4 digits.
    """
    questions = load_questions(questions_path)
    result: dict[str, Any] = {}
    for mode in MODES:
        totals: dict[str, float] = {}
        for item in questions:
            gold = {(g["source"], str(g["id"])) for g in item["gold"]}
            depth = max(k, 10)
            hits = retriever.search(item["question"], k=depth * CHUNKS_PER_RECORD, mode=mode)
            for name, value in question_metrics(ranked_records(hits, depth), gold, k).items():
                totals[name] = totals.get(name, 0.0) + value
        result[mode] = {name: round(total / len(questions), 4) for name, total in totals.items()}
    result["n"] = len(questions)
    return result
