"""Retrieval evaluation: hit@1, hit@5, MRR@k and nDCG@k for dense, BM25 and hybrid search.

Questions come from a question file (``tools.evalset``); unanswerable ones have no gold
record and are left out. Metrics are computed over records, not chunks: the ranked list is
the hits' distinct records in order of their best chunk, cut at ``k``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Protocol

from tools.evalset import UNANSWERABLE, gold_keys, load_questions
from tools.index.search import MODES
from tools.records import display_id

CHUNKS_PER_RECORD = 5
"""Chunks fetched per wanted record, so that ``k`` distinct records usually come back."""


class Searcher(Protocol):
    """What the evaluation needs from a retriever."""

    def search(self, query: str, k: int = 10, mode: str = "hybrid") -> list[dict[str, Any]]:
        """Return hits with ``source`` and ``doc_id``, best first."""


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
    retriever: Searcher,
    questions_path: str | Path,
    k: int = 10,
    sha_map: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Score every search mode on a question file.

    Args:
        retriever: A ``tools.index.search.Retriever`` (or anything with its ``search``).
        questions_path: JSON Lines question file (``tools.evalset``).
        k: An extra cut-off for MRR and nDCG (the contract's @10 figures are always there).
        sha_map: Original to rebuilt commit shas, for gold ids of a rebuilt history.

    Returns:
        ``{"dense"|"bm25"|"hybrid": {"hit@1", "hit@5", "mrr@10", "ndcg@10", ...}, "n",
        "hybrid_by_kind": {kind: {..., "n"}}}``, means over the answerable questions
        rounded to 4 digits.

    Raises:
        ValueError: The file has no answerable question.
    """
    questions = [q for q in load_questions(questions_path, sha_map) if q["kind"] != UNANSWERABLE]
    if not questions:
        raise ValueError(f"{questions_path}: no answerable question")
    depth = max(k, 10)
    result: dict[str, Any] = {}
    for mode in MODES:
        per_question = []
        for item in questions:
            hits = retriever.search(item["question"], k=depth * CHUNKS_PER_RECORD, mode=mode)
            per_question.append(question_metrics(ranked_records(hits, depth), gold_keys(item), k))
        result[mode] = mean_metrics(per_question)
        if mode == "hybrid":
            kinds = sorted({q["kind"] for q in questions})
            result["hybrid_by_kind"] = {
                kind: mean_metrics(
                    [m for m, q in zip(per_question, questions, strict=True) if q["kind"] == kind]
                )
                | {"n": sum(q["kind"] == kind for q in questions)}
                for kind in kinds
            }
    result["n"] = len(questions)
    return result


def mean_metrics(rows: list[dict[str, float]]) -> dict[str, float]:
    """Mean of each metric over ``rows``, rounded to 4 digits."""
    return {name: round(sum(r[name] for r in rows) / len(rows), 4) for name in rows[0]}
