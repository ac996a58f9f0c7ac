"""Rerank hybrid results by record, with features of the question and of each record.

Chunk-level fusion lets one long record crowd the list and ranks a record by luck of its
chunking. Here each record takes its best chunk's rank in the dense and in the BM25 list,
and records are fused by reciprocal rank (``rrf_k``). Then cues a person puts in a question
add to a record's score (each in units of the fused score, where rank 1 in both lists is
``2 / (rrf_k + 1)``):

- **title**: the share of the question's terms, weighted by their inverse document
  frequency, found in any form (``sample`` in ``samples``) in the record's title (for a
  document, its title and path), which is what an issue summary or a page's name says;
  counted from ``MIN_TITLE_SHARE`` up;
- **date**: a month or year named in the question ("February 2017", "in 2017",
  "2017-02") that the record's date falls in (a commit's author date, an issue's created or
  resolved date);
- **author**: for a commit, the share of its author's names that the question writes:
  "Chris Williams" is all of one author and half of "Chris Barber" (not for an issue:
  the people a question about an issue names are mostly those who answered it, "how did
  Chris respond?");
- **commit**: the question asks about a change (:func:`asks_about_change`: "which commit",
  "what fixed", "the fix by", "who changed", "when was") and the record is a commit;
- **linked**: the record links to a record the question names by id (the commits citing
  ``ALOY-1305`` in "what fixed ALOY-1305?");
- **named**: the question names the record itself by id, which puts it first;
- **fix**: the question asks about a change and names an issue this commit links to ("which
  commit fixed ALOY-396?"): the commit comes before the issue it names;
- **merge**: the record is a merge commit, whose message says little more than a branch
  name and whose changes are in the commits it merges (a penalty);
- **release**: the record is a release commit (``bump version 1.9.8``: only
  ``RELEASE_FILES`` changed, a subject that says so), which matches a question by its date
  alone, unless the question asks about a release or a version, names the version its
  subject names ("what changed in 1.16.2?" and ``chore(release): 1.16.2``) or names a
  file it changed ("who deleted the yarn.lock files?") (a penalty);
- **coverage**: the share of the question's terms, weighted by their inverse document
  frequency, that the record's best chunk (with its title and fields) holds;
- **paths_only**: for a commit, the share of the question's terms (weighted likewise) that
  only the paths of its changed files hold, taken back off its coverage: a commit is about
  what its message says, and paths hold words that match by accident (``default`` of
  ``conf/default.js`` for "turned telemetry off by default"), unless the question names
  one of its files ("who touched cla.yaml?"); coverage as the refusal reads it keeps them;
- **section**: for a document, the same share (any form) in the headings of its best
  chunk ("Quick Start", "Exit Codes"): what a reference page's section is about;
- **how_to**: the question asks how to do something (:func:`asks_how_to`) and the record
  is a document, where steps are written down (an issue tells how one case went);
- **package**: the question writes the name of the folder a document sits in, when that
  name is a name (``appcd-response`` for ``packages/appcd-response/README.md``; "the
  fswatch manager" for ``appcd-fswatch-manager``: :func:`_names_package`): a
  package's README, and its changelog when the question asks about a release or names a
  version, are what a question naming the package is about, though a long question
  shares a small part of its words with them. Set on the Daemon tuning sets (issues
  about the package are not boosted: that lost more than it gained; a changelog boosted
  for any question put it above the issue about the package); 0.007 to 0.01 rank best
  on all seven tuning sets, higher loses Daemon questions about an issue.

- **versioned**: the question asks which version or release did something ("since
  which appcd-dispatcher version?", not "update to a newer release") and not about a
  change, and the record says which version brought what (a changelog, release notes, an
  issue with fix versions): a commit or a README may say what changed, not when it shipped.

Three more features are reported, not weighted: ``unknown``, how many of the question's
terms no indexed chunk holds in any form (``transactions`` is known where ``transaction``
is); ``unknown_names``, how many of those the question writes as names (``Sentry``,
``visionOS``: :func:`written_as_names`) or puts where a tool's name goes ("written in
python": :func:`placed_as_names`); and ``rare_names``, how many names the question
writes that few chunks hold (``suppressReturn``) this record holds. With ``coverage`` they
tell a question about something the sources never mention (the finalist refuses on them)
from one in other words about something they do.

Weights were set on ``data/eval/alloy_tuning_2.jsonl`` (with ``alloy_tuning.jsonl`` checked),
``how_to`` on all three tuning sets; a cue for code words (``deepExtend``) was dropped: a
page as big as a changelog holds most of them.

A cross-encoder would do better, but none ships offline with the project; these features
are cheap, explainable, and each is scored in ``hit["scores"]["rerank"]``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tools.cleaning.text import code_flags
from tools.index.cues import (
    asks_about_change,
    asks_about_release,
    asks_how_to,
    asks_which_version,
    literal_names,
    month_words,
    placed_as_names,
    question_period,
    says_release,
    written_as_names,
)
from tools.index.fields import VERSION, indexed_text
from tools.index.store import bm25_tokenize, dated_in
from tools.records import FILES_HEADING, changed_paths, display_id
from tools.stemming import fold


class Vocabulary(Protocol):
    """What the cues need to know of the index's words (``IndexVersion`` has it)."""

    def document_frequency(self, tokens: Iterable[str]) -> tuple[dict[str, int], int]:
        """How many chunks hold each BM25 token, and how many chunks there are."""
        ...

    def holds_a_form_of(self, token: str) -> bool:
        """Whether some chunk holds the token or another form of its word."""
        ...

    def holds_text(self, text: str) -> bool:
        """Whether some chunk holds the text as written, case aside."""
        ...


