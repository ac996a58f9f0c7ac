"""SFT rows and the train/eval split by source record.

Rows are ``{"messages": [system, user, assistant], "source_ids": [...], "kind": "qa"|"raft"}``.
Records that share a row (a feedback answer citing two records) are joined into one group,
and a whole group goes to one side: no record feeds both files. A group goes to eval when a
stable hash of its smallest record id falls below ``EVAL_SHARE``; with two or more groups,
at least one is eval and at least one is train.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tools.datadir import DataDir
from tools.jsonl import write_jsonl
from tools.records import stable_hash

EVAL_SHARE = 0.1
QA_SYSTEM_PROMPT = (
    "You are the team's knowledge assistant. Answer questions about the team's Jira issues, "
    "Git history and documents."
)


def qa_row(question: str, answer: str, source_ids: Sequence[str]) -> dict[str, Any]:
    """A plain question/answer row."""
    messages = [
        {"role": "system", "content": QA_SYSTEM_PROMPT},
        {"role": "user", "content": question},
        {"role": "assistant", "content": answer},
    ]
    return {"messages": messages, "source_ids": list(source_ids), "kind": "qa"}


def _groups(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The group of each row: the smallest record id connected to it through shared rows."""
    parent: dict[str, str] = {}

    def find(item: str) -> str:
        while parent.setdefault(item, item) != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    keys = [list(row["source_ids"]) or [f"row:{stable_hash(row)}"] for row in rows]
    for ids in keys:
        for other in ids[1:]:
            a, b = find(ids[0]), find(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return [find(ids[0]) for ids in keys]


def _score(group: str) -> float:
    return int(stable_hash(["split", group])[:8], 16) / 2**32


def split_rows(
    rows: Sequence[dict[str, Any]], eval_share: float = EVAL_SHARE
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split rows into (train, eval) by record group, keeping the input order on each side."""
    groups = _groups(rows)
    scores = {g: _score(g) for g in set(groups)}
    evals = {g for g, s in scores.items() if s < eval_share}
    if len(scores) >= 2:
        ranked = sorted(scores, key=lambda g: (scores[g], g))
        if not evals:
            evals = {ranked[0]}
        elif len(evals) == len(scores):
            evals.discard(ranked[-1])
    train = [row for row, g in zip(rows, groups, strict=True) if g not in evals]
    held = [row for row, g in zip(rows, groups, strict=True) if g in evals]
    return train, held


def write_split(data_dir: Path, rows: Sequence[dict[str, Any]]) -> tuple[int, int]:
    """Split ``rows`` and write both files atomically; return (train rows, eval rows)."""
    train, held = split_rows(rows)
    paths = DataDir(data_dir)
    return write_jsonl(paths.sft_train, train), write_jsonl(paths.sft_eval, held)
