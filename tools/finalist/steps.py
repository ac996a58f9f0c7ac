"""How-to answers from a document: its steps in a run, or the list a sentence introduces.

A how-to question answered by a page gets the page's steps (list items, commands) in
reading order from where the answer is (:func:`steps`); a sentence that introduces a list
("do the following:") comes with the list's items (:func:`items_after`, :func:`listing`).
Table rows are entries, not steps: they are quoted by how well each matches.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import takewhile

from tools.finalist.candidates import Candidate
from tools.records import Hit

MAX_STEPS = 6
_INTRODUCES = re.compile(r":$|\bthe following\b", re.IGNORECASE)


def items_after(c: Candidate, pool: Sequence[Candidate]) -> list[Candidate]:
    """The items of the list ``c`` introduces, when it does (at most ``MAX_STEPS``)."""
    if c.listed or c.code or not _INTRODUCES.search(c.text):
        return []
    seq = [x for x in pool if x.fact == c.fact]
    after = seq[seq.index(c) + 1 :] if c in seq else []
    return [x for x in takewhile(lambda x: x.listed, after) if x.item][:MAX_STEPS]


def steps(
    facts: Sequence[Hit],
    group: list[int],
    pool: Sequence[Candidate],
    lines: list[str],
    mine: Sequence[Candidate],
) -> str:
    """A document's steps, each on its own line, at most ``MAX_STEPS``.

    In reading order across the document's chunks, they start at its best sentence, or at
    the sentence with code right before it (the best one may follow up on the code: "now
    you are free to use ..."), or at the start of the list holding it (or at the sentence
    that introduces that list), table rows left out, and so is prose between the first of
    them and the first step that does not introduce the steps. Empty when none of them is a
    list item or a command (prose about the subject is not a procedure), or when the best
    is a table row: a table's rows are entries (options, settings, codes), quoted by how
    well each matches, not in a run.

    Args:
        facts: The facts.
        group: The document's fact indexes.
        pool: Every quotable candidate.
        lines: The document's cited lead, if any, which the steps follow.
        mine: The document's ranked candidates that the lead does not say.
    """
    lines = list(lines)
    if not mine or mine[0].row:
        return ""  # a table's rows are entries, not steps: its best rows are quoted
    ordered = sorted(
        (c for c in pool if c.fact in group), key=lambda c: (facts[c.fact]["position"], c.position)
    )
    # a sentence in two overlapping chunks is read once, and code under two headings too
    # (two sentences that run one command are two steps)
    first: dict[tuple[str, str], Candidate] = {}
    for c in ordered:
        first.setdefault(c.quotes, c)
    seq = list(first.values())
    at = next(i for i, c in enumerate(seq) if c.quotes == mine[0].quotes)
    if at > 0 and seq[at - 1].code and not seq[at].code:
        at -= 1  # the code the best sentence follows up on ("now you are free to use ...")
    while at > 0 and seq[at].item and (seq[at - 1].item or seq[at - 1].text.endswith(":")):
        at -= 1
    run = [c for c in seq[at:] if not c.row]
    first_step = next((n for n, c in enumerate(run) if c.item or c.code), len(run))
    intro = [c for c in run[1:first_step] if c.text.endswith(":")]  # prose before the steps
    run = [*run[:1], *intro, *run[max(first_step, 1) :]][:MAX_STEPS]
    if not any(c.item or c.code for c in run):
        return ""  # prose about the subject, no steps: quoted like any other answer
    for c in run:
        marker = f"[{c.fact + 1}]"
        lines.append(f"- {c.render(marker)}" if c.item else c.render(marker))
    return "\n".join(lines)


def listing(
    group: list[int], pool: Sequence[Candidate], ranked: Sequence[tuple[float, Candidate]]
) -> str:
    """A document's best sentence and the list right after it, one item a line.

    "New Alloy-based app templates used by Studio." is answered by the templates it lists;
    at most ``MAX_STEPS`` items. Empty when no list follows.
    """
    best = next((c for _, c in ranked if c.fact in group), None)
    if best is None or best.listed or best.code:
        return ""
    seq = [c for c in pool if c.fact == best.fact]
    lines = [best.render(f"[{best.fact + 1}]")]
    for c in seq[seq.index(best) + 1 :]:
        if not c.listed or (c.item and len(lines) > MAX_STEPS):
            break
        marker = f"[{c.fact + 1}]"
        if c.item:
            lines.append(f"- {c.render(marker)}")
        else:
            lines[-1] += f" {c.render(marker)}"
    return "\n".join(lines) if len(lines) > 1 else ""