TITLE_WEIGHT = 0.008
DATE_WEIGHT = 0.03
AUTHOR_WEIGHT = 0.008
COVERAGE_WEIGHT = 0.012
SECTION_WEIGHT = 0.008
COMMIT_WEIGHT = 0.008
LINKED_WEIGHT = 0.02
NAMED_WEIGHT = 1.0
MERGE_WEIGHT = -0.008
RELEASE_WEIGHT = -0.008
RELEASE_FILES = frozenset(
    {
        "package.json",
        "package-lock.json",
        "npm-shrinkwrap.json",
        "yarn.lock",
        "lerna.json",
        "changelog.md",
        "changes.md",
        "history.md",
    }
)
"""What a release commit changes: version manifests, lock files, the changelog."""
MAX_RELEASE_SUBJECT_WORDS = 2
"""Words a release commit's subject has besides version numbers ("appcd-fswatcher v2.0.1",
"0.2.37-1 bug fix"), when it does not say release, version or bump."""
_VERSION = re.compile(VERSION)
_VERSION_WORD = re.compile(rf"\S*{VERSION}\S*")
HOW_TO_WEIGHT = 0.004
PACKAGE_WEIGHT = 0.008
VERSIONED_WEIGHT = 0.004
"""Set on the nine tuning sets: 0.004 moved two questions to the right page and none away;
0.006 and more cost a Daemon tuning 1 question."""
_RELEASE_NOTES = re.compile(r"(?:^|/)release[ _-]?notes/", re.IGNORECASE)
_CHANGELOG = re.compile(r"(?:^|/)(?:changelog|changes|history)\.md$", re.IGNORECASE)
_WORD = re.compile(r"[\w.@/-]+")
_NAME_FOLDER = re.compile(r"\w[-.]\w|\d")
MIN_TITLE_SHARE = 0.5
MIN_CHUNKS_FOR_UNSEEN = 2000
"""Below this many chunks a word missing from the index means little (the demo's 900 chunks
lack "print"), so no question term counts as unknown."""
RARE_NAME_SHARE = 0.01
"""A name the question writes that at most this share of chunks holds is a rare one
(``suppressReturn``); set on the Alloy tuning sets (0.003 rescued none)."""
RECORD_POOL = 40
"""Records reranked: the best of the fused list (deeper ones rarely deserve a boost)."""


