"""The on-disk knowledge index: versions written beside each other, switched atomically.

Layout under ``<data_dir>/index/``::

    current                  name of the live version (replaced with os.replace)
    .lock                    held by the one indexer that may write
    versions/<name>/
        faiss.index          FAISS IndexIDMap2 (flat inner product, or HNSW when large)
        meta.sqlite          chunks (text, metadata, hashes) and doc links
        bm25/                bm25s index (numpy .npy without pickle, and JSON)
        manifest.json        model, dimension, normalization, counts, build time
    versions/.tmp-<name>/    a version being written; never read, removed by the next run

A version is complete before ``current`` names it, so a killed indexer leaves the previous
version answering. No file is pickled.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import bm25s
import faiss
import numpy as np

from tools.config import IndexSettings
from tools.datadir import DataDir
from tools.index.fields import BM25_JOINED_WORD, BM25_TOKEN, BM25_TOKENIZER, BM25_VERSION_PREFIX
from tools.jsonl import atomic_open, read_json, write_json
from tools.records import Chunk
from tools.stemming import base_forms, fold

log = logging.getLogger(__name__)

FORMAT = 1
VERSIONS_DIR = "versions"
CURRENT_FILE = "current"
TMP_PREFIX = ".tmp-"
PAUSE_ENV = "DATA_ALCHEMY_INDEX_TEST_PAUSE"
"""Seconds to sleep in the middle of writing a version (crash tests kill the writer there)."""
SHORT_STEM = 3
"""Folded stems this short collide across words (``cor``), so they are not matched as forms."""

BM25_STOPWORDS = "en"
_ID_MASK = (1 << 63) - 1


class IndexNotFoundError(FileNotFoundError):
    """No index version has been written in this data dir yet."""


class IndexMismatchError(ValueError):
    """The index was built with another embedding model or vector layout."""


@dataclass
class ChunkRow:
    """One chunk as stored: the ``rag_chunks.jsonl`` line plus index bookkeeping.

    Attributes:
        chunk: The chunk, its fields checked and defaulted.
        faiss_id: Stable int64 id derived from ``chunk_id``.
        embed_hash: Hash of ``indexed_text``; equal hashes share one vector.
        indexed_text: What was embedded and BM25-tokenized (``tools.index.fields``).
    """

    chunk: Chunk
    faiss_id: int
    embed_hash: str
    indexed_text: str = field(repr=False)


def chunk_faiss_id(chunk_id: str) -> int:
    """Stable positive int64 FAISS id: the first 8 bytes of SHA-256, top bit cleared."""
    digest = hashlib.sha256(chunk_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") & _ID_MASK


def index_root(data_dir: Path) -> Path:
    """``<data_dir>/index``."""
    return DataDir(data_dir).index


def lock_path(data_dir: Path) -> Path:
    """The file lock that serializes indexers of one data dir."""
    return index_root(data_dir) / ".lock"


def current_version_dir(data_dir: Path) -> Path | None:
    """The live version's folder, or None when no complete version exists."""
    root = index_root(data_dir)
    try:
        name = (root / CURRENT_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    path = root / VERSIONS_DIR / name
    return path if name and (path / "manifest.json").is_file() else None


def index_exists(data_dir: Path) -> bool:
    """Whether a complete index version is live in ``data_dir``."""
    return current_version_dir(data_dir) is not None


def normalize_date(value: Any) -> str | None:
    """ISO 8601 date or datetime to a sortable UTC ``YYYY-MM-DDTHH:MM:SS``; None if unusable."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed.strftime("%Y-%m-%dT%H:%M:%S")


def dated_in(value: Any, period: tuple[str, str]) -> bool:
    """Whether an ISO 8601 date falls in ``(start, end)`` (ISO dates, end exclusive)."""
    return period[0] <= (normalize_date(value) or "") < period[1]


_VERSION_V = re.compile(BM25_VERSION_PREFIX)
_JOINED_WORD = re.compile(BM25_JOINED_WORD)


def _with_parts(text: str) -> str:
    """``text`` with each snake_case name followed by its words (``HTTP_PROXY HTTP PROXY``)."""
    return _JOINED_WORD.sub(lambda m: f"{m[0]} {m[0].replace('_', ' ')}", text)


def bm25_tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Lower-cased tokens (:data:`BM25_TOKEN`) without English stopwords.

    ``v2.0.1`` is read as ``2.0.1``, so "version 2.0.1" finds a changelog's "# v2.0.1";
    ``HTTP_PROXY`` as itself and ``http``, ``proxy``.
    """
    split = bm25s.tokenize(
        [_with_parts(text) for text in texts],
        token_pattern=BM25_TOKEN,
        stopwords=BM25_STOPWORDS,
        return_ids=False,
        show_progress=False,
    )
    return [[t[1:] if t[0] == "v" and _VERSION_V.match(t) else t for t in doc] for doc in split]


# --------------------------------------------------------------------------- writing


def _build_faiss(ids: np.ndarray, vectors: np.ndarray, options: IndexSettings) -> faiss.Index:
    dim = vectors.shape[1]
    if len(ids) <= options.exact_max:
        inner: faiss.Index = faiss.IndexFlatIP(dim)
    else:
        inner = faiss.IndexHNSWFlat(dim, options.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = options.hnsw_ef_construction
        inner.hnsw.efSearch = options.hnsw_ef_search
    index = faiss.IndexIDMap2(inner)
    if len(ids):
        index.add_with_ids(vectors, ids)
    return index


_SCHEMA = """
CREATE TABLE chunks (
    id INTEGER PRIMARY KEY,
    row INTEGER NOT NULL UNIQUE,
    chunk_id TEXT NOT NULL UNIQUE,
    doc_id TEXT NOT NULL,
    source TEXT NOT NULL,
    uri TEXT NOT NULL,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    position INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    embed_hash TEXT NOT NULL,
    metadata TEXT NOT NULL,
    project TEXT,
    created TEXT,
    updated TEXT
);
CREATE INDEX chunks_doc ON chunks (doc_id, position);
CREATE TABLE links (
    src TEXT NOT NULL,
    dst TEXT NOT NULL,
    relation TEXT NOT NULL,
    PRIMARY KEY (src, dst, relation)
) WITHOUT ROWID;
"""


def doc_links(rows: Iterable[ChunkRow]) -> set[tuple[str, str, str]]:
    """Both directions of every ``metadata.links`` edge, as (src, dst, relation)."""
    edges: set[tuple[str, str, str]] = set()
    for row in rows:
        doc_id, links = row.chunk["doc_id"], row.chunk["metadata"].get("links") or []
        for target in links if isinstance(links, list) else []:
            if isinstance(target, str) and target and target != doc_id:
                edges.add((doc_id, target, "links_to"))
                edges.add((target, doc_id, "linked_from"))
    return edges


_CHUNK_COLUMNS = tuple(name for name in Chunk.__annotations__ if name != "metadata")
"""The chunk fields stored as columns of their own, in the table's order."""


def _write_sqlite(path: Path, rows: Sequence[ChunkRow]) -> int:
    conn = sqlite3.connect(path)
    try:
        conn.executescript(_SCHEMA)
        conn.executemany(
            "INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                (
                    r.faiss_id,
                    n,
                    *(r.chunk[k] for k in _CHUNK_COLUMNS),
                    r.embed_hash,
                    json.dumps(r.chunk["metadata"], ensure_ascii=False, sort_keys=True),
                    str(r.chunk["metadata"].get("project") or "") or None,
                    normalize_date(r.chunk["metadata"].get("created")),
                    normalize_date(r.chunk["metadata"].get("updated")),
                )
                for n, r in enumerate(rows)
            ),
        )
        edges = doc_links(rows)
        conn.executemany("INSERT INTO links VALUES (?,?,?)", sorted(edges))
        conn.commit()
    finally:
        conn.close()
    return len(edges) // 2


