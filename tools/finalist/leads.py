"""One sentence that says what a record is, from its fields: the lead of its part of an answer.

- A commit: ``Commit a25f135 by Feon Sua on 2015-09-21: [ALOY-1305] deepclean.js syntax
  error: missing semicolon (changed hooks/deepclean.js, package.json)``.
- A Jira issue: ``ALOY-456 "Support multiple databases in sql adapter" (New Feature) was
  fixed in Alloy 0.3.5``; a duplicate also names the issues it links to.
- A document: none (its sentences speak for it).

Each lead is one sentence (titles lose inner sentence breaks and anything shaped like a
citation marker), so the caller can cite it as a whole.
"""

from __future__ import annotations

import re
from typing import Any

from tools.finalist.citations import MARKER, fact_ref
from tools.records import Hit, changed_paths

MAX_FILES = 5
SHORT_SHA = 7
_BREAK = re.compile(r"([.!?])+[\"')]*\s+(?=\S)")
_SPRINT = re.compile(r"\bsprint\b", re.IGNORECASE)


def one_sentence(text: str) -> str:
    """``text`` on one line as one sentence: breaks become ``;``, markers lose brackets."""
    flat = " ".join(text.split()).rstrip(".!? ")
    flat = _BREAK.sub("; ", flat)
    return MARKER.sub(lambda m: f"({m.group(1)})", flat)


def commit_lead(fact: Hit) -> str:
    """Short sha, author, date, pull request, subject and changed files of a commit.

    A merge's subject names only a branch, so the first paragraph of its message's body (a
    pull request's title) follows it.
    """
    meta: dict[str, Any] = fact.get("metadata") or {}
    sha = fact_ref(fact)[:SHORT_SHA]
    who = f" by {meta['author']}" if meta.get("author") else ""
    when = f" on {str(meta['created'])[:10]}" if meta.get("created") else ""
    pull = f" (pull request #{meta['pull_request']})" if meta.get("pull_request") else ""
    subject = str(fact.get("title", ""))
    if meta.get("merge") and (body := _body_start(str(fact.get("text", "")), subject)):
        subject = f"{subject}: {body}"
    line = f"Commit {sha}{who}{when}{pull}: {one_sentence(subject)}"
    files = changed_paths(meta)
    if files:
        more = len(files) - MAX_FILES
        listed = ", ".join(files[:MAX_FILES]) + (f" and {more} more" if more > 0 else "")
        line += f" (changed {listed})"
    return line


def _body_start(text: str, subject: str) -> str:
    """The first paragraph of a commit message's body, when ``text`` starts with the subject."""
    if not text.startswith(subject):
        return ""
    return next((p.strip() for p in text[len(subject) :].split("\n\n") if p.strip()), "")


def issue_lead(fact: Hit) -> str:
    """Key, summary, type and outcome of a Jira issue."""
    meta: dict[str, Any] = fact.get("metadata") or {}
    kind = f" ({meta['type']})" if meta.get("type") else ""
    line = f'{fact_ref(fact)} "{one_sentence(str(fact.get("title", "")))}"{kind}'
    versions = [v for v in meta.get("fix_versions") or [] if not _SPRINT.search(str(v))]
    resolution = meta.get("resolution")
    if resolution == "Fixed" and versions:
        return f"{line} was fixed in {', '.join(versions)}"
    if resolution == "Duplicate" and (keys := _linked_issues(meta)):
        return f"{line} was resolved as Duplicate (linked to {', '.join(keys)})"
    if resolution:
        return f"{line} was resolved as {resolution}"
    return f"{line} is {meta['status']}" if meta.get("status") else line


def _linked_issues(meta: dict[str, Any]) -> list[str]:
    """The Jira keys an issue links to (``jira:ALOY-931`` -> ``ALOY-931``)."""
    links = meta.get("links") or []
    return [str(link).partition(":")[2] for link in links if str(link).startswith("jira:")]


def lead(fact: Hit) -> str | None:
    """The lead of a fact's record, or None for a document."""
    source = fact.get("source")
    if source == "git":
        return commit_lead(fact)
    if source == "jira":
        return issue_lead(fact)
    return None
