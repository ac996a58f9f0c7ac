"""The offline finalist: an answer made of what the facts' records are and their best sentences.

No LLM and nothing executed: the finalist only selects sentences and states record fields.
Each prose sentence of each fact is scored with BM25 against the question's terms (document
frequencies over all candidate sentences), plus a bonus for question terms in the fact's
title, and for facts the question names by id, so "what is ALOY-1000 about?" picks that
issue's sentences. :func:`extractive_answer` then writes the answer record by record (see
its policy), each sentence followed by its marker ``[n]`` where ``n`` is the fact's 1-based
index. The result is deterministic for the same input.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from tools.finalist.candidates import Candidate, candidates, terms
from tools.finalist.chatter import is_chatter, reports_a_test
from tools.finalist.citations import (
    fact_ref,
    prose,
    sentences,
    strip_markers,
    table_rows,
    tag_sentence,
)
from tools.finalist.commits import (
    answering_commits,
    cited_issue,
    issue_is_asked,
    message_ranking,
)
from tools.finalist.leads import lead, one_sentence
from tools.finalist.prompts import refusal
from tools.finalist.steps import items_after, listing, steps
from tools.index.cues import (
    asks_how_to,
    asks_two_things,
)
from tools.index.embeddings import EmbeddingError
from tools.index.fields import BM25_VERSION_PREFIX, VERSION
from tools.records import COMMENT_HEADING, Hit

log = logging.getLogger(__name__)
_VERSION_V = re.compile(BM25_VERSION_PREFIX)

MAX_RECORD_SENTENCES = 4
"""Sentences quoted from the answer's record besides its lead (one more for a document).

Four, not three, since the Daemon tuning sets: an issue's report restates the symptom and
the fourth sentence is often the discussion's (answers grew from 43 to 48 words at the
median)."""
TWO_THINGS_SENTENCES = 2
"""Sentences more for a question that asks two things ("Why ..., and how ...?"), whose
second answer the best four, all about the first, often miss; set on the six tuning sets
(one more gained 2 facts, two more 6; the 30 answers of 424 it changes grew from 87 to
110 words at the median)."""
MAX_CLOSING_SENTENCES = 2
"""Sentences of an issue's closing comment that end its answer; two take the place of the
last best sentence, even when one of them was among the best (on the nine tuning sets:
facts recall +0.017 to +0.048 on the four Daemon sets with issues and Alloy tuning 3,
nothing lost; Jira answers 95 -> 99 words at the median)."""
TITLE_WEIGHT = 0.5
MEANING_WEIGHT = 5.0
"""Added to a matching sentence's score per unit of its cosine with the question; set on
the three Alloy tuning sets (2 to 10 did as well, 25 worse)."""
MEANING_POOL = 16
"""Sentences embedded per question: the best by their words (16 answered the tuning sets
as embedding all did; 8 lost a fact)."""
RELATIVE_MIN = 0.3
SUPPORT_COVERAGE = 0.6
MIN_SUPPORT_TERMS = 2
DUPLICATE_JACCARD = 0.8
_K1, _B = 1.2, 0.75

NOTHING_MATCHES = "none of the retrieved passages mentions what the question asks about"
_EXPLAINS = re.compile(
    r"\b(?:caused by|due to|because|root cause|workaround|instead"
    r"|the (?:cause|reason|fix|problem|issue|limitation|solution) (?:is|was|here is)"
    r"|(?:fixed|solved|resolved) (?:by|with)|(?:you|we) (?:can|should|need to|have to) use"
    r"|regression|fix(?:es|ed)? (?:the|this) (?:issue|problem|bug|crash))\b",
    re.IGNORECASE,
)
_REFERS_BACK = re.compile(r"(?:It|This|These|That|Those|They|Its|Their|Such)\b")
"""A sentence opening with a pronoun that points at the sentence before it."""
_LEGAL = frozenset(terms("legal license licence licensing copyright"))
"""Words of a heading whose text is a project's legal boilerplate ("## Legal", "License"),
quoted only when the question asks about it."""
_FILE_NAME_PART = re.compile(rf"v?{VERSION}|\w+_\w+")
"""A name in a document's file name that names it (``400.4``, ``INVALID_PARAMETER``)."""

