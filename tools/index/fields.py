"""What the index embeds and BM25-tokenizes for a chunk: its title, a fields line, its text.

The fields line makes a record findable by what people remember of it that its text may
not say: for a commit, its short sha, author, date (also as "February 2017") and the Jira
keys it cites (its changed paths are already in its text); for a Jira issue, its key,
type, components and versions; for a document, its path, whose folder and file names
often say what a table or an index page is about, and a file name that joins words as
written (``409.4-PLUGIN_ALREADY_STARTED``, the way a question quotes it). In the text,
a run of one punctuation mark (a table's ``| :-----: |`` rule, a ``=====`` underline) is
cut to three: the embedding model reads each mark as a token, and an 80-dash rule took a
third of a table's 256 tokens. The chunk's own text is unchanged.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from pathlib import Path
from typing import Any

from tools.records import Chunk, display_id

VERSION = r"\d+(?:\.\d+)+"
"""A version number (``2.0.1``, ``400.4``) as the tokenizers keep it whole."""
BM25_TOKEN = rf"(?u)(?<![\w.])v?{VERSION}\b|\b\w\w+\b"
"""How BM25 splits text: a version number (``2.0.1``, ``v2.0.1``) is one token, other
tokens are words of two or more characters (bm25s's default, which splits ``2.0.1`` into
digits too short to keep)."""
BM25_VERSION_PREFIX = r"^v(?=\d+\.)"
"""The ``v`` dropped from a version token, so "2.0.1" finds a changelog's "# v2.0.1"."""
BM25_JOINED_WORD = r"\b(?=\w*[A-Za-z\d]_[A-Za-z\d])\w+\b"
"""A snake_case name (``HTTP_PROXY``), which BM25 also reads as its words
(``store.bm25_tokenize``); camelCase names stay whole (splitting them lost as much as it
found on the tuning sets)."""
BM25_TOKENIZER = f"{BM25_TOKEN} {BM25_VERSION_PREFIX} {BM25_JOINED_WORD}"
"""What identifies BM25's tokenization: part of the index stage's inputs and of each
index version's manifest, so changing it rewrites the index."""


@cache
def indexed_text_version() -> str:
    """A hash of this module's text: its rules decide what is indexed and how BM25 splits it.

    Part of the index stage's inputs and of each build's input hash, so a changed rule
    rewrites the index (any edit here does; the vectors of chunks whose indexed text is
    unchanged are reused, so a rewrite that changes nothing costs little).
    """
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_JOINED_NAME = re.compile(r"\w_\w|\d\.\d")
"""A file name part BM25 reads as one token where the split path has several."""
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")
_MARK_RUN = re.compile(r"([-=_*~.+])\1{3,}")


def spoken_date(value: Any) -> str:
    """``2017-02-14T...`` as ``2017-02-14 (February 2017)``; ``""`` when not a date."""
    match = _DATE.match(str(value or ""))
    if not match or not 1 <= int(match.group(2)) <= 12:
        return ""
    year, month, _ = match.groups()
    return f"{match.group(0)} ({MONTHS[int(month) - 1]} {year})"


def _keys(links: Any) -> str:
    ids = links if isinstance(links, list) else []
    return " ".join(str(link).partition(":")[2] for link in ids if str(link).startswith("jira:"))


def fields_line(chunk: Chunk) -> str:
    """The searchable facts about a chunk's record that its text may not state."""
    meta = chunk.get("metadata") or {}
    ref = display_id(chunk["doc_id"])
    if chunk["source"] == "git":
        parts = [
            f"commit {ref[:7]}",
            f"by {meta.get('author', '')}",
            spoken_date(meta.get("created")),
        ]
        if keys := _keys(meta.get("links")):
            parts.append(f"issues {keys}")
    elif chunk["source"] == "jira":
        parts = [ref, str(meta.get("type") or "")]
        for name in ("components", "fix_versions", "versions"):
            values = meta.get(name)
            if isinstance(values, list) and values:
                parts.append(" ".join(str(v) for v in values))
    else:
        name = ref.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        parts = [re.sub(r"[/_.-]+", " ", ref), name if _JOINED_NAME.search(name) else ""]
    return " ".join(part for part in parts if part.strip())


def indexed_text(chunk: Chunk) -> str:
    """Title (unless the text starts with it), fields line and text of a chunk."""
    title = chunk.get("title", "").strip()
    text = chunk["text"]
    head = [] if not title or text.lstrip().startswith(title) else [title]
    head.append(fields_line(chunk))
    return "\n".join(line for line in head if line) + "\n\n" + _MARK_RUN.sub(r"\1\1\1", text)