def _fsync_tree(folder: Path) -> None:
    for path in sorted(folder.rglob("*"), reverse=True):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _new_version_name(versions: Path) -> str:
    base = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    name, suffix = base, 0
    while (versions / name).exists() or (versions / f"{TMP_PREFIX}{name}").exists():
        suffix += 1
        name = f"{base}-{suffix}"
    return name


def _pause_for_tests(folder: Path) -> None:
    seconds = float(os.environ.get(PAUSE_ENV) or 0)
    if seconds > 0:
        (folder / ".paused").write_text(str(os.getpid()), encoding="utf-8")
        time.sleep(seconds)


def write_version(
    data_dir: Path,
    rows: Sequence[ChunkRow],
    vectors: np.ndarray,
    manifest: dict[str, Any],
    options: IndexSettings,
) -> Path:
    """Write a complete new version, make it current, and drop old ones.

    The caller holds the lock from ``lock_path``. ``vectors[i]`` belongs to ``rows[i]``.

    Returns:
        The new version's folder.
    """
    root = index_root(data_dir)
    versions = root / VERSIONS_DIR
    versions.mkdir(parents=True, exist_ok=True)
    name = _new_version_name(versions)
    tmp = versions / f"{TMP_PREFIX}{name}"
    tmp.mkdir()
    ids = np.fromiter((r.faiss_id for r in rows), dtype=np.int64, count=len(rows))
    index = _build_faiss(ids, vectors, options)
    faiss.write_index(index, str(tmp / "faiss.index"))
    _pause_for_tests(tmp)
    links = _write_sqlite(tmp / "meta.sqlite", rows)
    bm25 = bm25s.BM25()
    if rows:
        bm25.index(bm25_tokenize([r.indexed_text for r in rows]), show_progress=False)
        bm25.save(str(tmp / "bm25"), show_progress=False)
    manifest = {
        **manifest,
        "format": FORMAT,
        "version": name,
        "faiss": type(faiss.downcast_index(index.index)).__name__,
        "hnsw": {
            "m": options.hnsw_m,
            "ef_construction": options.hnsw_ef_construction,
            "ef_search": options.hnsw_ef_search,
        }
        if len(ids) > options.exact_max
        else None,
        "bm25": {
            "library": "bm25s",
            "method": bm25.method,
            "k1": bm25.k1,
            "b": bm25.b,
            "tokenizer": BM25_TOKENIZER,
        },
    }
    manifest["counts"] = {**manifest.get("counts", {}), "links": links}
    write_json(tmp / "manifest.json", manifest)
    _fsync_tree(tmp)
    os.rename(tmp, versions / name)
    _fsync_dir(versions)
    with atomic_open(root / CURRENT_FILE) as handle:
        handle.write(name + "\n")
    _fsync_dir(root)
    collect_garbage(data_dir, options.keep_versions)
    return versions / name


