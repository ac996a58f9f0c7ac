"""The offline finalist: an answer made of the most relevant sentences of the facts.

No LLM and nothing executed: the finalist only selects sentences. Each prose sentence of
each fact is scored with BM25 against the question's terms (document frequencies over all
candidate sentences), plus a bonus for question terms in the fact's title, and for facts the
question names by id, so "what is ALOY-1000 about?" picks that issue's first sentences.
The best ``max_sentences`` are kept (near-duplicates from overlapping chunks dropped),
grouped by fact in retrieval order, each followed by its marker ``[n]`` where ``n`` is the
fact's 1-based index. The result is deterministic for the same input.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tools.finalist.citations import (
    MARKER,
    fact_ref,
    normalize_space,
    sentence_spans,
    sentences,
    strip_markers,
    tag_sentence,
)
from tools.finalist.prompts import refusal, unverified_part
from tools.records import Hit

MAX_SENTENCES = 5
MAX_CONFIRMED = 2
MAX_UNVERIFIED = 3
MIN_WORDS = 4
MAX_SENTENCE_CHARS = 600
TITLE_WEIGHT = 0.5
RELATIVE_MIN = 0.3
SUPPORT_COVERAGE = 0.6
MIN_SUPPORT_TERMS = 2
DUPLICATE_JACCARD = 0.8
MAX_CODE_LINES = 2
MAX_CODE_CHARS = 120
_K1, _B = 1.2, 0.75

KEY = re.compile(r"\b[A-Z][A-Z0-9]+-\d+\b")
_CODE_AFTER = re.compile(
    r"[ \t]*\r?\n(?:[ \t]*\r?\n)+((?:(?:\t| {4})[^\n]*(?:\n|$))+)"
    r"|[ \t]*\r?\n(?:[ \t]*\r?\n)*[ \t]*```[^\n]*\n(.*?)\n[ \t]*```",
    re.DOTALL,
)
_TOKEN = re.compile(r"[A-Za-z0-9]+(?:[-_./][A-Za-z0-9]+)*")
_STOPWORD_TEXT = """
a about above after again against all also am an and any are as at be because been before
being below between both but by can could did do does doing done down during each few for
from further get got had has have having he her here hers him his how i if in into is it its
itself just let me more most my no nor not now of off on once only or other our out over own
please same she should so some such than that the their them then there these they this
those through to too under until up us very was we were what when where which while who whom
why will with would you your tell know explain describe show give happen happened
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def terms(text: str) -> list[str]:
    """Lower-cased content terms of ``text``: stopwords out, suffixes folded.

    Compound tokens such as ``ALOY-1000``, ``index.js`` or ``1.4.0`` stay whole; their
    word parts are added too (except for Jira keys) so ``model-binding`` matches
    ``model binding``.
    """
    out = []
    for token in _TOKEN.findall(text):
        word = token.lower()
        if word in STOPWORDS or (len(word) < 2 and not word.isdigit()):
            continue
        out.append(_fold(word))
        if not KEY.fullmatch(token) and re.search(r"[-_./]", word):
            out.extend(
                _fold(part)
                for part in re.split(r"[-_./]", word)
                if len(part) > 2 and part not in STOPWORDS
            )
    return out


def _fold(word: str) -> str:
    """Crude stemming: ``generated``, ``generates``, ``generate`` all become ``generat``."""
    if not word.isalpha() or len(word) <= 3:
        return word
    for suffix, repl in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                continue
            word = word[: -len(suffix)] + repl
            break
    return word[:-1] if len(word) > 3 and word.endswith("e") else word


@dataclass(frozen=True)
class Candidate:
    """A sentence of a fact that may go into the answer.

    Attributes:
        fact: Index of the fact in the list given to the finalist.
        position: Order of the sentence in its fact.
        text: The sentence, whitespace normalized (a substring of the normalized fact text,
            but for code quoted after a sentence ending in ``:``).
        terms: Its content terms.
    """

    fact: int
    position: int
    text: str
    terms: tuple[str, ...]


def candidates(facts: Sequence[Hit]) -> list[Candidate]:
    """The prose sentences of every fact that are long enough to state something.

    Sentences that contain text shaped like a citation marker (``[3]``) are left out so
    that quoted text never forges a citation. A sentence ending in ``:`` introduces what
    follows: it carries a short code block that follows it inline, in backticks ("run
    the following: `npm i -g appcd`"), and is left out otherwise.
    """
    out = []
    for i, fact in enumerate(facts):
        text = str(fact.get("text", ""))
        for position, (start, end) in enumerate(sentence_spans(text)):
            sentence = normalize_space(text[start:end])
            if len(sentence.split()) < MIN_WORDS or len(sentence) > MAX_SENTENCE_CHARS:
                continue
            if MARKER.search(sentence):
                continue
            if sentence.endswith(":"):
                if not (code := _code_after(text, end)):
                    continue
                sentence = f"{sentence} `{code}`"
            out.append(Candidate(i, position, sentence, tuple(terms(sentence))))
    return out


