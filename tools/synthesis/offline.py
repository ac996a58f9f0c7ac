"""The offline refiner: deterministic question/answer pairs from a record's structure.

No network and no model: questions are built from titles, keys, headings and metadata, and
every answer is a contiguous span of the record's ``text`` (trimmed at a sentence or line
boundary), so pairs are grounded by construction.

* Jira: the problem (the description) and, for resolved issues, the resolution: the latest
  comment that names a fix (a fix word, a pull request or commit link), else the latest
  comment; comments that only verify or close the issue are never answers.
* Git: what the commit changed (its message and ``Changed files:`` list, as the git loader
  writes them, without the diff) and, when the message has a body, why (the body).
* Docs: for each section, its heading and its content (up to the per-record pair budget).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tools.records import COMMENT_HEADING, FILES_HEADING, SourceRecord, display_id
from tools.synthesis.grounding import content_tokens
from tools.synthesis.pairs import QAPair, pairs_for_length

MAX_ANSWER_CHARS = 700
MIN_ANSWER_TOKENS = 3

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_FENCE = "```"
_GIT_TAIL = re.compile(rf"\n\n(?:{re.escape(FILES_HEADING)}\n|```)")
_FIX_HINT = re.compile(
    r"\b(fix(e[sd])?|resolved?|merged?|pull request|PR|commit(ted)?|patch(ed)?|landed|"
    r"workaround|solution|solved)\b|github\.com/\S+/(pull|commit)/",
    re.I,
)
_VERIFY_HINT = re.compile(r"\b(verified|verifying|closing|reopen(ing|ed)?)\b", re.I)
_FIXED_LIKE = frozenset({"fixed", "done", "resolved", "completed"})


@dataclass(frozen=True)
class _Span:
    """A region ``text[start:end]`` of the record text."""

    start: int
    end: int


def extract(text: str, span: _Span, limit: int = MAX_ANSWER_CHARS) -> str | None:
    """Return a trimmed substring of ``text`` inside ``span``, or None when too thin.

    Leading heading lines are dropped; a long span is cut at the last sentence or line end
    before ``limit`` (else at a space), and never inside a code fence.
    """
    start, end = span.start, span.end
    while start < end:
        line_end = text.find("\n", start, end)
        line_end = end if line_end < 0 else line_end
        line = text[start:line_end].strip()
        if line and not _HEADING.match(line):
            break
        start = line_end + 1
    piece = text[start:end]
    if len(piece) > limit:
        window = piece[:limit]
        cut = max(window.rfind(". "), window.rfind(".\n"), window.rfind("\n"))
        cut = cut + 1 if cut > limit // 3 else window.rfind(" ")
        piece = window[: cut if cut > 0 else limit]
    if piece.count(_FENCE) % 2:
        piece = piece[: piece.rfind(_FENCE)]
    answer = piece.strip()
    return answer if len(content_tokens(answer)) >= MIN_ANSWER_TOKENS else None


def _subject(record: SourceRecord) -> str:
    """The title as it reads inside a question (no trailing punctuation)."""
    return record.title.strip().rstrip(".:;!?")


def _sections(text: str) -> list[tuple[str, _Span]]:
    """Split Markdown-like text at headings outside code fences: ``(heading, body span)``.

    Text before the first heading comes first with an empty heading.
    """
    out: list[tuple[str, _Span]] = []
    heading, body_start, pos, in_fence = "", 0, 0, False
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith(_FENCE):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(stripped)
        if match:
            out.append((heading, _Span(body_start, pos)))
            heading, body_start = match.group(2), pos + len(line)
        pos += len(line)
    out.append((heading, _Span(body_start, len(text))))
    return out


def _jira_pairs(record: SourceRecord) -> list[QAPair]:
    key, text, meta = display_id(record.id), record.text, record.metadata
    comments = list(COMMENT_HEADING.finditer(text))
    pairs = []
    description_end = comments[0].start() if comments else len(text)
    problem = extract(text, _Span(0, description_end))
    if problem:
        question = f"What is the problem reported in {key}: {_subject(record)}?"
        pairs.append(QAPair(question, problem, (record.id,)))
    resolution = str(meta.get("resolution") or "")
    if resolution and comments:
        starts = [m.end() for m in comments]
        ends = [m.start() for m in comments[1:]] + [len(text)]
        candidates = []
        for index, (start, end) in enumerate(zip(starts, ends, strict=True)):
            body = extract(text, _Span(start, end))
            if body and not _VERIFY_HINT.search(body):
                candidates.append((bool(_FIX_HINT.search(body)), index, body))
        best = max(candidates, default=None)
        if best:
            if resolution.lower() in _FIXED_LIKE:
                question = f"How was {key} ({_subject(record)}) fixed?"
            else:
                question = f"Why was {key} ({_subject(record)}) resolved as {resolution}?"
            pairs.append(QAPair(question, best[2], (record.id,)))
    return pairs


def _git_pairs(record: SourceRecord) -> list[QAPair]:
    sha, text = display_id(record.id), record.text
    repo = record.metadata.get("project") or record.id.partition(":")[2].rpartition("@")[0]
    tail = _GIT_TAIL.search(text)
    message_end = tail.start() if tail else len(text)
    diff_at = text.find("\n\n" + _FENCE)
    pairs = []
    what = extract(text, _Span(0, diff_at if diff_at >= 0 else len(text)))
    if what:
        question = f"What changed in {repo} commit {sha[:10]}?"
        pairs.append(QAPair(question, what, (record.id,)))
    body_at = text.find("\n\n", 0, message_end)
    why = extract(text, _Span(body_at, message_end)) if body_at > 0 else None
    if why:
        question = f"Why was this change made in {repo}: {_subject(record)}?"
        pairs.append(QAPair(question, why, (record.id,)))
    return pairs


def _docs_pairs(record: SourceRecord) -> list[QAPair]:
    path, text = display_id(record.id), record.text
    budget = pairs_for_length(text)
    pairs = []
    for heading, span in _sections(text):
        answer = extract(text, span)
        if not answer:
            continue
        if heading:
            question = f'What does the section "{heading}" of {path} say?'
        else:
            question = f"What is {path} ({_subject(record)}) about?"
        pairs.append(QAPair(question, answer, (record.id,)))
        if len(pairs) == budget:
            break
    return pairs


_BUILDERS = {"jira": _jira_pairs, "git": _git_pairs, "docs": _docs_pairs}


def offline_pairs(record: SourceRecord) -> list[QAPair]:
    """Deterministic, grounded pairs for one record (empty when its structure gives none).

    Raises:
        ValueError: The record's source is not jira, git or docs.
    """
    builder = _BUILDERS.get(record.source)
    if builder is None:
        raise ValueError(f"unknown source {record.source!r}")
    return builder(record)
