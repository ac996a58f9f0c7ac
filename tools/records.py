"""The source record: what every loader yields and every later stage reads."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Source = Literal["jira", "git", "docs"]


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

    def to_dict(self) -> dict[str, Any]:
        """Return the record as a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> SourceRecord:
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
