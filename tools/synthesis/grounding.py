"""Pair filters: is an answer supported by its source, and is a question a near-duplicate.

Grounding rule (lexical support, cheap and deterministic):

* Text is reduced to *content tokens*: lower-cased words, minus a small stop-word list,
  keeping words of 3+ characters and any token with a digit, with a crude suffix stem
  (``-ing``, ``-ed``, ``-es``, ``-s``) so "fixed"/"fixes"/"fix" match.
* An answer is **supported** when it has at least one content token, at least
  ``MIN_SUPPORT`` (70%) of its content tokens occur in the source, and every sentence with
  ``MIN_SENTENCE_TOKENS`` (3) or more content tokens has at least ``MIN_SENTENCE_SUPPORT``
  (50%) of them in the source. The sentence test stops one invented claim from hiding
  inside an otherwise copied answer.

Near-duplicate rule: questions are normalized (lower case, punctuation removed, spaces
collapsed) and compared as sets of word 3-shingles; a question whose Jaccard similarity to
an earlier kept question is ``DUPLICATE_JACCARD`` (0.8) or more is a duplicate. MinHash LSH
finds candidates, the exact Jaccard decides.
"""

from __future__ import annotations

import re

from datasketch import MinHash, MinHashLSH

MIN_SUPPORT = 0.7
MIN_SENTENCE_SUPPORT = 0.5
MIN_SENTENCE_TOKENS = 3
DUPLICATE_JACCARD = 0.8
_NUM_PERM = 64
_SCHEME = "affine32"

_WORD = re.compile(r"\w+", re.UNICODE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_STOPWORDS_TEXT = """\
a about above after again all also am an and any are as at be because been before being
both but by can could did do does doing done during each few for from further had has have
having he her here hers him his how i if in into is it its itself just me more most my no
nor not now of off on once only or other our ours out over own same she should so some such
than that the their theirs them then there these they this those through to too under until
up very was we were what when where which while who whom why will with would you your yours
yes use used using"""
_STOPWORDS = frozenset(_STOPWORDS_TEXT.split())


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def content_tokens(text: str) -> list[str]:
    """Lower-cased, stemmed content words of ``text`` (see the module rule)."""
    out = []
    for word in _WORD.findall(text.lower()):
        if word in _STOPWORDS or (len(word) < 3 and not any(c.isdigit() for c in word)):
            continue
        out.append(_stem(word))
    return out


def support(answer: str, source_tokens: set[str]) -> float:
    """Share of the answer's content tokens that occur in ``source_tokens`` (0 when none)."""
    tokens = content_tokens(answer)
    if not tokens:
        return 0.0
    return sum(t in source_tokens for t in tokens) / len(tokens)


def is_grounded(answer: str, source_tokens: set[str]) -> bool:
    """Apply the grounding rule of this module to one answer."""
    if support(answer, source_tokens) < MIN_SUPPORT:
        return False
    for sentence in _SENTENCE.split(answer):
        tokens = content_tokens(sentence)
        if len(tokens) >= MIN_SENTENCE_TOKENS:
            found = sum(t in source_tokens for t in tokens) / len(tokens)
            if found < MIN_SENTENCE_SUPPORT:
                return False
    return True


def _shingles(question: str) -> set[str]:
    words = _WORD.findall(question.lower())
    if len(words) < 3:
        return {" ".join(words)}
    return {" ".join(words[i : i + 3]) for i in range(len(words) - 2)}


class QuestionDeduper:
    """Keeps the first of each group of near-duplicate questions (see the module rule)."""

    def __init__(self, threshold: float = DUPLICATE_JACCARD) -> None:
        self.threshold = threshold
        self._lsh = MinHashLSH(threshold=threshold, num_perm=_NUM_PERM)
        self._template = MinHash(num_perm=_NUM_PERM, scheme=_SCHEME)
        self._kept: list[set[str]] = []

    def add(self, question: str) -> bool:
        """Remember ``question`` and return True, or return False when it is a duplicate."""
        shingles = _shingles(question)
        signature = MinHash(
            num_perm=_NUM_PERM, permutations=self._template.permutations, scheme=_SCHEME
        )
        signature.update_batch([s.encode("utf-8") for s in shingles])
        for key in self._lsh.query(signature):
            other = self._kept[key]
            if len(shingles & other) / len(shingles | other) >= self.threshold:
                return False
        self._lsh.insert(len(self._kept), signature)
        self._kept.append(shingles)
        return True
