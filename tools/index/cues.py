"""What a question says besides its words: a date, a change, a release, a how-to, names.

Plain functions of the question's text, cheap to import (no index, no model), shared by
the reranker (``tools.index.rerank``) and the extractive finalist.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from tools.index.fields import MONTHS

_MONTH_NAME = "|".join(f"{m[:3]}(?:{m[3:]})?" for m in MONTHS) + "|sept"
"""A month's name or its abbreviation ("Sep", "Sept"), not any word it starts (JUnit)."""
_MONTH = re.compile(
    rf"\b({_MONTH_NAME})\.?,?\s+(?:of\s+)?((?:19|20)\d\d)\b",
    re.IGNORECASE,
)
_ISO_MONTH = re.compile(r"\b((?:19|20)\d\d)-(0[1-9]|1[0-2])\b")
_YEAR = re.compile(r"(?<![\w-])((?:19|20)\d\d)\b")
"""A year, not the number of an issue key (``TIMOB-2015``)."""
_CHANGED = (
    r"(?:changed|added|fixed|made|removed|switched|wrote|committed|contributed|introduced"
    r"|got rid|bumped|upgraded|replaced|renamed|refactored|reverted|dropped|touched|modified"
    r"|merged)"
)
_WHAT_FIXED = (
    r"\bwhat (?:fixed|changed)\b|\bwhat (?:was|were|is) (?:the|that|this) (?:fix|change)(?:e?s)?\b"
)
_WHAT_THE_FIX_WAS = re.compile(_WHAT_FIXED, re.IGNORECASE)
_ABOUT_CHANGE = re.compile(
    rf"\bcommit(?:s|ted)?\b|{_WHAT_FIXED}|\bwhich (?:change|fix)\b"
    r"|\b(?:what|which) was the (?:[\w.'-]+ ){0,3}(?:fix|change|patch) for\b"
    r"|\b(?:fix|fixed|change|changed|patch|patched) by\b|\bwhen (?:was|were|did)\b"
    rf"|\bwho\b.*\b{_CHANGED}\b"
    r"|\b(?:what did |why did (?!(?:my|our|your|the|this|it|its|we|i)\b))"
    r"(?:[\w.'-]+ ){0,2}(?!to )[\w.'-]+ (?:change|fix|add|remove|commit"
    r"|introduce|replace|rename|refactor)\b"
    r"|\bfiles?\b[^?]*\b(?:changed|touched|modified|edited)\b"
    r"|\bfiles?\b(?>[^?]*?\b(?:did|does)\b)[^?]*\b(?:change|touch|modify)\b"
    r"|\bwhich [\w.-]+ (?:was|were) (?:changed|modified|touched|edited|rewritten)\b",
    re.IGNORECASE,
)


_RELEASE_WORD = re.compile(
    r"\b(?:release[ds]?|version(?:s|ed)?|bump(?:s|ed)?|ship(?:s|ped)?)\b", re.IGNORECASE
)
_WHICH = (
    r"\b(?:which|what)(?:'s|\s+(?:is|are|was|were))?\s+(?:(?!(?:do|does|did)\b)[\w.@/-]+\s+){0,3}"
)
"""Which, what or what's, and up to three words before what it asks for."""
_RELEASE_ASKED = re.compile(
    r"\b(?:release[ds]?|bump(?:s|ed)?|ship(?:s|ped)?)\b"
    rf"|{_WHICH}versions?\b"
    r"|\bversions?\s+v?\d|(?<![\w./-])v?\d+\.x\b(?![/-]|\.\w)",
    re.IGNORECASE,
)
"""A release named, or a version asked for ("which Alloy version has the fix?", "version
2.0.0", a series: "with appcd-config-service 3.x"); not a version that is data ("the CLI
version in telemetry payloads") nor a path's ("/android/1.x/info")."""


_WHICH_VERSION = re.compile(rf"{_WHICH}(?:versions?|releases?)\b", re.IGNORECASE)
_REQUIRED = re.compile(r"\b(?:need(?:s|ed)?|requir\w*|support(?:s|ed)?|minimum)\b", re.IGNORECASE)


_TWO_THINGS = re.compile(
    r"\?\s+\S|\b(?:and|or|but)\s+(?:what|how|why|which|when|who|where|is|was|were|did|does"
    r"|do|can|should)\b",
    re.IGNORECASE,
)
_FOR_A_COMMIT = re.compile(
    r"^\W*(?:(?:which|what) (?:commits?|pull requests?)\b"
    r"(?! (?:does|do|is|are|was|were|would|should|says?)\b)|what fixed\b)",
    re.IGNORECASE,
)
_WHY = re.compile(
    r"^\W*why\b|\bwhy (?:did|was|were|is|does|do)\b|\b(?:reasons?|purpose) (?:for|behind|of)\b"
    r"|\bwhat for\b",
    re.IGNORECASE,
)
_WHAT_ELSE = re.compile(
    r"\bwhat (?:else|other)\b|\balong with\b|\brode along\b|\bsame commit\b|\bcame with\b"
    r"|\bwent (?:in|into) with\b",
    re.IGNORECASE,
)


_HOW_TO = re.compile(
    r"^\W*(?:how (?:do|can|should|would|to)\b|what are the steps|steps to)", re.IGNORECASE
)
_LITERAL_NAME = re.compile(
    r"(?<![\w-])--[A-Za-z][\w-]*[A-Za-z0-9]"  # a command-line flag
    r"|(?<![\w./-])[a-z]\w+(?:\.[a-z]\w+)+(?![\w/-]|\.\w)"  # a dotted key: "launch.Any" is not
)
_MEANS = r"(?:use|using|under|in|into|via|through)"
"""Words after which a question names a means: a tool, a language, a service."""
_NAME_SHAPE = re.compile(r"[A-Z_]|[A-Za-z]\d|\d[A-Za-z]")
_DOTFILE = re.compile(r"(?:^|\s)\.$")
_SENTENCE_START = re.compile(r"(?:^|[.!?:]\s+)[\s\"'`(]*$")