Meaning = Callable[[str, Sequence[str]], Sequence[float]]
"""How close in meaning each text is to the question: ``meaning(question, texts)`` gives
their cosines (the embedding model's, ``Embedder.closeness``)."""


class Closeness:
    """The cosines of sentences with one question, each computed once, in batches.

    When the model fails, the sentences are ranked by their words alone (logged).
    """

    def __init__(self, question: str, meaning: Meaning | None) -> None:
        """Measure against ``question`` with ``meaning`` (nothing is close when None)."""
        self._question = question
        self._meaning = meaning
        self._known: dict[str, float] = {}

    def of(self, texts: Iterable[str]) -> Mapping[str, float]:
        """The cosines of ``texts`` (and of any measured before), by text."""
        todo = [t for t in dict.fromkeys(texts) if t not in self._known]
        if self._meaning is not None and todo:
            try:
                self._known.update(zip(todo, self._meaning(self._question, todo), strict=True))
            except EmbeddingError as failed:  # words alone still rank the sentences
                log.warning("sentences ranked by words only: %s", failed)
                self._meaning = None
        return self._known


def rank(
    question: str,
    facts: Sequence[Hit],
    pool: Sequence[Candidate],
    min_terms: int = 2,
    closeness: Closeness | None = None,
) -> list[tuple[float, Candidate]]:
    """Score the candidates against the question, best first; weak ones are left out.

    A sentence scores its BM25 weight for the question terms it contains or the document
    heading it sits under holds (other than its page's title), plus ``TITLE_WEIGHT`` times
    the weights of the question terms in its fact's title, plus ``MEANING_WEIGHT`` times its
    cosine with the question when positive (``closeness``, measured for the
    ``MEANING_POOL`` sentences best by their words): of two sentences with the question's
    words, the one that says what it asks. Every sentence of a fact the question names by id
    (``ALOY-1000``, a sha prefix, a doc path) also gets the largest possible term weight.
    Other sentences must match, in themselves, their heading or their
    fact's title, ``min_terms`` distinct question terms (one for questions of one or two
    words, ``tools/checkmap.js`` being one): one common word of a long question is not an
    answer. Sentences below ``RELATIVE_MIN`` of the best score are dropped.
    """
    query = set(terms(question))
    if not query or not pool:
        return []
    df = Counter(t for c in pool for t in set(c.terms))
    n = len(pool)
    idf = {t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in query}
    avg_len = sum(len(c.terms) for c in pool) / n or 1.0
    named_weight = math.log(1 + (n + 0.5) / 0.5)
    titles = [_title_terms(f) for f in facts]
    in_title = [query & title for title in titles]
    named = [names_fact(question, f) for f in facts]
    needed = 1 if len(set(terms(question, parts=False))) <= 2 else min_terms
    matching, lexical = [], []
    for c in pool:
        under = set(c.under) - titles[c.fact]  # a page's title heading is over every sentence
        tf = Counter(t for t in (*c.terms, *under) if t in query)
        norm = _K1 * (1 - _B + _B * len(c.terms) / avg_len)
        words = math.fsum(idf[t] * f * (_K1 + 1) / (f + norm) for t, f in tf.items())
        if words:  # fsum: the same sum in any order of the terms, so the same ranking
            words += TITLE_WEIGHT * math.fsum(idf[t] for t in in_title[c.fact])
            lexical.append((words, c))
        if named[c.fact] or len(tf.keys() | in_title[c.fact]) >= needed:
            matching.append((words, c))
    lexical.sort(key=lambda item: -item[0])  # the best by words, whatever min_terms is
    near = closeness.of(c.text for _, c in lexical[:MEANING_POOL]) if closeness else {}
    scored = []
    for words, c in matching:
        score = words + MEANING_WEIGHT * max(0.0, near.get(c.text, 0.0)) if words else 0.0
        score += named_weight if named[c.fact] else 0.0
        if score > 0:
            scored.append((score, c))
    if not scored:
        return []
    floor = RELATIVE_MIN * max(score for score, _ in scored)
    scored = [item for item in scored if item[0] >= floor]
    scored.sort(key=lambda item: (-item[0], item[1].fact, item[1].position))
    return scored


