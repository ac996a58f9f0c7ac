"""Index stage: embed new or changed chunks of ``rag_chunks.jsonl`` into a new index version.

Vectors are reused from the live version when a chunk's indexed text (``tools.index.fields``) hashes
the same, so an unchanged corpus embeds nothing and a changed record re-embeds only its
chunks; chunks no longer in the input leave the index.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock, Timeout

from tools.config import Settings
from tools.datadir import DataDir
from tools.index.embeddings import Embedder, EmbeddingConfig, EmbeddingError, load_embedder
from tools.index.fields import indexed_text, indexed_text_version
from tools.index.store import (
    FORMAT,
    ChunkRow,
    IndexVersion,
    chunk_faiss_id,
    current_version_dir,
    lock_path,
    write_version,
)
from tools.progress import progress
from tools.records import Chunk, stable_hash
from tools.report import StageReport

log = logging.getLogger(__name__)

REQUIRED = ("chunk_id", "doc_id", "source", "text")
EMBED_SLICE = 1024
LOCK_TIMEOUT_S = 600


def _parse_chunk(line: str) -> Chunk:
    row = json.loads(line)
    if not isinstance(row, dict):
        raise ValueError("not a JSON object")
    for key in REQUIRED:
        if not isinstance(row.get(key), str) or not row[key].strip():
            raise ValueError(f"missing or empty {key!r}")
    if not isinstance(row.get("metadata") or {}, dict):
        raise ValueError("metadata is not an object")
    return row


def load_chunks(path: Path, report: StageReport) -> tuple[list[ChunkRow], str]:
    """Read and validate chunks; bad lines are skipped with a reason.

    Returns:
        The valid chunks in file order, and a hash of their full content.
    """
    rows: list[ChunkRow] = []
    seen: dict[int, str] = {}
    row_hashes = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            report.items_in += 1
            try:
                raw = _parse_chunk(line)
            except (ValueError, TypeError) as exc:
                report.skip(f"{path.name}:{number}", f"bad chunk: {exc}")
                continue
            chunk_id = raw["chunk_id"]
            faiss_id = chunk_faiss_id(chunk_id)
            if faiss_id in seen:
                reason = (
                    "duplicate chunk_id"
                    if seen[faiss_id] == chunk_id
                    else f"id collision with {seen[faiss_id]}"
                )
                report.skip(chunk_id, f"{reason} (first kept)")
                continue
            seen[faiss_id] = chunk_id
            title, text = str(raw.get("title") or ""), raw["text"]
            chunk = Chunk(
                chunk_id=chunk_id,
                doc_id=raw["doc_id"],
                source=raw["source"],
                uri=str(raw.get("uri") or ""),
                title=title,
                text=text,
                position=int(raw.get("position") or 0),
                content_hash=str(raw.get("content_hash") or stable_hash([title, text])),
                metadata=dict(raw.get("metadata") or {}),
            )
            content = indexed_text(chunk)
            rows.append(ChunkRow(chunk, faiss_id, stable_hash(content), content))
            row_hashes.append(stable_hash(raw))
    return rows, stable_hash(row_hashes)


def _mismatch(manifest: dict[str, Any], config: EmbeddingConfig, data_dir: Path) -> str | None:
    built = (manifest.get("model"), manifest.get("normalized"), manifest.get("format"))
    wanted = (config.model, config.normalize, FORMAT)
    if built == wanted:
        return None
    return (
        f"the index in {data_dir / 'index'} was built with embedding model {built[0]!r} "
        f"(normalized={built[1]}, format {built[2]}) but the config asks for {wanted[0]!r} "
        f"(normalized={wanted[1]}, format {wanted[2]}): run `data-alchemy ingest --stage "
        "index --rebuild` to re-embed everything"
    )


def _embed(embedder: Embedder, texts: list[str]) -> np.ndarray:
    """Embed ``texts`` in slices, logging progress."""
    parts = [np.zeros((0, embedder.dimension), dtype=np.float32)]
    start = time.perf_counter()
    bar = progress(total=len(texts), desc="embed", unit="chunk")
    for first in range(0, len(texts), EMBED_SLICE):
        parts.append(embedder.encode(texts[first : first + EMBED_SLICE]))
        done = min(first + EMBED_SLICE, len(texts))
        bar.update(done - bar.n)
        rate = done / max(time.perf_counter() - start, 1e-9)
        log.info("embedded %d/%d chunks (%.1f chunks/s)", done, len(texts), rate)
    bar.close()
    return np.vstack(parts)


def run_index(settings: Settings, data_dir: Path, rebuild: bool = False) -> StageReport:
    """Build or update the index in ``data_dir/index`` from ``data_dir/rag_chunks.jsonl``.

    Args:
        settings: Loaded configuration (``model_b`` and, when present, ``index``).
        data_dir: The data dir holding ``rag_chunks.jsonl``.
        rebuild: Ignore the live version: re-embed everything (needed after a model change).

    Returns:
        The stage report; counters ``embedded``, ``reused`` and ``removed`` say what changed.
        Status ``skipped`` when the chunks and settings match the live version, ``failed``
        when the input is missing, the model cannot be loaded, the live index uses another
        model (the reason names ``--rebuild``) or another indexer holds the lock.
    """
    report = StageReport("index")
    data_dir = Path(data_dir)
    chunks_path = DataDir(data_dir).rag_chunks
    if not chunks_path.is_file():
        report.reason = f"no {chunks_path}: run the wash stage first"
        return report.finish("failed")
    lock_path(data_dir).parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(lock_path(data_dir), timeout=LOCK_TIMEOUT_S):
            return _update(settings, data_dir, chunks_path, rebuild, report)
    except EmbeddingError as exc:
        report.reason = str(exc)
        return report.finish("failed")
    except Timeout:
        report.reason = f"another indexer held {lock_path(data_dir)} for {LOCK_TIMEOUT_S} s"
        return report.finish("failed")


def _update(
    settings: Settings, data_dir: Path, chunks_path: Path, rebuild: bool, report: StageReport
) -> StageReport:
    started = time.perf_counter()
    config = EmbeddingConfig.from_settings(settings)
    options = settings.index
    rows, rows_hash = load_chunks(chunks_path, report)
    input_hash = stable_hash(
        [
            config.model,
            config.normalize,
            FORMAT,
            options.exact_max,
            options.hnsw_m,
            options.hnsw_ef_construction,
            indexed_text_version(),
            rows_hash,
        ]
    )
    previous = None
    if not rebuild and current_version_dir(data_dir) is not None:
        previous = IndexVersion.open_current(data_dir)
    try:
        if previous is not None:
            problem = _mismatch(previous.manifest, config, data_dir)
            if problem:
                report.reason = problem
                return report.finish("failed")
            if previous.manifest.get("input_hash") == input_hash:
                report.items_out = len(rows)
                report.count("embedded", 0)
                report.count("reused", len(rows))
                report.count("removed", 0)
                report.reason = f"chunks unchanged since version {previous.name}"
                return report.finish("skipped")
        reuse_ids, reuse_vectors, dimension, removed = _reusable(previous, rows)
    finally:
        if previous is not None:
            previous.close()

    todo = [i for i, row in enumerate(rows) if row.embed_hash not in reuse_ids]
    if todo or dimension is None:
        embedder = load_embedder(config)
        if dimension is not None and embedder.dimension != dimension:
            report.reason = (
                f"the index holds {dimension}-dimensional vectors but {config.model!r} gives "
                f"{embedder.dimension}: run `data-alchemy ingest --stage index --rebuild`"
            )
            return report.finish("failed")
        dimension = embedder.dimension
    vectors = np.zeros((len(rows), dimension), dtype=np.float32)
    if todo:
        vectors[todo] = _embed(embedder, [rows[i].indexed_text for i in todo])
    for i, row in enumerate(rows):
        if row.embed_hash in reuse_ids:
            vectors[i] = reuse_vectors[reuse_ids[row.embed_hash]]

    counts = {"embedded": len(todo), "reused": len(rows) - len(todo), "removed": removed}
    manifest = _manifest(config, rows, dimension, counts, input_hash)
    manifest["build_seconds"] = round(time.perf_counter() - started, 3)
    version = write_version(data_dir, rows, vectors, manifest, options)
    report.items_out = len(rows)
    for name, value in counts.items():
        report.count(name, value)
    report.reason = f"version {version.name}" + (" (rebuilt)" if rebuild else "")
    return report.finish("ok")


def _manifest(
    config: EmbeddingConfig,
    rows: list[ChunkRow],
    dimension: int,
    counts: dict[str, int],
    input_hash: str,
) -> dict[str, Any]:
    sources: dict[str, int] = {}
    for row in rows:
        sources[row.chunk["source"]] = sources.get(row.chunk["source"], 0) + 1
    return {
        "model": config.model,
        "dimension": dimension,
        "normalized": config.normalize,
        "precision": config.precision,
        "metric": "inner_product",
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "input_hash": input_hash,
        "counts": {
            "chunks": len(rows),
            "docs": len({row.chunk["doc_id"] for row in rows}),
            "by_source": dict(sorted(sources.items())),
            **counts,
        },
    }


def _reusable(
    previous: IndexVersion | None, rows: list[ChunkRow]
) -> tuple[dict[str, int], np.ndarray, int | None, int]:
    """Vectors of the live version by embed hash, its dimension, and chunks that left."""
    if previous is None:
        return {}, np.zeros((0, 0), dtype=np.float32), None, 0
    hashes = previous.embed_hashes()
    ids, vectors = previous.all_vectors()
    by_hash = {hashes[int(fid)][1]: n for n, fid in enumerate(ids) if int(fid) in hashes}
    current = {row.chunk["chunk_id"] for row in rows}
    removed = sum(1 for chunk_id, _ in hashes.values() if chunk_id not in current)
    return by_hash, vectors, int(previous.manifest["dimension"]), removed
