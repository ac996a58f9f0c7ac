"""Which commits answer a question about a change, and what is quoted of them and their issue.

"What fixed ALOY-12?", "who changed ...", "which commit ...": the answer is the commits
citing the issue the question names or the first record is, else the first record when it
is a commit (and, unless the question asks for one "commit", one citing the same issue
or, when it asks about "commits" or what someone did in a month or year ("what did Ewan
change in April 2019?"), the next that changed a file the question names, or else the next
by the same author; made in that month or year when the question names one), non-merges
first (:func:`answering_commits`). Each is quoted by its best sentence, or more of its
message when the question asks what else it brought or why (:func:`message_ranking`);
the issue they cite follows when the question asks what the fix was, when, or in which
release (:func:`issue_is_asked`, :func:`cited_issue`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from tools.finalist.candidates import KEY, Candidate, terms
from tools.index.cues import (
    asks_about_change,
    asks_about_release,
    asks_what_else,
    asks_what_fixed,
    asks_why,
    question_period,
)
from tools.index.store import dated_in
from tools.records import Hit, changed_paths

ALONG_SENTENCES = 3
"""Sentences of a commit's message quoted besides its best one when the question asks what
else it brought ("what else went in with it?") or why, which share no word with the
question; three and five gained the same facts on the tuning sets."""
MAX_COMMITS = 2
MIN_FILE_NAME = 5
"""Characters of a file name that a question naming it is matched on (not ``a.js``)."""
MIN_SUBJECT_TERMS = 3
_WHEN = re.compile(r"\bwhen\b", re.IGNORECASE)
_PLURAL_COMMITS = re.compile(r"\bcommits\b", re.IGNORECASE)
_WHAT_DID = re.compile(r"^\W*what did\b", re.IGNORECASE)
_ONE_COMMIT = re.compile(r"\bcommit\b", re.IGNORECASE)
"""A question about one commit: "which commit ...", and "what did Tim commit ..." too (one
change is asked about; the tuning sets lost precision when the verb let siblings in)."""


def _links(fact: Hit) -> set[str]:
    return set((fact.get("metadata") or {}).get("links") or [])


def files_named(question: str, commit: Hit) -> set[str]:
    """The paths a commit changed whose file name the question writes (``cla.yaml``)."""
    paths = changed_paths(commit.get("metadata") or {})
    return {
        path
        for path in paths
        if len(name := path.rsplit("/", 1)[-1]) >= MIN_FILE_NAME
        and re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w-]|\.\w)", question, re.IGNORECASE)
    }


def _in_period(fact: Hit, period: tuple[str, str] | None) -> bool:
    """Whether a commit was made in the period a question names (any, when it names none)."""
    return period is None or dated_in((fact.get("metadata") or {}).get("created"), period)


def _author(fact: Hit) -> str | None:
    return (fact.get("metadata") or {}).get("author")


def _is_merge(fact: Hit) -> bool:
    return bool((fact.get("metadata") or {}).get("merge"))


def answering_commits(
    question: str, facts: Sequence[Hit], groups: list[list[int]]
) -> list[list[int]]:
    """The commit records that answer a question about a change (see the module docstring)."""
    if not asks_about_change(question):
        return []
    first = facts[groups[0][0]]
    anchors = {f"jira:{key}" for key in KEY.findall(question)}
    if first.get("source") == "jira":
        anchors.add(str(first.get("doc_id")))
    commits = [g for g in groups if facts[g[0]].get("source") == "git"]
    chosen = [g for g in commits if _links(facts[g[0]]) & anchors]
    if not chosen and first.get("source") == "git":
        one = bool(_ONE_COMMIT.search(question))
        cited = set() if one else _links(first)
        period = question_period(question)
        plural = bool(_PLURAL_COMMITS.search(question)) or bool(
            _WHAT_DID.search(question) and period and not one
        )
        files = files_named(question, first) if plural else set()
        by = _author(first) if plural and not files else None
        chosen = [
            groups[0],
            *(
                g
                for g in commits[1:]
                if (
                    _links(facts[g[0]]) & cited
                    or (by and _author(facts[g[0]]) == by)
                    or files & set(changed_paths(facts[g[0]].get("metadata") or {}))
                )
                and _in_period(facts[g[0]], period)
            ),
        ]
    if any(not _is_merge(facts[g[0]]) for g in chosen):  # a merge repeats what it merges
        chosen = [g for g in chosen if not _is_merge(facts[g[0]])]
    return chosen[:MAX_COMMITS]


def message_ranking(
    question: str,
    group: list[int],
    ranked: list[tuple[float, Candidate]],
    pool: Sequence[Candidate],
) -> tuple[list[tuple[float, Candidate]], int]:
    """The ranking and the number of sentences to quote a commit by.

    Its best sentence; for a question asking what else it brought or why, the rest of its
    message too (where its body says the reason, in words of its own), in reading order
    after the ranked ones, ``ALONG_SENTENCES`` more.
    """
    if not (asks_what_else(question) or asks_why(question)):
        return ranked, 1
    have = {c for _, c in ranked}
    rest = [(0.0, c) for c in pool if c.fact in group and c not in have and not c.listed]
    return [*ranked, *rest], 1 + ALONG_SENTENCES


def issue_is_asked(question: str, commit: Hit) -> bool:
    """Whether the issue the commits cite belongs in the answer about them.

    It does when the question asks what the fix was ("what fixed ...?"), when, or about a
    release or version (the issue says which version had the fix); not when it asks only
    who made a change or which files it touched, which the commits say, nor when it names
    the issue and asks which commit (``_only_the_commit_is_asked``).
    """
    if _only_the_commit_is_asked(question, commit):
        return False
    return bool(asks_what_fixed(question) or _WHEN.search(question) or asks_about_release(question))


def _only_the_commit_is_asked(question: str, commit: Hit) -> bool:
    """Whether a question naming the issue a commit cites asks only about the commit.

    "Which commit fixed ALOY-455?" or "which files did the ALOY-654 fix touch?" ask about
    the commit, whose subject says what it did ("[ALOY-654] Make sure legacy plugin only
    runs ...", at least ``MIN_SUBJECT_TERMS`` content words besides the key); "what fixed
    ALOY-455?" asks what the fix was, and the issue's context is part of that answer.
    """
    named = set(KEY.findall(question)) & {link.removeprefix("jira:") for link in _links(commit)}
    subject = KEY.sub("", str(commit.get("title", "")))
    return (
        bool(named)
        and not asks_what_fixed(question)
        and len(set(terms(subject))) >= MIN_SUBJECT_TERMS
    )


def cited_issue(
    facts: Sequence[Hit], groups: list[list[int]], commits: list[list[int]]
) -> list[list[int]]:
    """The Jira record among the facts that the commits cite, if any."""
    cited = set().union(*(_links(facts[g[0]]) for g in commits))
    return [g for g in groups if facts[g[0]].get("doc_id") in cited][:1]
