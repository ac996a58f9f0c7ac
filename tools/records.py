"""The source record: what every loader yields and every later stage reads."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from typing_extensions import NotRequired, TypedDict  # noqa: UP035 (LangGraph state schemas)

Source = Literal["jira", "git", "docs"]

SHORT_SHA = re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}\b")
"""A commit named by its sha or a short sha of it (``f86a7d3``), lower case: 7 to 40 hex
characters, letters and digits both."""
FILES_HEADING = "Changed files:"
"""The line that opens the list of changed files closing a commit record's text."""
MORE_FILES = "... and {} more files"
"""The last item of a list of changed files cut short, with how many it leaves out."""
COMMENT_HEADING = re.compile(
    r"^## Comment by (?P<author>.+?) on (?P<date>\d{4}-\d{2}-\d{2})[ \t]*$", re.MULTILINE
)
"""The line that opens each comment in a Jira record's text (see ``comment_heading``)."""


def comment_heading(author: str, day: str) -> str:
    """The heading of a Jira comment in a record's text: ``## Comment by <author> on <day>``."""
    return f"## Comment by {author} on {day}"


class RecordRow(TypedDict):
    """A :class:`SourceRecord` as JSON: a ``cleaned_corpus.jsonl`` line, a wash engine's row."""

    id: str
    source: str
    uri: str
    title: str
    text: str
    metadata: dict[str, Any]
    content_hash: str


class Passage(TypedDict):
    """One piece of a record, as chunked: what the index embeds and retrieval returns."""

    chunk_id: str
    """``<record id>#<position>``."""
    doc_id: str
    source: str
    uri: str
    title: str
    text: str
    position: int
    metadata: dict[str, Any]


class Chunk(Passage):
    """A ``rag_chunks.jsonl`` line: a passage with the hash that keeps indexing incremental."""

    content_hash: str


class Citation(TypedDict):
    """One source an answer cites as ``[n]``."""

    source: str
    """``jira``, ``git`` or ``docs``."""
    id: str
    """What people call it: a Jira key, a full commit sha, a doc path."""
    title: str
    uri: str
    snippet: str
    """The sentence of the source the answer's claim rests on."""
    chunk_id: str


class Hit(Passage):
    """A retrieved chunk: a fact for the finalist, with how it ranked."""

    score: float
    """The fused score (hybrid RRF), or the dense cosine / BM25 score of one mode."""
    ranks: NotRequired[dict[str, int | None]]
    """Rank per retriever (``dense``, ``bm25``, ``named``); None where it did not find it."""
    scores: NotRequired[dict[str, float | None]]
    """Raw score per retriever (and ``rerank`` for hybrid)."""
    features: NotRequired[dict[str, float]]
    """Hybrid: the rerank features of its record (``tools.index.rerank``)."""
    last_chunk: NotRequired[bool]
    """Whether it is its record's last chunk (an issue's thread ends there)."""


def stable_hash(obj: Any) -> str:
    """Return the SHA-256 hex digest of ``obj`` serialized canonically."""
    payload = json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass
class SourceRecord:
    """One Jira issue, commit or document.

    Attributes:
        id: Stable id: ``jira:KEY``, ``git:REPO@SHA`` or ``docs:RELPATH``.
        source: ``jira``, ``git`` or ``docs``.
        uri: Where a person can open the original.
        title: Issue summary, commit subject or document title.
        text: The body as clean text (code blocks kept as code).
        metadata: Author, dates, status, links, changed files, ...
        content_hash: Hash of title, text and metadata; filled in when empty.
    """

    id: str
    source: Source
    uri: str
    title: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    content_hash: str = ""

    def __post_init__(self) -> None:
        if not self.content_hash:
            self.content_hash = self.compute_hash()

    def compute_hash(self) -> str:
        """Hash of everything but the hash itself."""
        return stable_hash([self.id, self.source, self.uri, self.title, self.text, self.metadata])

    def to_dict(self) -> RecordRow:
        """Return the record as a JSON-ready dict."""
        return RecordRow(**asdict(self))

    @classmethod
    def from_dict(cls, row: RecordRow) -> SourceRecord:
        """Build a record from a dict such as a ``cleaned_corpus.jsonl`` row."""
        return cls(
            id=row["id"],
            source=row["source"],
            uri=row.get("uri", ""),
            title=row.get("title", ""),
            text=row.get("text", ""),
            metadata=dict(row.get("metadata") or {}),
            content_hash=row.get("content_hash", ""),
        )


def display_id(record_id: str) -> str:
    """Return the id people use: ``DAEMON-100``, a full commit sha, or a doc path."""
    kind, _, rest = record_id.partition(":")
    if kind == "git":
        return rest.rpartition("@")[2]
    return rest if kind in ("jira", "docs") else record_id


def changed_paths(metadata: Mapping[str, Any]) -> list[str]:
    """The paths a commit's metadata lists as changed (entries without one are skipped)."""
    files = metadata.get("files") or []
    return [str(f["path"]) for f in files if isinstance(f, Mapping) and f.get("path")]