@dataclass(frozen=True)
class Cues:
    """What a question says beyond its words.

    Attributes:
        terms: Its BM25 tokens.
        weights: The BM25 inverse document frequency of each term in the index.
        unknown: The terms no indexed chunk holds in any form (``transactions`` is known
            where ``transaction`` is; none below ``MIN_CHUNKS_FOR_UNSEEN`` chunks; not the
            name of a month it dates by, "in Sept 2019").
        unknown_names: Those of them the question writes as names.
        rare_names: Known terms the question writes as names that few chunks hold
            (``RARE_NAME_SHARE``).
        period: ``(start, end)`` of the month or year it names (ISO, end exclusive).
        about_commits: It asks about a commit.
        about_releases: It asks about a release or a version.
        which_version: It asks which version or release did something, not about a change
            (a commit says what changed, not which release shipped it).
        versions: The version numbers it names (``1.16.2``, as BM25 tokens them).
        how_to: It asks how to do something.
        words: Its words as written, lower-cased (``appcd-response`` stays whole).
        text: The question.
    """

    terms: frozenset[str]
    weights: Mapping[str, float]
    unknown: frozenset[str]
    unknown_names: frozenset[str]
    rare_names: frozenset[str]
    period: tuple[str, str] | None
    about_commits: bool
    about_releases: bool
    which_version: bool
    versions: frozenset[str]
    how_to: bool
    words: frozenset[str]
    text: str


def question_cues(question: str, vocabulary: Vocabulary) -> Cues:
    """Parse the cues of :class:`Cues` from a question against the index's words."""
    terms = frozenset(bm25_tokenize([question])[0])
    df, n = vocabulary.document_frequency(terms)
    dated = month_words(question)
    unknown = frozenset(
        t
        for t in terms - dated
        if not df[t] and n >= MIN_CHUNKS_FOR_UNSEEN and not vocabulary.holds_a_form_of(t)
    )
    unwritten = frozenset(
        name
        for name in literal_names(question)
        if n >= MIN_CHUNKS_FOR_UNSEEN and not vocabulary.holds_text(name)
    )
    return Cues(
        terms=terms,
        weights={t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in terms},
        unknown=unknown | unwritten,
        unknown_names=(
            written_as_names(question, unknown) | placed_as_names(question, unknown) | unwritten
        ),
        rare_names=written_as_names(
            question, {t for t in terms if 0 < df[t] <= RARE_NAME_SHARE * n}
        ),
        period=question_period(question),
        about_commits=asks_about_change(question),
        about_releases=asks_about_release(question),
        which_version=asks_which_version(question) and not asks_about_change(question),
        versions=frozenset(t for t in terms if _VERSION.fullmatch(t)),
        how_to=asks_how_to(question),
        words=frozenset(w.strip(".").lower() for w in _WORD.findall(question)),
        text=question,
    )


def _share(cues: Cues, found: Iterable[str]) -> float:
    """The share of the question's term weights that ``found`` holds.

    Summed exactly (``math.fsum``): a plain sum over a set depends on its order, which
    changes from run to run, and two records tied but for the last bit would swap.
    """
    total = math.fsum(cues.weights.values())
    return math.fsum(cues.weights[t] for t in found) / total if total else 0.0


def _headings(text: str) -> str:
    """The Markdown heading lines of a chunk's text, without their ``#`` marks.

    A ``# comment`` line in a fenced code block is no heading.
    """
    lines = text.splitlines()
    return " ".join(
        line.lstrip("# ")
        for line, code in zip(lines, code_flags(lines), strict=True)
        if line.startswith("#") and not code
    )


def _in_any_form(terms: frozenset[str], text: str) -> set[str]:
    """The terms ``text`` holds in some form (``samples`` holds ``sample``)."""
    forms = {fold(t) for t in bm25_tokenize([text])[0]}
    return {t for t in terms if fold(t) in forms}


def _file_names(meta: Mapping[str, Any]) -> set[str]:
    """The names of the files a commit changed, lower-cased (``yarn.lock``)."""
    return {path.rsplit("/", 1)[-1].lower() for path in changed_paths(meta)}