def collect_garbage(data_dir: Path, keep: int) -> list[str]:
    """Remove unfinished versions and all but the ``keep`` newest complete ones.

    The current version is always kept. The caller holds the indexer lock.

    Returns:
        Names of the removed folders.
    """
    versions = index_root(data_dir) / VERSIONS_DIR
    current = current_version_dir(data_dir)
    if not versions.is_dir():
        return []
    complete = sorted(
        (p for p in versions.iterdir() if p.is_dir() and not p.name.startswith(TMP_PREFIX)),
        key=lambda p: p.name,
        reverse=True,
    )
    keep_names = {p.name for p in complete[: max(keep, 1)]}
    if current is not None:
        keep_names.add(current.name)
    removed = []
    for path in versions.iterdir():
        if path.is_dir() and path.name not in keep_names:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return sorted(removed)


# --------------------------------------------------------------------------- reading


class IndexVersion:
    """One complete, read-only index version loaded in memory (SQLite stays on disk)."""

    def __init__(self, path: Path, ef_search: int | None = None) -> None:
        """Open the version in ``path``.

        Raises:
            IndexNotFoundError: ``path`` holds no complete version.
        """
        self.path = path
        self.manifest: dict[str, Any] = read_json(path / "manifest.json")
        if not self.manifest:
            raise IndexNotFoundError(f"no index manifest in {path}")
        self.faiss = faiss.read_index(str(path / "faiss.index"))
        if ef_search and self.manifest.get("hnsw"):
            faiss.downcast_index(self.faiss.index).hnsw.efSearch = ef_search
        self.db = sqlite3.connect(
            f"file:{path / 'meta.sqlite'}?mode=ro", uri=True, check_same_thread=False
        )
        self.db.row_factory = sqlite3.Row
        ids = self.db.execute("SELECT id FROM chunks ORDER BY row").fetchall()
        self.row_ids = np.array([r[0] for r in ids], dtype=np.int64)
        self.bm25 = bm25s.BM25.load(str(path / "bm25"), show_progress=False) if len(ids) else None

    @classmethod
    def open_current(cls, data_dir: Path, ef_search: int | None = None) -> IndexVersion:
        """Open the live version of ``data_dir``.

        Raises:
            IndexNotFoundError: No index was built in ``data_dir`` yet.
        """
        path = current_version_dir(data_dir)
        if path is None:
            raise IndexNotFoundError(
                f"no index in {index_root(data_dir)}: run `data-alchemy ingest --stage index`"
            )
        return cls(path, ef_search)

    @property
    def name(self) -> str:
        """The version's folder name."""
        return self.path.name

    def __len__(self) -> int:
        return len(self.row_ids)

    def document_frequency(self, tokens: Iterable[str]) -> tuple[dict[str, int], int]:
        """How many chunks hold each BM25 token, and how many chunks there are."""
        if self.bm25 is None:
            return dict.fromkeys(tokens, 0), 0
        indptr = self.bm25.scores["indptr"]
        out = {}
        for token in tokens:
            i = self.bm25.vocab_dict.get(token)
            out[token] = (
                int(indptr[i + 1] - indptr[i]) if i is not None and i + 1 < len(indptr) else 0
            )
        return out, int(self.bm25.scores["num_docs"])

    def holds_text(self, text: str) -> bool:
        """Whether some chunk's title or text holds ``text`` as written, case aside.

        A scan of every chunk, so it is asked only of the few names a question writes.
        """
        found = self.db.execute(
            "SELECT 1 FROM chunks WHERE instr(lower(text), ?1) OR instr(lower(title), ?1) LIMIT 1",
            (text.lower(),),
        )
        return found.fetchone() is not None

    def holds_a_form_of(self, token: str) -> bool:
        """Whether some chunk holds ``token`` or another form of its word.

        ``transaction`` is a form of ``transactions``, ``exclude`` of ``excluding``
        (``tools.stemming.fold``), ``go`` of ``went``, ``hit`` of ``hitting``
        (``tools.stemming.base_forms``). A stem of three letters or fewer collides across
        words (``cors`` and ``core`` both fold to ``cor``), so there the word must be
        indexed as it is or with a plural ending added or taken off (``codes`` holds
        ``code``).
        """
        vocab = self.bm25.vocab_dict if self.bm25 else {}
        for word in base_forms(token):
            stem = fold(word)
            if len(stem) > SHORT_STEM:
                if stem in self._word_forms:
                    return True
                continue
            forms = {word, f"{word}s", word.removesuffix("s"), word.removesuffix("es")} - {token}
            if any(form in vocab for form in forms):
                return True
        return False

    @cached_property
    def _word_forms(self) -> frozenset[str]:
        """The BM25 vocabulary, suffixes folded (built on first use)."""
        return frozenset(fold(t) for t in self.bm25.vocab_dict) if self.bm25 else frozenset()

    def close(self) -> None:
        """Close the SQLite connection."""
        self.db.close()

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        """Stored vectors of the given FAISS ids, in that order."""
        dim = self.faiss.d
        if not len(ids):
            return np.zeros((0, dim), dtype=np.float32)
        return np.vstack([self.faiss.reconstruct(int(i)) for i in ids]).astype(np.float32)

    def all_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """Every stored (FAISS id, vector) pair, in insertion order."""
        ids = faiss.vector_to_array(self.faiss.id_map).astype(np.int64)
        if not len(ids):
            return ids, np.zeros((0, self.faiss.d), dtype=np.float32)
        return ids, self.faiss.index.reconstruct_n(0, len(ids))

    def embed_hashes(self) -> dict[int, tuple[str, str]]:
        """FAISS id -> (chunk_id, embed_hash) for every chunk."""
        rows = self.db.execute("SELECT id, chunk_id, embed_hash FROM chunks")
        return {r[0]: (r[1], r[2]) for r in rows}

    def rows(self, ids: Sequence[int]) -> dict[int, sqlite3.Row]:
        """Chunk rows by FAISS id (missing ids are left out)."""
        out: dict[int, sqlite3.Row] = {}
        ids = [int(i) for i in ids]
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            for row in self.db.execute(f"SELECT * FROM chunks WHERE id IN ({marks})", part):
                out[row["id"]] = row
        return out

    def select_ids(self, where: str, params: Sequence[Any]) -> np.ndarray:
        """FAISS ids of the chunks matching an SQL ``where`` clause over ``chunks``."""
        rows = self.db.execute(f"SELECT id FROM chunks WHERE {where}", list(params))
        return np.array([r[0] for r in rows], dtype=np.int64)

    def linked_docs(self, doc_ids: Sequence[str]) -> list[tuple[str, str, str]]:
        """(src, dst, relation) edges leaving the given docs, both directions included."""
        marks = ",".join("?" * len(doc_ids))
        if not doc_ids:
            return []
        rows = self.db.execute(
            f"SELECT src, dst, relation FROM links WHERE src IN ({marks}) ORDER BY src, dst",
            list(doc_ids),
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def first_chunks_like(self, pattern: str, limit: int = 5) -> list[int]:
        """FAISS id of the first chunk of each doc whose id matches an SQL LIKE pattern."""
        rows = self.db.execute(
            "SELECT id, MIN(position) FROM chunks WHERE doc_id LIKE ? GROUP BY doc_id "
            "ORDER BY doc_id LIMIT ?",
            (pattern, limit),
        )
        return [r[0] for r in rows]

    def doc_chunk_ids(self, doc_ids: Sequence[str]) -> dict[str, list[int]]:
        """FAISS ids of each doc's chunks, in position order."""
        out: dict[str, list[int]] = {}
        if not doc_ids:
            return out
        marks = ",".join("?" * len(doc_ids))
        rows = self.db.execute(
            f"SELECT doc_id, id FROM chunks WHERE doc_id IN ({marks}) ORDER BY doc_id, position",
            list(doc_ids),
        )
        for doc_id, faiss_id in rows:
            out.setdefault(doc_id, []).append(faiss_id)
        return out