def _title_terms(fact: Hit) -> set[str]:
    return set(terms(str(fact.get("title", ""))))


def names_fact(question: str, fact: Hit) -> bool:
    """Whether the question names the fact's record.

    By its Jira key, a sha prefix, its path, or a name in a document's file name (``400.4``
    of ``400.4-INVALID_PARAMETER.md``).
    """
    record = fact_ref(fact)
    lowered = question.lower()
    if fact.get("source") == "git":
        return any(record.startswith(h) for h in re.findall(r"\b[0-9a-f]{7,40}\b", lowered))
    names = [record]
    if fact.get("source") == "docs":
        stem = record.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        parts = re.split(r"[-\s]+", stem)
        names += [_VERSION_V.sub("", p) for p in parts if _FILE_NAME_PART.fullmatch(p)]
    return any(
        name and re.search(rf"(?<![\w.-]){re.escape(name.lower())}(?![\w-]|\.\w)", lowered)
        for name in names
    )


def select(ranked: Iterable[Candidate], limit: int) -> list[Candidate]:
    """Take the first ``limit`` candidates, skipping near-duplicates of ones already taken."""
    chosen: list[Candidate] = []
    for c in ranked:
        if len(chosen) == limit:
            break
        if not any(_similar(c, other) for other in chosen):
            chosen.append(c)
    return chosen


def _similar(a: Candidate, b: Candidate) -> bool:
    """Whether two candidates say the same.

    The same sentence, the same code under two headings (``const client = new Client();``
    in two examples of one page; not two sentences that run one command), or nearly the
    same words.
    """
    if (a.text, a.code) == (b.text, b.code) or a.quotes == b.quotes:
        return True
    sa, sb = set(a.terms), set(b.terms)
    return bool(sa | sb) and len(sa & sb) / len(sa | sb) >= DUPLICATE_JACCARD


def supporting(claim: str, pool: Sequence[Candidate]) -> Candidate | None:
    """The candidate that best supports ``claim``, if it covers enough of its terms.

    Support means at least ``SUPPORT_COVERAGE`` of the claim's distinct terms, and at least
    ``MIN_SUPPORT_TERMS`` of them, occur in one fact sentence.
    """
    wanted = set(terms(claim))
    if len(wanted) < MIN_SUPPORT_TERMS:
        return None
    best, best_hits = None, 0
    for c in pool:
        hits = len(wanted & set(c.terms))
        if hits > best_hits:
            best, best_hits = c, hits
    if best_hits >= MIN_SUPPORT_TERMS and best_hits / len(wanted) >= SUPPORT_COVERAGE:
        return best
    return None


def best_sentence(claim: str, fact_text: str) -> str:
    """The sentence of ``fact_text`` a claim most likely comes from.

    The claim itself when it occurs verbatim (whitespace normalized), else the sentence or
    table row sharing the most terms with it, else the first sentence of the fact.
    """
    text = prose(fact_text)
    for quoted in (claim, claim.rstrip(".")):  # a quoted table row got a full stop
        if quoted and quoted in text:
            return quoted
    pool = [*sentences(fact_text), *(cells for _, cells in table_rows(fact_text))] or [text]
    wanted = set(terms(claim))
    return max(pool, key=lambda s: len(wanted & set(terms(s))))


def check_intuition(
    intuition: str | None, pool: Sequence[Candidate]
) -> tuple[list[Candidate], list[str]]:
    """Split the adapter's answer into what the facts confirm and what they do not.

    Returns:
        The fact sentences that support some of its sentences, and its sentences that no
        fact supports (too short to check: left out of both).
    """
    confirmed: list[Candidate] = []
    unsupported: list[str] = []
    for claim in sentences(strip_markers(intuition or "")):
        if len(set(terms(claim))) < MIN_SUPPORT_TERMS:
            continue
        found = supporting(claim, pool)
        if found is None:
            unsupported.append(claim)
        elif found not in confirmed:
            confirmed.append(found)
    return confirmed, unsupported


@dataclass(frozen=True)
class Draft:
    """A finalist's answer before renumbering: markers ``[n]`` index the facts given.

    Attributes:
        text: The answer.
        intuition_status: ``used``, ``unverified``, ``dropped`` or ``none``.
        refused: The answer says it does not know.
    """

    text: str
    intuition_status: str
    refused: bool


