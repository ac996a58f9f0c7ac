"""Evaluation question files: questions with gold record ids and reference facts.

A question file is JSON Lines, one question per line::

    {"id": "alloy-g02", "question": "What fixed ALOY-1305?", "kind": "git",
     "gold": [{"source": "git", "id": "<full sha>"}, {"source": "jira", "id": "ALOY-1305"}],
     "facts": ["deepclean.js", "semicolon"]}

``gold`` ids are what ``tools.records.display_id`` gives: a Jira key, a full commit sha, a
doc path relative to its docs root. ``facts`` are short strings a right answer contains.
An unanswerable question has ``"kind": "unanswerable"`` and ``"gold": []``. The older
format (``question`` and a non-empty ``gold`` only) still reads: its ``kind`` is the source
of its first gold record and it has no facts.

Git histories rebuilt from an export (``make_git_repo.py``) get new shas; a sha map
(``{original sha: rebuilt sha}``, what ``make_git_repo.py --sha-map`` writes) translates
gold shas to the index's.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from typing_extensions import TypedDict

KINDS = ("jira", "git", "docs", "unanswerable")
UNANSWERABLE = "unanswerable"
HEX_SHA = re.compile(r"\b[0-9a-f]{7,40}\b")
"""A commit sha or a prefix of one as written, or a number of 7 to 40 digits: a sha map or
a full length tells them apart."""


class GoldRecord(TypedDict):
    """A record a right answer rests on."""

    source: str
    id: str


class Question(TypedDict):
    """One evaluation question."""

    id: str
    question: str
    kind: str
    gold: list[GoldRecord]
    facts: list[str]


def gold_keys(question: Question) -> set[tuple[str, str]]:
    """The question's gold records as ``(source, id)`` pairs."""
    return {(g["source"], g["id"]) for g in question["gold"]}


def load_sha_map(path: str | Path | None) -> dict[str, str]:
    """Read ``{original sha: rebuilt sha}``; no path means no map.

    Raises:
        ValueError: The file is not a JSON object of strings.
    """
    if path is None:
        return {}
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ValueError(f"{path}: a sha map is a JSON object of original sha -> rebuilt sha")
    return data


def load_questions(path: str | Path, sha_map: dict[str, str] | None = None) -> list[Question]:
    """Read and check a question file, translating gold shas through ``sha_map``.

    Raises:
        ValueError: A line is not JSON, lacks a question, has a bad kind, gold ids or facts,
            or an unanswerable question names gold records; the message names the file and
            line.
    """
    questions: list[Question] = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                questions.append(_parse(line, f"{path}:{number}", number, sha_map or {}))
    if not questions:
        raise ValueError(f"{path}: no questions")
    return questions


def _parse(line: str, where: str, number: int, sha_map: dict[str, str]) -> Question:
    try:
        item: Any = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: not JSON: {exc}") from None
    if not isinstance(item, dict):
        raise ValueError(f"{where}: not a JSON object")
    question, gold, facts = item.get("question"), item.get("gold"), item.get("facts", [])
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"{where}: missing 'question'")
    if not isinstance(gold, list) or not all(
        isinstance(g, dict) and g.get("source") and g.get("id") for g in gold
    ):
        raise ValueError(f"{where}: 'gold' must be a list of {{source, id}}")
    kind = item.get("kind") or (gold[0]["source"] if gold else UNANSWERABLE)
    if kind not in KINDS:
        raise ValueError(f"{where}: 'kind' must be one of {', '.join(KINDS)}")
    if (kind == UNANSWERABLE and not item.get("kind")) or (kind == UNANSWERABLE) != (not gold):
        raise ValueError(
            f"{where}: 'gold' must be a non-empty list of {{source, id}} "
            "(empty only for an unanswerable question)"
        )
    if not isinstance(facts, list) or not all(isinstance(f, str) and f.strip() for f in facts):
        raise ValueError(f"{where}: 'facts' must be a list of non-empty strings")
    return Question(
        id=str(item.get("id") or f"q{number}"),
        question=question,
        kind=kind,
        gold=[
            GoldRecord(source=g["source"], id=sha_map.get(str(g["id"]), str(g["id"]))) for g in gold
        ],
        facts=[_translated(fact, sha_map) for fact in facts],
    )


def _translated(fact: str, sha_map: dict[str, str]) -> str:
    """A fact naming a commit by a sha prefix, as the rebuilt repository's sha says it.

    A repository rebuilt from a commit export has new shas (``sha_map``: old to new), so a
    fact quoting the original's short sha is translated to the new commit's full sha (the
    evaluator finds it by any short sha of it). Any other fact is returned as it is.
    """
    prefix = fact.lower()
    if not sha_map or not HEX_SHA.fullmatch(prefix):
        return fact  # the map decides: a number is a prefix of no sha
    found = [new for old, new in sha_map.items() if old.startswith(prefix)]
    return found[0] if len(found) == 1 else fact