def _code_after(text: str, end: int) -> str:
    """The code block right after offset ``end`` when it is short enough to quote inline."""
    match = _CODE_AFTER.match(text, end)
    if not match:
        return ""
    lines = [ln.strip() for ln in (match.group(1) or match.group(2)).splitlines() if ln.strip()]
    code = " ; ".join(lines)
    return code if len(lines) <= MAX_CODE_LINES and len(code) <= MAX_CODE_CHARS else ""


def rank(
    question: str, facts: Sequence[Hit], pool: Sequence[Candidate]
) -> list[tuple[float, Candidate]]:
    """Score the candidates against the question, best first; weak ones are left out.

    A sentence scores its BM25 weight for the question terms it contains, plus
    ``TITLE_WEIGHT`` times the weights of the question terms in its fact's title. Every
    sentence of a fact the question names by id (``ALOY-1000``, a sha prefix, a doc path)
    also gets the largest possible term weight. Other sentences must match, in themselves
    or their fact's title, two distinct question terms (one for questions of one or two
    terms): one common word of a long question is not an answer. Sentences below
    ``RELATIVE_MIN`` of the best score are dropped.
    """
    query = set(terms(question))
    if not query or not pool:
        return []
    df = Counter(t for c in pool for t in set(c.terms))
    n = len(pool)
    idf = {t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in query}
    avg_len = sum(len(c.terms) for c in pool) / n or 1.0
    named_weight = math.log(1 + (n + 0.5) / 0.5)
    in_title = [query & _title_terms(f) for f in facts]
    named = [names_fact(question, f) for f in facts]
    needed = 1 if len(query) <= 2 else 2
    scored = []
    for c in pool:
        tf = Counter(t for t in c.terms if t in query)
        if not named[c.fact] and len(tf.keys() | in_title[c.fact]) < needed:
            continue
        norm = _K1 * (1 - _B + _B * len(c.terms) / avg_len)
        score = sum(idf[t] * f * (_K1 + 1) / (f + norm) for t, f in tf.items())
        if score:
            score += TITLE_WEIGHT * sum(idf[t] for t in in_title[c.fact])
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
    """Whether the question names the fact's record: its Jira key, a sha prefix, a path."""
    record = fact_ref(fact)
    lowered = question.lower()
    if fact.get("source") == "git":
        return any(record.startswith(h) for h in re.findall(r"\b[0-9a-f]{7,40}\b", lowered))
    return (
        bool(record)
        and re.search(rf"(?<![\w-]){re.escape(record.lower())}(?![\w-])", lowered) is not None
    )


def select(ranked: Iterable[tuple[float, Candidate]], limit: int) -> list[Candidate]:
    """Take the best ``limit`` candidates, skipping near-duplicates of ones already taken."""
    chosen: list[Candidate] = []
    for _, c in ranked:
        if len(chosen) == limit:
            break
        if not any(_similar(c, other) for other in chosen):
            chosen.append(c)
    return chosen


def _similar(a: Candidate, b: Candidate) -> bool:
    if a.text == b.text:
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

    The claim itself when it occurs verbatim (whitespace normalized), else the sentence
    sharing the most terms with it, else the first sentence of the fact.
    """
    text = normalize_space(fact_text)
    if claim and claim in text:
        return claim
    pool = sentences(fact_text) or [text]
    wanted = set(terms(claim))
    return max(pool, key=lambda s: len(wanted & set(terms(s))))


def compose(chosen: Sequence[Candidate]) -> str:
    """Write the chosen sentences grouped by fact, each with its fact marker ``[n]``."""
    ordered = sorted(chosen, key=lambda c: (c.fact, c.position))
    return " ".join(tag_sentence(c.text, f"[{c.fact + 1}]") for c in ordered)


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
    question: str,
    facts: Sequence[Hit],
    intuition: str | None,
    max_sentences: int = MAX_SENTENCES,
) -> Draft:
    """Answer from the facts' own sentences, and label what only the adapter said.

    Policy: the best ``max_sentences`` sentences for the question, plus up to
    ``MAX_CONFIRMED`` fact sentences that confirm the adapter (cited like the rest);
    adapter sentences no fact supports go, at most ``MAX_UNVERIFIED``, into the labelled
    unverified part. No sentence matching the question: a refusal, the adapter dropped.
    """
    pool = candidates(facts)
    chosen = select(rank(question, facts, pool), max_sentences)
    has_intuition = bool(intuition and intuition.strip())
    if not chosen:
        reason = "none of the retrieved passages mentions what the question asks about"
        return Draft(refusal(reason), "dropped" if has_intuition else "none", True)
    confirmed, unsupported = check_intuition(intuition, pool)
    extra = [c for c in confirmed if not any(_similar(c, o) for o in chosen)]
    text = compose(chosen + extra[:MAX_CONFIRMED])
    if unsupported:
        text += "\n\n" + unverified_part(unsupported[:MAX_UNVERIFIED])
        status = "unverified"
    elif confirmed:
        status = "used"
    else:
        status = "dropped" if has_intuition else "none"
    return Draft(text, status, False)