def extractive_answer(
    question: str, facts: Sequence[Hit], intuition: str | None, meaning: Meaning | None = None
) -> Draft:
    """Answer from the facts' own sentences, led by what their records are.

    Sentences are ranked by :func:`rank`, with their closeness in ``meaning`` when given.

    Policy (the adapter's intuition is not used: it is ``dropped`` when given):

    - A question about a change ("what fixed ALOY-12?", "who changed ...", "which commit
      ...") answered by commits: those citing the issue the question names or the first
      record is, else the first record when it is a commit (and, unless the question
      asks for one "commit", one citing the same issue or, when it asks about "commits"
      or what someone did in a month or year ("what did Ewan change in April 2019?"),
      the next that changed a file the question names, or else the next by the same
      author; made in that month or year when the question names one),
      non-merges first; each with its lead (short sha, author, date, subject,
      files) and its best sentence (and the rest of its message when the question asks
      what else it brought or why); then, when the question asks what the
      fix was, when or in which release, the issue they cite, with its lead and best
      sentence (``tools.finalist.commits``).
    - Otherwise one record (quoting the next ones cost precision more than they added):
      the first one retrieved when a sentence of it, or the title of an issue or commit
      (its lead), shares a question term (retrieval weighs the whole record, its fields and
      meaning), else the first one with a sentence matching the question well. Then:
      for a how-to question answered by a document, its steps (``tools.finalist.steps``) when it has
      any (list items, commands; not table rows) where the answer is; for a document
      whose best sentence introduces a list, that sentence and the list; otherwise its lead,
      its ``MAX_RECORD_SENTENCES`` best sentences or table rows (``TWO_THINGS_SENTENCES``
      more when the question asks two things) in reading order and, for an
      issue, how its thread ended (the verdict of its last comment that states
      something: ``_closing``) and
      the discussion's last sentence that explains a cause or a fix (``caused by``, ``the
      fix is``) that they do not already hold.
    - No sentence of any fact matching the question and no record it names: a refusal.

    Chatter (``tools.finalist.chatter``) is never quoted; every sentence cites ``[n]``, the
    1-based index of its fact; each record's sentences form one paragraph.
    """
    status = "dropped" if intuition and intuition.strip() else "none"
    legal = bool(set(terms(question)) & _LEGAL)  # else a licence section is boilerplate
    pool = [
        c
        for c in candidates(facts)
        if not is_chatter(c.text, str(facts[c.fact].get("source")))
        and (legal or not _LEGAL & set(c.under))
    ]
    closeness = Closeness(question, meaning)
    ranked = rank(question, facts, pool, closeness=closeness)
    groups = _records(facts)
    commits = answering_commits(question, facts, groups)
    named = [g for g in groups if names_fact(question, facts[g[0]])]
    if not (ranked or commits or named):
        return Draft(refusal(NOTHING_MATCHES), status, True)
    if commits:
        asked = issue_is_asked(question, facts[commits[0][0]])
        issue = cited_issue(facts, groups, commits) if asked else []
        parts = [_part(facts, g, *message_ranking(question, g, ranked, pool)) for g in commits]
        parts += [_part(facts, g, ranked, 1) for g in issue]
    else:
        focus, ranked = _focus(question, facts, groups, pool, ranked, named, closeness)
        run = ""
        if asks_how_to(question) and facts[focus[0]].get("source") == "docs":
            run = steps(facts, focus, pool, *_lead_and_rest(facts, focus, ranked))
        if run:
            parts = [run]
        else:
            why = _explanation(facts, focus, pool)
            items = "" if lead(facts[focus[0]]) else listing(focus, pool, ranked)
            closing = _closing(facts, focus, pool, ranked)
            limit = MAX_RECORD_SENTENCES + TWO_THINGS_SENTENCES * asks_two_things(question)
            limit -= len(closing) == MAX_CLOSING_SENTENCES  # it takes the last best place
            parts = [items or _part(facts, focus, ranked, limit, why, pool, closing)]
    if not any(parts):  # a named record with nothing to quote and no lead
        return Draft(refusal(NOTHING_MATCHES), status, True)
    return Draft("\n\n".join(p for p in parts if p), status, False)