def _names_a_file(cues: Cues, meta: Mapping[str, Any]) -> bool:
    """Whether the question names a file the commit changed (``yarn.lock``, ``conf/x.js``)."""
    return bool(_file_names(meta) & {word.rsplit("/", 1)[-1] for word in cues.words})


def _is_release(subject: str, meta: Mapping[str, Any]) -> bool:
    """Whether a commit is a release: it changes release bookkeeping alone, and says so.

    Its subject says release, version or bump, or little besides a version number ("bump
    version 1.9.8", "appcd-fswatcher v2.0.1"); a dependency fix that changes
    ``package.json`` alone ("Set cli-kit to 0.0.3") is no release.
    """
    names = _file_names(meta)
    if not names or not names <= RELEASE_FILES:
        return False
    rest = _VERSION_WORD.sub(" ", subject).split()
    return says_release(subject) or len(rest) <= MAX_RELEASE_SUBJECT_WORDS


def record_features(
    cues: Cues, row: Mapping[str, Any], linked: bool, named: bool
) -> dict[str, float]:
    """Each feature of the module docstring for one record (its first chunk row).

    All are 0..1 but ``rare_names``, a count.
    """
    meta = row["metadata"]
    meta = json.loads(meta) if isinstance(meta, str) else meta
    source = row["source"]
    name = str(row["title"])
    if source == "docs":
        name += " " + re.sub(r"[/_.-]+", " ", display_id(row["doc_id"]))
    in_title = _in_any_form(cues.terms, name)
    share = _share(cues, in_title)
    author = {t for t in bm25_tokenize([str(meta.get("author") or "")])[0] if len(t) > 2}
    dates = [meta.get("created")] + ([meta.get("resolved")] if source == "jira" else [])
    in_period = cues.period is not None and any(dated_in(d, cues.period) for d in dates)
    headings = _headings(str(row["text"])) if source == "docs" else ""
    in_headings = _in_any_form(cues.terms, headings) if headings else set()
    chunk = {**row, "metadata": meta}
    text = indexed_text(chunk)
    found = cues.terms & set(bm25_tokenize([text])[0])
    in_paths = set()
    if source == "git" and not _names_a_file(cues, meta):
        in_paths = found - set(bm25_tokenize([text.partition(FILES_HEADING)[0]])[0])
    return {
        "title": share if share >= MIN_TITLE_SHARE else 0.0,
        "date": float(in_period),
        "author": len(author & cues.terms) / len(author) if source == "git" and author else 0.0,
        "commit": float(cues.about_commits and source == "git"),
        "linked": float(linked),
        "named": float(named),
        "fix": float(linked and cues.about_commits and source == "git"),
        "coverage": _share(cues, found),
        "paths_only": _share(cues, in_paths),
        "section": _share(cues, in_headings),
        "merge": float(bool(meta.get("merge"))),
        "release": float(
            source == "git"
            and not cues.about_releases
            and not (cues.versions and cues.versions & set(bm25_tokenize([name])[0]))
            and not _names_a_file(cues, meta)
            and _is_release(name, meta)
        ),
        "how_to": float(cues.how_to and source == "docs"),
        "package": float(_names_package(cues, row["doc_id"]) and _about_changes(cues, row)),
        "versioned": float(cues.which_version and _states_versions(source, row["doc_id"], meta)),
        "rare_names": float(len(cues.rare_names & found)),
    }


WEIGHTS = {
    "title": TITLE_WEIGHT,
    "date": DATE_WEIGHT,
    "author": AUTHOR_WEIGHT,
    "commit": COMMIT_WEIGHT,
    "linked": LINKED_WEIGHT,
    "named": NAMED_WEIGHT,
    "fix": NAMED_WEIGHT,
    "merge": MERGE_WEIGHT,
    "release": RELEASE_WEIGHT,
    "coverage": COVERAGE_WEIGHT,
    "paths_only": -COVERAGE_WEIGHT,
    "section": SECTION_WEIGHT,
    "how_to": HOW_TO_WEIGHT,
    "package": PACKAGE_WEIGHT,
    "versioned": VERSIONED_WEIGHT,
}


