"""SQLite cache of per-record wash results, so unchanged records are not washed again.

Two tables, both keyed by a hash the caller derives from everything the result depends on:
``cleaned`` holds a record's cleaned form, redaction counts and dedup features (keyed by
the raw record's content hash and the cleaning code), ``chunks`` holds a surviving record's
chunks (keyed by its final content hash, the tokenizer and the chunk settings). Values are
JSON text and raw MinHash bytes (no pickle). The cache is disposable: a file that is not a
readable SQLite database with these tables is replaced by an empty one, and the run refills
it.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from tools.cleaning.dedup import DedupFeatures
from tools.records import Chunk

log = logging.getLogger(__name__)

_BATCH = 500
_CLEANED_COLUMNS = "key, row, counts, rank, exact_key, signature, signature_dtype"
_IN_USE = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS cleaned (
        key TEXT PRIMARY KEY,
        row TEXT NOT NULL,
        counts TEXT NOT NULL,
        rank TEXT NOT NULL,
        exact_key TEXT NOT NULL,
        signature BLOB,
        signature_dtype TEXT
    )""",
    "CREATE TABLE IF NOT EXISTS chunks (key TEXT PRIMARY KEY, chunks TEXT NOT NULL)",
)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _batches(keys: Sequence[str]) -> Iterator[Sequence[str]]:
    for first in range(0, len(keys), _BATCH):
        yield keys[first : first + _BATCH]


class WashCache:
    """Cleaned records and chunks by key, in ``<data_dir>/cache/wash.sqlite``.

    Use as a context manager. ``reset`` says why an unreadable file was replaced (empty
    when it was not).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.reset = ""
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as exc:
            if getattr(exc, "sqlite_errorcode", None) in _IN_USE:
                raise  # held by another process: not ours to replace
            self.reset = f"{self.path} was unreadable ({exc}); started an empty cache"
            log.warning("wash cache: %s", self.reset)
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            for statement in _SCHEMA:
                db.execute(statement)
            db.execute(f"SELECT {_CLEANED_COLUMNS} FROM cleaned LIMIT 1").fetchall()
            db.execute("SELECT key, chunks FROM chunks LIMIT 1").fetchall()
            db.commit()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def cleaned(self, keys: Sequence[str]) -> dict[str, tuple[dict, dict, DedupFeatures]]:
        """Cached ``(row, redaction counts, dedup features)`` for those ``keys`` it holds."""
        found = {}
        for batch in _batches(keys):
            marks = ",".join("?" * len(batch))
            for key, row, counts, rank, exact_key, signature, dtype in self._db.execute(
                f"SELECT {_CLEANED_COLUMNS} FROM cleaned WHERE key IN ({marks})", batch
            ):
                record = json.loads(row)
                features = DedupFeatures(
                    id=record["id"],
                    rank=tuple(json.loads(rank)),
                    exact_key=exact_key,
                    signature=None if signature is None else np.frombuffer(signature, dtype),
                )
                found[key] = (record, json.loads(counts), features)
        return found

    def put_cleaned(self, items: Iterable[tuple[str, dict, dict, DedupFeatures]]) -> None:
        """Store ``(key, row, counts, features)`` items and commit."""
        rows = []
        for key, row, counts, features in items:
            signature = features.signature
            rows.append(
                (
                    key,
                    _json(row),
                    _json(counts),
                    _json(list(features.rank)),
                    features.exact_key,
                    None if signature is None else signature.tobytes(),
                    None if signature is None else signature.dtype.str,
                )
            )
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO cleaned VALUES (?,?,?,?,?,?,?)", rows)

    def chunks(self, keys: Sequence[str]) -> dict[str, list[Chunk]]:
        """Cached chunk lists for those ``keys`` the cache holds."""
        found = {}
        for batch in _batches(keys):
            marks = ",".join("?" * len(batch))
            query = f"SELECT key, chunks FROM chunks WHERE key IN ({marks})"
            for key, chunks in self._db.execute(query, batch):
                found[key] = json.loads(chunks)
        return found

    def put_chunks(self, items: Iterable[tuple[str, list[Chunk]]]) -> None:
        """Store ``(key, chunks)`` items and commit."""
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO chunks VALUES (?, ?)",
                ((key, _json(chunks)) for key, chunks in items),
            )

    def keep_only(self, cleaned_keys: Iterable[str], chunk_keys: Iterable[str]) -> int:
        """Drop every entry this run did not use, so the cache tracks the current sources.

        Returns:
            How many entries were dropped.
        """
        dropped = 0
        with self._db:
            for table, keep in (("cleaned", set(cleaned_keys)), ("chunks", set(chunk_keys))):
                known = self._db.execute(f"SELECT key FROM {table}").fetchall()
                stale = [(key,) for (key,) in known if key not in keep]
                self._db.executemany(f"DELETE FROM {table} WHERE key = ?", stale)
                dropped += len(stale)
        return dropped

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __enter__(self) -> WashCache:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