def _focus(
    question: str,
    facts: Sequence[Hit],
    groups: list[list[int]],
    pool: Sequence[Candidate],
    ranked: list[tuple[float, Candidate]],
    named: list[list[int]],
    closeness: Closeness,
) -> tuple[list[int], list[tuple[float, Candidate]]]:
    """The record that answers (see ``extractive_answer``) and the ranking to quote it by.

    ``named`` are the records the question names, the fallback when nothing matches.
    """
    loose = [c for c in rank(question, facts, pool, 1, closeness) if c[1].fact in groups[0]]
    first = facts[groups[0][0]]
    if loose or (lead(first) and set(terms(question)) & _title_terms(first)):
        return groups[0], loose
    matched = (g for g in groups if any(c.fact in g for _, c in ranked))
    return next(matched, None) or next(iter(named), groups[0]), ranked


def _explanation(
    facts: Sequence[Hit], group: list[int], pool: Sequence[Candidate]
) -> list[Candidate]:
    """An issue's sentences that explain a cause or a fix, the one to quote first.

    Questions about an issue ask why or what to do, often without saying so (a symptom
    pasted as the question). The report restates the symptom; the discussion concludes.
    So of the sentences that say ``caused by``, ``due to``, ``the fix is``, ``regression``
    and the like, those in comments come first, the latest first.
    """
    if facts[group[0]].get("source") != "jira":
        return []
    found = [c for c in pool if c.fact in group and _EXPLAINS.search(c.text)]
    return sorted(found, key=lambda c: (not c.comment, -facts[c.fact]["position"], -c.position))


def _closing(
    facts: Sequence[Hit],
    group: list[int],
    pool: Sequence[Candidate],
    ranked: Sequence[tuple[float, Candidate]],
) -> list[Candidate]:
    """How an issue's thread ended: its last comment that states something.

    The outcome people ask about ("what was decided?", "what turned out to be going on?",
    "which version fixed it?") is in the discussion's last word, which the report above it
    never says. Its first sentence mostly gives the verdict ("It appears to be a fluke.",
    "After analyzing the use case ..., there really isn't a need."), so that one, then its
    sentences best for the question, ``MAX_CLOSING_SENTENCES`` in all; chatter ("Thanks
    @name") is never one, and a last comment of chatter alone or a tester's report
    ("Verified as fixed.") gives way to the one before it (and that one to none). Labelled
    with who said it and when. None when the record's last chunk is not among the facts
    (``last_chunk``) or has no comment.
    """
    last = max(group, key=lambda i: facts[i]["position"])
    if facts[last].get("source") != "jira" or not facts[last].get("last_chunk"):
        return []
    text = str(facts[last].get("text", ""))
    headings = list(COMMENT_HEADING.finditer(text))
    ends = [h.start() for h in headings[1:]] + [len(text)]
    for n in range(len(headings), max(len(headings) - 2, 0), -1):  # the last, or the one before
        said = [c for c in pool if c.fact == last and c.comment == n]
        if said and not reports_a_test(text[headings[n - 1].end() : ends[n - 1]]):
            break
    else:
        return []
    best = [c for _, c in ranked if c in said]
    picked = list(dict.fromkeys([said[0], *best, *said]))[:MAX_CLOSING_SENTENCES]
    by = headings[n - 1]
    label = f"{'Last comment' if n == len(headings) else 'Comment'} ({by['author']}, {by['date']})"
    first = min(picked, key=lambda c: c.position)
    return [replace(c, label=label) if c is first else c for c in picked]


def _records(facts: Sequence[Hit]) -> list[list[int]]:
    """Fact indexes grouped by record, records in order of their first fact."""
    groups: dict[str, list[int]] = {}
    for i, fact in enumerate(facts):
        groups.setdefault(str(fact.get("doc_id") or fact_ref(fact)), []).append(i)
    return list(groups.values())