def written_as_names(question: str, words: Iterable[str]) -> frozenset[str]:
    """Which of ``words`` (lower-cased tokens) the question writes as a name.

    A name has a capital letter (past the first letter of a sentence), an underscore, or
    letters and digits mixed: ``Sentry``, ``visionOS``, ``ALLOY_CACHE_DIR``, ``k8s``; so is
    a dotfile (``.alloyignore``); the paraphrase words people write in lower case
    (``spacers``, ``shrank``) are not.
    """
    found = set()
    for word in words:
        pattern = rf"(?<![\w-]){re.escape(word)}(?![\w-])"
        for match in re.finditer(pattern, question, re.IGNORECASE):
            written = match.group(0)
            if _SENTENCE_START.search(question[: match.start()]):
                written = written[1:]
            if _NAME_SHAPE.search(written) or _DOTFILE.search(question[: match.start()]):
                found.add(word)
    return frozenset(found)


def placed_as_names(question: str, words: Iterable[str]) -> frozenset[str]:
    """Which of ``words`` (lower-cased tokens) the question puts where a tool's name goes.

    Right after "use", "under", "in", "via", ... ("written in python", "run under bun",
    "use pnpm instead of yarn"), unless a number follows (a time: "in summer 2020"):
    there a word the sources never use names a thing they do not cover, where elsewhere it
    is more often a paraphrase ("brought", "folks"). Not after "to", which is as often
    a verb's ("to dodge sudo").
    """
    found = set()
    for word in words:
        pattern = rf"\b{_MEANS}\s+{re.escape(word)}(?![\w-])(?!\s+\d)"
        if re.search(pattern, question, re.IGNORECASE):
            found.add(word)
    return frozenset(found)


def literal_names(question: str) -> frozenset[str]:
    """The names a question writes that only match as written: ``--since``, ``server.tls``.

    Word search splits them (``since`` is a stopword, ``server`` and ``tls`` are common
    words), so whether the sources know an option or a config key is a question of the
    whole name.
    """
    return frozenset(m.group(0).lower() for m in _LITERAL_NAME.finditer(question))


def asks_what_else(question: str) -> bool:
    """Whether a question asks what else ("what else went in with it?": of a commit)."""
    return _WHAT_ELSE.search(question) is not None


def asks_for_a_commit(question: str) -> bool:
    """Whether a question asks for a commit as its answer ("which commit ...?").

    "What fixed ...?" does too; "what does the commit say?" asks about one.
    """
    return _FOR_A_COMMIT.search(question) is not None


def asks_why(question: str) -> bool:
    """Whether a question asks why ("why did Ewan change ...?", "what was the reason ...?")."""
    return _WHY.search(question) is not None


def asks_how_to(question: str) -> bool:
    """Whether a question asks how to do something ("How do I ...", "steps to ...")."""
    return bool(_HOW_TO.search(question))


def asks_two_things(question: str) -> bool:
    """Whether a question asks two things: two questions, or "... and why/how/which ..."."""
    return _TWO_THINGS.search(question.strip()) is not None


def asks_about_change(question: str) -> bool:
    """Whether a question asks about a change: which commit, what fixed, who changed, when."""
    return bool(_ABOUT_CHANGE.search(question))


def asks_about_release(question: str) -> bool:
    """Whether a question asks about a release or a version ("which release added X?")."""
    return _RELEASE_ASKED.search(question) is not None


def asks_which_version(question: str) -> bool:
    """Whether a question asks which version or release: "since which appcd-dispatcher version?".

    Not one that only names a release ("how do I update it to a newer release?") nor asks
    what it requires ("which version of Node.js do I need?").
    """
    return _WHICH_VERSION.search(question) is not None and not _REQUIRED.search(question)


def says_release(subject: str) -> bool:
    """Whether a commit subject says release, version or bump ("Set version to 1.2")."""
    return _RELEASE_WORD.search(subject) is not None


def asks_what_fixed(question: str) -> bool:
    """Whether a question asks what a fix or change was ("what fixed ALOY-12?")."""
    return _WHAT_THE_FIX_WAS.search(question) is not None


def question_period(question: str) -> tuple[str, str] | None:
    """The month or year a question names, as ``(start, end)`` ISO dates (end exclusive)."""
    month = _MONTH.search(question)
    if month:
        number = [m[:3].lower() for m in MONTHS].index(month.group(1)[:3].lower()) + 1
        return _month_span(int(month.group(2)), number)
    iso = _ISO_MONTH.search(question)
    if iso:
        return _month_span(int(iso.group(1)), int(iso.group(2)))
    year = _YEAR.search(question)
    if year:
        return f"{year.group(1)}-01-01", f"{int(year.group(1)) + 1}-01-01"
    return None


def month_words(question: str) -> frozenset[str]:
    """The names of the months a question dates by, lower-cased as written ("sept").

    Dates, not words the sources should hold: "in Sept 2019" is a period.
    """
    return frozenset(m.group(1).lower() for m in _MONTH.finditer(question))


def _month_span(year: int, month: int) -> tuple[str, str]:
    end = (year + 1, 1) if month == 12 else (year, month + 1)
    return f"{year}-{month:02d}-01", f"{end[0]}-{end[1]:02d}-01"
