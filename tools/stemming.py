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