def _lead_and_rest(
    facts: Sequence[Hit], group: list[int], ranked: Sequence[tuple[float, Candidate]]
) -> tuple[list[str], list[Candidate]]:
    """A record's cited lead (if any) and its ranked candidates that the lead does not say."""
    head = lead(facts[group[0]])
    mine = [c for _, c in ranked if c.fact in group]
    if not head:
        return [], mine
    said = Candidate(group[0], -1, head, tuple(terms(head)))
    rest = [c for c in mine if not _similar(c, said) and not _says(head, c)]
    return [tag_sentence(head, f"[{group[0] + 1}]")], rest


def _part(
    facts: Sequence[Hit],
    group: list[int],
    ranked: Sequence[tuple[float, Candidate]],
    limit: int,
    extra: Sequence[Candidate] = (),
    pool: Sequence[Candidate] = (),
    closing: Sequence[Candidate] = (),
) -> str:
    """One record's paragraph: its lead, best ``limit`` sentences, closing and ``extra``.

    Every sentence is cited. A record without a lead (a document) gets one sentence more.
    A sentence that refers back ("It is the mediator ...") comes with the one before it,
    and on a page, one chosen comes with the next when that refers back (``_neighbours``).
    A label that sentences in a row share (the version of changelog entries) is said once,
    before the first. A sentence that introduces a list ("do the following", "on these
    machines:") is followed by the list's items from ``pool``, one a line
    (``steps.items_after``).
    """
    lines, mine = _lead_and_rest(facts, group, ranked)
    chosen = select(mine, limit if lines else limit + 1)
    chosen += _neighbours(facts, chosen, pool, " ".join(lines))
    for c in closing:  # labelled, it replaces the same sentence chosen for its words
        twin = next((n for n, other in enumerate(chosen) if _similar(c, other)), None)
        if twin is None:
            chosen.append(c)
        elif c.label:
            chosen[twin] = c
    more = next((e for e in extra if not any(_similar(e, c) for c in chosen)), None)
    if more is not None:
        chosen.append(more)
    shown = ""  # a label said once for the sentences that follow it (a changelog version)
    listed: list[Candidate] = []  # items quoted under the sentence introducing their list
    for c in sorted(chosen, key=lambda c: (facts[c.fact]["position"], c.position)):
        if c in listed:
            continue
        lines.append((c if c.label != shown else replace(c, label="")).render(f"[{c.fact + 1}]"))
        shown = c.label
        items = items_after(c, pool)
        lines += [f"- {i.render(f'[{i.fact + 1}]')}" for i in items]
        listed += items
    return "".join(
        line if n == 0 else f"{_gap(lines[n - 1], line)}{line}" for n, line in enumerate(lines)
    ).strip()


def _says(lead: str, c: Candidate) -> bool:
    """Whether a record's lead already says a sentence, as the lead writes it (one line)."""
    return one_sentence(c.text) in lead


def _neighbours(
    facts: Sequence[Hit], chosen: Sequence[Candidate], pool: Sequence[Candidate], said: str
) -> list[Candidate]:
    """The sentences next to chosen ones that they read with.

    The sentence before each chosen one that refers back to it ("It is the mediator"),
    and on a page, the sentence after each chosen one that refers back to it ("This is not
    considered an error because ..."): a reference page goes on from one sentence to the
    next, an issue's thread often to another point. Only within one section or comment,
    and not when the lead (``said``) or a chosen sentence already says it (the subject of
    a commit, a sentence two overlapping chunks share).
    """
    found: list[Candidate] = []
    for c in chosen:
        if c.listed or c.row:
            continue
        seq = [x for x in pool if x.fact == c.fact]
        if c not in seq:
            continue
        at = seq.index(c)
        near = [seq[at - 1]] if at and _REFERS_BACK.match(c.text) else []
        if facts[c.fact].get("source") == "docs" and not c.code and at + 1 < len(seq):
            near += [n for n in seq[at + 1 : at + 2] if _REFERS_BACK.match(n.text)]
        for n in near:
            if (
                not any(_similar(n, other) for other in (*chosen, *found))
                and not _says(said, n)
                and not (n.listed or n.row or n.code)
                and (n.under, n.comment) == (c.under, c.comment)
            ):
                found.append(n)
    return found


def _gap(before: str, line: str) -> str:
    """What separates two quoted pieces: a space in prose, a line break around a table row."""
    if before.endswith("\n"):
        return ""
    return "\n" if line.startswith("- ") or before.startswith("- ") else " "