def _states_versions(source: str, doc_id: str, meta: Mapping[str, Any]) -> bool:
    """Whether a record says which version brought what.

    A changelog, a release notes page, an issue with fix versions; not a commit, which is
    made before its release.
    """
    if source == "docs":
        shown = display_id(doc_id)
        return bool(_CHANGELOG.search(shown) or _RELEASE_NOTES.search(shown))
    return source == "jira" and bool(meta.get("fix_versions"))


def _about_changes(cues: Cues, row: Mapping[str, Any]) -> bool:
    """Whether a changelog may answer the question: it asks about a release or a version.

    True for any other record.
    """
    changelog = bool(_CHANGELOG.search(str(row["doc_id"])))
    return not changelog or cues.about_releases or bool(cues.versions)


def _names_package(cues: Cues, doc_id: str) -> bool:
    """Whether the question names the package a document sits in.

    By its folder's name (``appcd-response``) or, for a name of three parts or more, by
    the words after its first ("the fswatch manager" for ``appcd-fswatch-manager``; one
    word, "the http server", would name ``appcd-http`` in every question about HTTP).
    """
    package = _package(doc_id)
    if package is None:
        return False
    if package in cues.words:
        return True
    parts = package.split("-")
    if len(parts) < 3:
        return False
    phrase = r"[\s-]+".join(re.escape(p) for p in parts[1:])
    return re.search(rf"(?<![\w-]){phrase}(?![\w-])", cues.text, re.IGNORECASE) is not None


def _package(doc_id: str) -> str | None:
    """The folder a document sits in when that folder's name is a name.

    ``appcd-response`` for ``packages/appcd-response/README.md``; none for ``docs/CLI``.
    """
    parts = display_id(doc_id).lower().split("/")
    folder = parts[-2] if doc_id.startswith("docs:") and len(parts) > 1 else ""
    return folder if _NAME_FOLDER.search(folder) else None


def fuse_records(
    chunk_docs: Mapping[int, str], rankings: Sequence[Sequence[int]], rrf_k: int
) -> dict[str, float]:
    """Record-level reciprocal rank fusion: each record ranked by its best chunk per list."""
    fused: dict[str, float] = {}
    for ranking in rankings:
        seen: list[str] = []
        for fid in ranking:
            doc = chunk_docs[fid]
            if doc not in seen:
                seen.append(doc)
        for rank, doc in enumerate(seen, 1):
            fused[doc] = fused.get(doc, 0.0) + 1.0 / (rrf_k + rank)
    return fused


def rerank(
    cues: Cues,
    fused: Mapping[str, float],
    rows: Mapping[str, Mapping[str, Any]],
    named: Sequence[str],
    linked: set[str],
) -> list[tuple[str, float, dict[str, float]]]:
    """Records best first, as ``(doc id, score, features)``.

    Args:
        cues: The question's cues.
        fused: Record-level fused scores (:func:`fuse_records`).
        rows: A chunk row (the best one) of each record of ``fused`` and ``named``.
        named: Records the question names by id.
        linked: Records linked to a named one.

    Returns:
        The best ``RECORD_POOL`` fused records, the named ones and those linked to them
        (of ``rows``), reranked.
    """
    best = sorted(fused, key=lambda d: (-fused[d], d))[:RECORD_POOL]
    pool = list(dict.fromkeys([*best, *named, *sorted(d for d in linked if d in rows)]))
    scored = []
    for doc in pool:
        features = record_features(cues, rows[doc], doc in linked, doc in named)
        boost = sum(weight * features[name] for name, weight in WEIGHTS.items())
        features["unknown"] = float(len(cues.unknown))
        features["unknown_names"] = float(len(cues.unknown_names))
        scored.append((doc, fused.get(doc, 0.0) + boost, features))
    scored.sort(key=lambda item: (-item[1], item[0]))
    return scored
