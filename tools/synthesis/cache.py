"""SQLite cache of synthesized pairs, so unchanged records never reach the LLM again.

A result is keyed by (record content hash, model, prompt version, provider): editing the
record, switching model or changing the prompt all miss the cache. Values are JSON text
(no pickle). Each result is committed as it arrives, so a killed run keeps what it paid for.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, NamedTuple

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pairs (
    content_hash TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    provider TEXT NOT NULL,
    record_id TEXT NOT NULL,
    pairs_json TEXT NOT NULL,
    created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    PRIMARY KEY (content_hash, model, prompt_version, provider)
)
"""


class CacheKey(NamedTuple):
    """What a cached result depends on."""

    content_hash: str
    model: str
    prompt_version: str
    provider: str


class RefineCache:
    """Pairs per record, in ``<data_dir>/cache/refine.sqlite``; use as a context manager."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)
        self._db.commit()

    def get(self, key: CacheKey) -> list[dict[str, Any]] | None:
        """Return the cached pairs for ``key`` (``[{"question", "answer"}]``), or None."""
        row = self._db.execute(
            "SELECT pairs_json FROM pairs WHERE content_hash=? AND model=? AND prompt_version=?"
            " AND provider=?",
            key,
        ).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: CacheKey, record_id: str, pairs: list[dict[str, Any]]) -> None:
        """Store (or replace) the pairs for ``key`` and commit."""
        self._db.execute(
            "INSERT OR REPLACE INTO pairs"
            " (content_hash, model, prompt_version, provider, record_id, pairs_json)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (*key, record_id, json.dumps(pairs, ensure_ascii=False, sort_keys=True)),
        )
        self._db.commit()

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __enter__(self) -> RefineCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
