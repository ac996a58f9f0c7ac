"""Answer evaluation: what a person would check in each answer of a question file.

For every question (``tools.evalset``) the caller's ``ask`` gives the chat graph's answer;
then, over the answerable questions,

- ``facts_recall``: the mean fraction of a question's reference facts found in its answer
  (case-insensitive substring);
- ``citation_precision``: of all cited records, the fraction that are gold records;
- ``false_refusals``: the fraction answered with a refusal;

over the unanswerable ones, ``correct_refusals`` (refused) and ``wrong_answers`` (answered
anyway); and ``latency_ms`` p50/p95 over all questions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tools.evalset import HEX_SHA, UNANSWERABLE, Question, gold_keys, load_questions
from tools.finalist.answer import Answer
from tools.records import SHORT_SHA

Ask = Callable[[str], Answer]
FULL_SHA_LENGTH = 40


def facts_found(answer: str, facts: Sequence[str]) -> int:
    """How many of ``facts`` occur in ``answer``, ignoring case.

    A fact that is a commit sha (or a prefix of one) is found when the answer names the
    commit by a short sha of 7 characters or more: "f86a7d3" names ``f86a7d37``; a full
    sha made of digits alone ("2915374" names it) too.
    """
    text = answer.lower()
    shas = set(HEX_SHA.findall(text))
    return sum(fact.lower() in text or _names_commit(fact.lower(), shas) for fact in facts)


def _names_commit(fact: str, shas: set[str]) -> bool:
    """Whether ``fact`` is a sha that one of ``shas`` is a prefix of (or the other way)."""
    full = len(fact) == FULL_SHA_LENGTH and HEX_SHA.fullmatch(fact)
    return bool(full or SHORT_SHA.fullmatch(fact)) and any(_same_commit(fact, s) for s in shas)


def _same_commit(a: str, b: str) -> bool:
    return a.startswith(b) or b.startswith(a)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` by linear interpolation; 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def judge(question: Question, answer: Answer, seconds: float) -> dict[str, Any]:
    """One question's outcome: facts found, cited records and whether they are gold."""
    gold = gold_keys(question)
    cited = list(dict.fromkeys((c["source"], c["id"]) for c in answer["citations"]))
    return {
        "id": question["id"],
        "kind": question["kind"],
        "refused": answer["refused"],
        "facts": len(question["facts"]),
        "facts_found": facts_found(answer["answer"], question["facts"]),
        "cited": len(cited),
        "cited_gold": sum(c in gold for c in cited),
        "seconds": round(seconds, 4),
    }


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The figures of the module docstring from :func:`judge` rows."""
    answerable = [r for r in rows if r["kind"] != UNANSWERABLE]
    unanswerable = [r for r in rows if r["kind"] == UNANSWERABLE]
    with_facts = [r for r in answerable if r["facts"]]
    cited = sum(r["cited"] for r in answerable)
    latencies = [r["seconds"] * 1000 for r in rows]

    def share(part: int, whole: int) -> float | None:
        return round(part / whole, 4) if whole else None

    return {
        "n": len(rows),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "facts_recall": _mean([r["facts_found"] / r["facts"] for r in with_facts]),
        "citation_precision": share(sum(r["cited_gold"] for r in answerable), cited),
        "citations": cited,
        "false_refusals": share(sum(r["refused"] for r in answerable), len(answerable)),
        "correct_refusals": share(sum(r["refused"] for r in unanswerable), len(unanswerable)),
        "wrong_answers": share(sum(not r["refused"] for r in unanswerable), len(unanswerable)),
        "latency_ms": {
            "p50": round(percentile(latencies, 0.5), 1),
            "p95": round(percentile(latencies, 0.95), 1),
        },
    }


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def evaluate_answers(
    ask: Ask, questions_path: str | Path, sha_map: dict[str, str] | None = None
) -> dict[str, Any]:
    """Ask every question of a file and score the answers.

    Args:
        ask: Gives the chat graph's answer to a question.
        questions_path: JSON Lines question file (``tools.evalset``).
        sha_map: Original to rebuilt commit shas, for gold ids of a rebuilt history.

    Returns:
        The figures of :func:`summarize`, ``by_kind`` (the same per question kind) and
        ``questions`` (each question's row from :func:`judge`).
    """
    rows = []
    for question in load_questions(questions_path, sha_map):
        start = time.perf_counter()
        answer = ask(question["question"])
        rows.append(judge(question, answer, time.perf_counter() - start))
    kinds = sorted({r["kind"] for r in rows})
    return {
        **summarize(rows),
        "by_kind": {k: summarize([r for r in rows if r["kind"] == k]) for k in kinds},
        "questions": rows,
    }
