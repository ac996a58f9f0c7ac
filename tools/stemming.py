"""Crude English suffix folding, shared by term matching in the finalist and the index."""

from __future__ import annotations


def fold(word: str) -> str:
    """Fold a lower-case word's suffix: ``generated``, ``generates``, ``generate`` -> ``generat``.

    Words with digits or punctuation, and words of three letters or fewer, stay as they are.
    """
    if not word.isalpha() or len(word) <= 3:
        return word
    for suffix, repl in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                continue
            word = word[: -len(suffix)] + repl
            break
    return word[:-1] if len(word) > 3 and word.endswith("e") else word


_IRREGULAR = {
    "began": "begin",
    "broke": "break",
    "brought": "bring",
    "built": "build",
    "came": "come",
    "chose": "choose",
    "did": "do",
    "done": "do",
    "drove": "drive",
    "fell": "fall",
    "felt": "feel",
    "found": "find",
    "gave": "give",
    "given": "give",
    "got": "get",
    "gone": "go",
    "grew": "grow",
    "held": "hold",
    "kept": "keep",
    "knew": "know",
    "known": "know",
    "led": "lead",
    "left": "leave",
    "lost": "lose",
    "made": "make",
    "meant": "mean",
    "paid": "pay",
    "ran": "run",
    "rode": "ride",
    "said": "say",
    "saw": "see",
    "seen": "see",
    "sent": "send",
    "shrank": "shrink",
    "shrunk": "shrink",
    "sold": "sell",
    "spent": "spend",
    "stood": "stand",
    "stuck": "stick",
    "taken": "take",
    "taught": "teach",
    "thought": "think",
    "threw": "throw",
    "told": "tell",
    "took": "take",
    "went": "go",
    "won": "win",
    "wrote": "write",
    "written": "write",
}
"""Past forms of common English verbs that no suffix folds back to their verb."""
_DOUBLED = frozenset("bdgkmnprt")
"""Final consonants a suffix doubles (``hitting``, ``pinned``, ``swapped``)."""


def base_forms(word: str) -> list[str]:
    """``word`` and the words it may be a form of that :func:`fold` does not reach.

    An irregular verb's past (``went``: ``go``), a final consonant doubled before
    ``-ing`` or ``-ed`` (``hitting``: ``hit``). Not an adverb's adjective: ``monthly``
    asks for something else than ``month`` does.
    """
    forms = [word]
    if word in _IRREGULAR:
        forms.append(_IRREGULAR[word])
    for suffix in ("ing", "ed"):
        stem = word.removesuffix(suffix)
        if stem != word and len(stem) >= 4 and stem[-1] == stem[-2] and stem[-1] in _DOUBLED:
            forms.append(stem[:-1])
    return forms
