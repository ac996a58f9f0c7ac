"""Citation markers, answer sentences and the citation list.

Answers cite their sources as ``[n]`` (several as ``[1][2]``); ``n`` indexes the citation
list, 1-based, numbered in order of first use. Finalists write markers that index the facts
they were given; :class:`MarkerStream` renumbers them (also token by token while streaming)
and drops markers that point to no fact; :func:`citation_entry` makes each list entry and
:func:`verify_citations` checks an answer against its list.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from tools.records import Citation, Hit, display_id

SNIPPET_CHARS = 300
MARKER = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
_MARKER_RUN = re.compile(r"[ \t]*(?:\[\d{1,3}(?:\s*,\s*\d{1,3})*\])+")
_OPEN_TAIL = re.compile(r"\s*(?:\[[\d,\s]*\]?)*$")
_SENTENCE_END = re.compile(
    r"[.!?][\"')]*(?:[ \t]*" + MARKER.pattern + r")*(?=\s+(?:>[ \t]*)?[\"'(*_`A-Z0-9])"
)
"""A sentence's end: its punctuation, then space and a capital (after a quote's ">")."""
_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "cf.", "Mr.", "Dr.", "No.")
_BLOCK_START = re.compile(r"^[ \t]*(?:[-*+][ \t]|\d+[.)][ \t]|>)")
_BULLET = re.compile(r"^[ \t]*(?:[-*+]|\d+[.)]|>)[ \t]*")
# Headings (also inside a list item or quote), table rows, and navigation lines made of
# links alone ("> [Home](../README.md) ➤ [CLI](README.md) ➤ stop") are not prose.
_NOT_PROSE = re.compile(
    r"^[ \t]*(?:(?:[-*+]|\d+[.)]|>)[ \t]+)*(?:#{1,6}[ \t]|\||\[[^\]]*\]\([^)]*\)[ \t]*[➤»›/|>-])"
)
_QUOTE = re.compile(r"^[ \t]*>[ \t]?")
_QUOTE_WRAP = re.compile(r"\n[ \t]*>[ \t]?")
_FENCE = re.compile(r"^[ \t]*(?:>[ \t]?)*(?:```|~~~)")
_INDENTED = re.compile(r"^(?:\t| {4})")


def normalize_space(text: str) -> str:
    """Collapse every run of whitespace to one space and trim."""
    return " ".join(text.split())


def prose(text: str) -> str:
    """A span of prose as one line: quote marks of wrapped lines dropped, space normalized."""
    return normalize_space(_QUOTE_WRAP.sub("\n", text))


def marker_numbers(text: str) -> list[int]:
    """Numbers of the citation markers in ``text``, in order (repeats kept)."""
    return [int(n) for match in _markers(text) for n in match.group(1).split(",")]


def strip_markers(text: str) -> str:
    """``text`` without its citation markers (and the spaces before them)."""
    out, last = [], 0
    for match in _markers(text, _MARKER_RUN):
        out.append(text[last : match.start()])
        last = match.end()
    return "".join(out) + text[last:]


def _markers(text: str, pattern: re.Pattern[str] = MARKER) -> list[re.Match[str]]:
    """Marker matches not glued to a word (``items[0]`` is code, not a citation)."""
    found = []
    for match in pattern.finditer(text):
        bracket = text.index("[", match.start())
        if bracket == 0 or not (text[bracket - 1].isalnum() or text[bracket - 1] == "_"):
            found.append(match)
    return found


class MarkerStream:
    """Renumber citation markers in order of first use, piece by piece.

    Markers whose number is not in ``1..n_sources`` are dropped with the spaces before
    them, repeats inside a run of markers are merged (``[2][2]`` -> ``[1]``), and
    ``[1, 2]`` becomes ``[1][2]``. Text that may still be part of a marker run (trailing
    spaces, ``[1`` or ``[1]``) is held back until the next piece or :meth:`flush`, so the
    streamed output equals the non-streamed result.

    Attributes:
        order: 0-based indexes of the cited sources, in order of first use.
        dropped: Marker numbers that pointed to no source.
    """

    def __init__(self, n_sources: int) -> None:
        self.n_sources = n_sources
        self.order: list[int] = []
        self.dropped: list[int] = []
        self._pending = ""
        self._previous = ""

    def feed(self, piece: str) -> str:
        """Take the next piece of text; return what can be emitted now."""
        self._pending += piece
        hold = _OPEN_TAIL.search(self._pending)
        cut = hold.start() if hold else len(self._pending)
        ready, self._pending = self._pending[:cut], self._pending[cut:]
        return self._emit(ready)

    def flush(self) -> str:
        """Emit whatever is held back; call once at the end."""
        ready, self._pending = self._pending, ""
        return self._emit(ready)

    def _emit(self, text: str) -> str:
        if not text:
            return ""
        context = self._previous + text
        offset = len(self._previous)
        out, last = [], offset
        for match in _markers(context, _MARKER_RUN):
            if match.start() < offset:
                continue
            out.append(context[last : match.start()])
            numbers = self._renumber(re.findall(r"\d+", match.group(0)))
            if numbers:
                spaces = match.group(0)[: match.group(0).index("[")]
                out.append(spaces + "".join(f"[{n}]" for n in numbers))
            last = match.end()
        out.append(context[last:])
        emitted = "".join(out)
        self._previous = (self._previous + emitted)[-1:]
        return emitted

    def _renumber(self, found: list[str]) -> list[int]:
        numbers: list[int] = []
        for raw in found:
            n = int(raw)
            if not 1 <= n <= self.n_sources:
                self.dropped.append(n)
                continue
            if n - 1 not in self.order:
                self.order.append(n - 1)
            new = self.order.index(n - 1) + 1
            if new not in numbers:
                numbers.append(new)
        return numbers


def renumber(text: str, n_sources: int) -> tuple[str, list[int], list[int]]:
    """Renumber a whole answer; return it, the cited source order and dropped numbers."""
    stream = MarkerStream(n_sources)
    out = stream.feed(text) + stream.flush()
    return out, stream.order, stream.dropped


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Offsets of the prose sentences of ``text``.

    Paragraphs (wrapped lines joined, in a quote too) and list items are split at sentence
    ends; a citation marker right after the end punctuation stays with its sentence.
    Headings, table rows and code (fenced, or indented after a blank line) are left out;
    list bullets are not part of a span.
    """
    spans: list[tuple[int, int]] = []
    for start, end in _prose_blocks(text):
        begin = start
        for match in _SENTENCE_END.finditer(text, start, end):
            if text[begin : match.end()].endswith(_ABBREVIATIONS):
                continue
            spans.append(_trim(text, begin, match.end()))
            begin = match.end()
        spans.append(_trim(text, begin, end))
    return [(s, e) for s, e in spans if e > s]


_TABLE_ROW = re.compile(r"^[ \t]*\|(.*)\|[ \t]*$")
_TABLE_RULE = re.compile(r"^[\s|:-]+$")


def table_rows(text: str) -> list[tuple[int, str]]:
    """The data rows of the Markdown tables in ``text``, outside code, as ``(offset, cells)``.

    ``cells`` is the row's cells joined by `` | ``, which is how the row reads with its
    spaces normalized and its outer pipes dropped (``5 | Server was run as root``); header
    rows (those above a ``| :---: |`` rule) and the rules themselves are left out.
    """
    rows: list[tuple[int, str]] = []
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    in_fence = False
    for n, line in enumerate(lines):
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _TABLE_ROW.match(line.rstrip("\r\n"))
        if not match or _TABLE_RULE.fullmatch(match.group(1)):
            continue
        header = n + 1 < len(lines) and _TABLE_RULE.fullmatch(lines[n + 1].strip())
        cells = [normalize_space(cell) for cell in match.group(1).split("|")]
        if not header and any(cells):
            rows.append((offsets[n], normalize_space(" | ".join(cells))))
    return rows


def sentences(text: str) -> list[str]:
    """The prose sentences of ``text``, whitespace normalized."""
    return [prose(text[s:e]) for s, e in sentence_spans(text)]


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """The span without the space around it, nor the ">" of a quote's wrapped line."""
    while start < end and text[start].isspace():
        start += 1
    line = text.rfind("\n", 0, start)
    if start < end and text[start] == ">" and line >= 0 and not text[line + 1 : start].strip():
        start += 1
        while start < end and text[start] in " \t":
            start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _prose_blocks(text: str) -> list[tuple[int, int]]:
    """Offsets of paragraphs and list items, outside fenced or indented code."""
    blocks: list[tuple[int, int]] = []
    start: int | None = None
    in_fence = False
    pos = 0
    quoted = False  # the open block is in a quote, whose wrapped lines start with ">"
    for line in text.splitlines(keepends=True):
        line_start, pos = pos, pos + len(line)
        fence = bool(_FENCE.match(line))
        indented_code = start is None and _INDENTED.match(line) and not _BLOCK_START.match(line)
        inner = _QUOTE.sub("", line, count=1)
        wrapped = quoted and _QUOTE.match(line) and inner.strip() and not _BLOCK_START.match(inner)
        breaks = in_fence or fence or indented_code or not inner.strip() or _NOT_PROSE.match(line)
        if start is not None and (breaks or (_BLOCK_START.match(line) and not wrapped)):
            blocks.append((start, line_start))
            start = None
        if fence:
            in_fence = not in_fence
        if breaks:
            continue
        if start is None:
            bullet = _BULLET.match(line) if _BLOCK_START.match(line) else None
            start = line_start + (bullet.end() if bullet else 0)
            quoted = bool(_QUOTE.match(line))
    if start is not None:
        blocks.append((start, len(text)))
    return blocks


def cited_sentences(answer: str) -> list[tuple[str, list[int]]]:
    """Each answer sentence that carries markers: its text without them, and the numbers."""
    out = []
    for start, end in sentence_spans(answer):
        piece = answer[start:end]
        numbers = marker_numbers(piece)
        if numbers:
            out.append((normalize_space(strip_markers(piece)), numbers))
    return out


def tag_sentence(sentence: str, tag: str) -> str:
    """Put ``tag`` before the closing punctuation (``It fails [2].``), adding a full stop."""
    stripped = sentence.rstrip(".!?")
    return f"{stripped} {tag}{sentence[len(stripped) :] or '.'}"


def snippet_of(sentence: str) -> str:
    """Cut a cited sentence to at most ``SNIPPET_CHARS``, at a word boundary."""
    if len(sentence) <= SNIPPET_CHARS:
        return sentence
    cut = sentence[:SNIPPET_CHARS]
    return cut[: cut.rfind(" ")] if " " in cut else cut


def fact_ref(fact: Hit) -> str:
    """The display id of a fact's record: Jira key, full sha or doc path."""
    return display_id(str(fact.get("doc_id") or str(fact.get("chunk_id", "")).partition("#")[0]))


def citation_entry(fact: Hit, snippet: str) -> Citation:
    """One citation: source kind, display id (Jira key, sha, doc path), title, uri, snippet."""
    return Citation(
        source=fact.get("source", ""),
        id=fact_ref(fact),
        title=fact.get("title", ""),
        uri=fact.get("uri", ""),
        snippet=snippet_of(snippet),
        chunk_id=fact["chunk_id"],
    )


def verify_citations(answer: str, citations: Sequence[Citation], facts: Sequence[Hit]) -> list[str]:
    """Check an answer against its citation list; return the problems found (none: ``[]``).

    Every marker must point into the list, the list must be numbered in order of first use
    with no unused entry, and every snippet must occur (whitespace normalized) in the text
    of the chunk its citation names (read as :func:`prose`).
    """
    problems = []
    used = marker_numbers(answer)
    first_use = list(dict.fromkeys(used))
    if first_use != list(range(1, len(citations) + 1)):
        problems.append(f"markers in order of first use {first_use} != 1..{len(citations)}")
    texts = {f.get("chunk_id"): prose(str(f.get("text", ""))) for f in facts}
    for n, citation in enumerate(citations, 1):
        chunk = texts.get(citation.get("chunk_id"))
        if chunk is None:
            problems.append(f"[{n}] names chunk {citation.get('chunk_id')!r}, not among facts")
        elif not citation.get("snippet") or normalize_space(citation["snippet"]) not in chunk:
            problems.append(f"[{n}] snippet does not occur in chunk {citation['chunk_id']}")
    return problems
