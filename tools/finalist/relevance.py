"""Whether retrieved facts are about the question at all, before any answer is composed.

Hybrid search always returns something; five signals say when that something is not an
answer:

- the question names a record (a Jira key such as ``ALOY-99999``, a commit sha) that no fact
  is and no fact mentions;
- the question asks for the commit of an issue it names that is still open and that no
  commit cites ("which commit switched plugins to worker threads (DAEMON-320)?");
- the question names something no indexed chunk holds (``Sentry`` or ``ALLOY_CACHE_DIR`` in
  an Alloy corpus, or a word where a tool's name goes, "written in python":
  ``features["unknown_names"]``) and the best fact does not cover most of it
  (``features["coverage"]`` below :data:`MAX_NAMED_COVERAGE`);
- the question has other terms no indexed chunk holds in any form (``monthly``:
  ``features["unknown"]``), and the best fact matches it weakly: it covers little of the
  question (``coverage`` below :data:`MIN_COVERAGE`) and matches its meaning only loosely
  (dense cosine below :data:`MAX_OFF_TOPIC_COSINE`), or, for two unseen terms or more
  ("forwarded to mixpanel or sentry"), matches its meaning poorly whatever it covers
  (below :data:`MAX_UNSEEN_COSINE`). Unless the fact holds a rare name the question writes
  (``suppressReturn``: ``features["rare_names"]``), is the page of a package the question
  names (``appcd-path``: ``features["package"]``), or is first in both the dense and the
  BM25 search (two searches that agree on a chunk have found the subject): people
  paraphrase in words the sources do not use (``spacers``, ``shrank``, ``swallows``,
  ``keepalive``), so an unseen word alone says little;
- the best fact is a stray: neither search ranks its chunk in its top
  :data:`MAX_STRAY_RANK` (the reranker's cues alone put it first), and it matches the
  question weakly in words and meaning (``coverage`` below :data:`MIN_COVERAGE`, cosine
  below :data:`MAX_UNSEEN_COSINE`), whatever words the question uses ("two-factor
  authentication for the Jira project", "Face ID login": every word is indexed, none
  of them together). Unless it holds a rare name or is the page of a package the
  question names, as above.

Either way the finalist refuses instead of quoting a neighbour. A question whose named
records are among the facts is on topic, also when it names a page by a name in its file
name ("got a 404.3 back" and ``404.3-PROCESS_NOT_FOUND.md``: ``names_fact``). Hits from
a plain search (no features) are judged by the first two signals only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from tools.finalist.candidates import KEY, STOPWORDS
from tools.finalist.citations import fact_ref
from tools.finalist.extractive import names_fact
from tools.index.cues import asks_for_a_commit
from tools.records import SHORT_SHA, Hit

MIN_COVERAGE = 0.3
"""Coverage (IDF-weighted share of the question's terms) below which a question with
unseen terms is off topic; set on the Alloy tuning set."""
MAX_OFF_TOPIC_COSINE = 0.6
"""Dense cosine from which the best fact is on topic whatever its words; set likewise."""
MAX_UNSEEN_COSINE = 0.5
"""Dense cosine below which a question with two unseen terms or more is off topic however
much of it the best fact covers; set on the Daemon tuning sets (answerable questions with
two unseen terms match from 0.54 up)."""
MAX_STRAY_RANK = 5
"""Rank in the dense or the BM25 search within which a best fact was found by a search;
set on the nine tuning sets (ranks 4 and 5 refuse the same two unanswerable questions and
no answerable one; 3 refuses an answerable one too)."""
MAX_NAMED_COVERAGE = 0.5
"""Coverage from which a question naming something unseen is still on topic (a typo in a
name of a question otherwise answered); set on the Alloy tuning sets."""


def off_topic(question: str, facts: Sequence[Hit]) -> str | None:
    """Why the facts do not answer ``question`` (for the refusal), or None when they may."""
    refs = [fact_ref(f).lower() for f in facts]
    texts = " ".join(f"{f.get('title', '')} {f.get('text', '')}" for f in facts).lower()
    names = [*KEY.findall(question), *SHORT_SHA.findall(question.lower())]
    for name in names:
        lowered = name.lower()
        if not any(r == lowered or r.startswith(lowered) for r in refs) and lowered not in texts:
            return f"no indexed record is or mentions {name}"
    uncited = _uncited_open_issues(question, facts)
    if uncited:
        return f"no commit cites {uncited}"
    if names or any(names_fact(question, f) for f in facts):
        return None  # the records it names are among the facts
    features = facts[0].get("features") if facts else None
    cosine = (facts[0].get("scores") or {}).get("dense") if facts else None
    if features and _unseen(features, cosine, facts[0].get("ranks") or {}):
        words = dict.fromkeys(w.lower() for w in re.findall(r"[A-Za-z][\w-]+", question))
        missing = [w for w in words if w not in STOPWORDS and w not in texts]
        what = ", ".join(f'"{t}"' for t in missing[:3]) or "what the question asks about"
        return f"the best-matching sources never mention {what}"
    return None


def _uncited_open_issues(question: str, facts: Sequence[Hit]) -> str:
    """The open issues a question asks the commit of that no commit cites ("DAEMON-320 (Open)").

    Search reranks every commit citing an issue the question names, right after the issue
    when the question asks for a commit (``tools.index.rerank``, the ``fix`` feature), so
    none among the facts means none in the index; an issue still open was not fixed
    another way.
    """
    if not asks_for_a_commit(question):
        return ""
    keys = set(KEY.findall(question))
    issues = [f for f in facts if f.get("source") == "jira" and fact_ref(f) in keys]
    cited = {
        link.partition(":")[2]
        for f in facts
        if f.get("source") == "git"
        for link in (f.get("metadata") or {}).get("links") or []
    }
    found = [
        f"{fact_ref(f)} ({(f.get('metadata') or {}).get('status')})"
        for f in dict((fact_ref(f), f) for f in issues).values()
        if fact_ref(f) not in cited and not (f.get("metadata") or {}).get("resolution")
    ]
    return ", ".join(found) if found and len(found) == len(keys) else ""


def _unseen(features: dict[str, float], cosine: float | None, ranks: dict[str, Any]) -> bool:
    """Whether the best fact's features say the question is about something unseen.

    ``ranks``: its chunk's rank in each search. Both ranking it first outweighs an unseen
    word (not an unseen name); neither ranking it near the top makes a weak match a stray.
    """
    coverage = features.get("coverage", 1.0)
    if features.get("unknown_names") and coverage < MAX_NAMED_COVERAGE:
        return True
    if features.get("rare_names") or features.get("package"):
        return False
    weak = cosine is not None and coverage < MIN_COVERAGE and cosine < MAX_UNSEEN_COSINE
    if weak and _stray(ranks):
        return True
    unknown = features.get("unknown", 0.0)
    if not unknown or (ranks.get("dense") == 1 and ranks.get("bm25") == 1):
        return False
    if cosine is None:
        return coverage < MIN_COVERAGE
    loose = coverage < MIN_COVERAGE and cosine < MAX_OFF_TOPIC_COSINE
    return loose or (unknown >= 2 and cosine < MAX_UNSEEN_COSINE)


def _stray(ranks: dict[str, Any]) -> bool:
    """Whether neither search ranked a chunk within ``MAX_STRAY_RANK`` (None: not at all).

    False when the ranks are not known (a plain search's hit).
    """
    if "dense" not in ranks or "bm25" not in ranks:
        return False
    return all(ranks[name] is None or ranks[name] > MAX_STRAY_RANK for name in ("dense", "bm25"))
