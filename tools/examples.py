"""Example questions drawn from the cleaned corpus, for a chat front end's empty screen.

One question per kind of record the corpus holds (the newest fixed issue that a commit
cites, the newest commit, a reference page, an open-ended bug), so a new user sees at once
what the assistant knows and how to ask.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from tools.datadir import DataDir
from tools.jsonl import read_jsonl
from tools.records import RecordRow, display_id

SHORT_SHA = 8
LABEL_CHARS = 48


@dataclass(frozen=True)
class Example:
    """A question to offer, with a short label for its button."""

    label: str
    question: str


def _label(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1].rstrip() + "…"


def _newest(records: list[RecordRow]) -> list[RecordRow]:
    return sorted(records, key=lambda r: str(r["metadata"].get("created", "")), reverse=True)


def _cited_keys(commits: list[RecordRow]) -> set[str]:
    keys: set[str] = set()
    for commit in commits:
        links = commit["metadata"].get("links") or []
        keys.update(str(link) for link in links if isinstance(link, str))
    return keys


def example_questions(records: Iterable[RecordRow], n: int = 4) -> list[Example]:
    """Up to ``n`` questions, each about a different record of the corpus."""
    by_source: dict[str, list[RecordRow]] = {}
    for record in records:
        by_source.setdefault(record["source"], []).append(record)
    commits = _newest([c for c in by_source.get("git", []) if not c["metadata"].get("merge")])
    issues = _newest(by_source.get("jira", []))
    cited = _cited_keys(commits)
    examples: list[Example] = []
    fixed = [i for i in issues if i["id"] in cited and i["metadata"].get("resolution") == "Fixed"]
    for issue in fixed[:1]:
        key = display_id(issue["id"])
        examples.append(Example(f"What fixed {key}?", f"What fixed {key}: {issue['title']}?"))
    for commit in commits[:1]:
        sha = display_id(commit["id"])[:SHORT_SHA]
        question = f"What changed in commit {sha} ({commit['title']})?"
        examples.append(Example(_label(f"Commit {sha}: {commit['title']}"), question))
    pages = sorted(by_source.get("docs", []), key=lambda r: len(r["text"]), reverse=True)
    for page in pages[:1]:
        question = f"What does the “{page['title']}” page explain?"
        examples.append(Example(_label(f"The “{page['title']}” page"), question))
    bugs = [i for i in issues if i["metadata"].get("type") == "Bug" and i not in fixed[:1]]
    for bug in bugs[:1]:
        question = f"Has “{bug['title']}” been reported, and what was found?"
        examples.append(Example(_label(bug["title"]), question))
    return examples[:n]


@dataclass(frozen=True)
class Overview:
    """What the corpus holds: records per source, and questions to start with."""

    counts: dict[str, int]
    examples: list[Example]


def corpus_overview(data_dir: Path, n: int = 4) -> Overview:
    """Counts and :func:`example_questions` of the cleaned corpus (none before a wash)."""
    path = DataDir(data_dir).cleaned_corpus
    records = list(cast(Iterable[RecordRow], read_jsonl(path))) if path.exists() else []
    counts: dict[str, int] = {}
    for record in records:
        counts[record["source"]] = counts.get(record["source"], 0) + 1
    return Overview(counts, example_questions(records, n))
