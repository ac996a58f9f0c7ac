"""The wash stage, engine-independent: load -> clean -> dedup -> chunk -> write.

Records are loaded on the driver (loaders need the local filesystem and git). Cleaning
(with the dedup features) and chunking run per partition through the engine, so Python and
Spark execute the very same functions; dedup decisions, sorting and writing happen here, on
the driver, so both engines write byte-identical files. A record that raises while being
cleaned or chunked is reported as failed and left out of both outputs; a duplicate is
reported as skipped with its survivor. ``items_in`` counts the files and commits the
loaders read (``loaded:<source>`` the records they gave), ``items_out`` the records written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

from tools.cleaning.chunking import Chunker
from tools.cleaning.dedup import DedupFeatures, apply_drops, features, find_duplicates
from tools.cleaning.record import clean_record
from tools.config import Settings, SourcesSettings
from tools.jsonl import write_jsonl
from tools.loaders import load_sources
from tools.records import SourceRecord
from tools.report import StageReport

CLEANED_CORPUS = "cleaned_corpus.jsonl"
RAG_CHUNKS = "rag_chunks.jsonl"

T = TypeVar("T")
R = TypeVar("R")


class Engine(Protocol):
    """Runs a list-to-list function over partitions of its input, keeping the order."""

    name: str

    def map_partitions(self, fn: Callable[[list[T]], list[R]], items: Sequence[T]) -> list[R]:
        """Apply ``fn`` to consecutive slices of ``items`` and concatenate the results."""
        ...


@dataclass(frozen=True)
class Cleaned:
    """The outcome of cleaning one record: the record and its counts, or an error."""

    id: str
    row: dict[str, Any] | None
    counts: dict[str, int]
    features: DedupFeatures | None
    error: str = ""


@dataclass(frozen=True)
class Chunked:
    """The chunks of one record, or the error that prevented them."""

    id: str
    chunks: list[dict[str, Any]]
    error: str = ""


def clean_partition(rows: list[dict[str, Any]]) -> list[Cleaned]:
    """Clean and redact source record dicts and compute their dedup features."""
    out = []
    for row in rows:
        try:
            cleaned, counts = clean_record(row)
            out.append(Cleaned(row["id"], cleaned, dict(counts), features(cleaned)))
        except Exception as exc:
            out.append(Cleaned(row["id"], None, {}, None, f"clean: {type(exc).__name__}: {exc}"))
    return out


def chunk_partition(
    rows: list[dict[str, Any]], model: str, chunk_tokens: int, chunk_overlap: int
) -> list[Chunked]:
    """Chunk cleaned record dicts with the embedding model's tokenizer."""
    chunker = Chunker(model, chunk_tokens, chunk_overlap)
    out = []
    for row in rows:
        try:
            out.append(Chunked(row["id"], chunker.chunk(row)))
        except Exception as exc:
            out.append(Chunked(row["id"], [], f"chunk: {type(exc).__name__}: {exc}"))
    return out


def wash(
    settings: Settings,
    data_dir: Path,
    engine: Engine,
    report: StageReport,
    sources: SourcesSettings | None = None,
) -> StageReport:
    """Load the configured (or given) sources and wash them with ``engine``.

    Args:
        settings: The loaded config (``wash`` and ``model_b`` sections are used).
        data_dir: Where ``cleaned_corpus.jsonl`` and ``rag_chunks.jsonl`` are written.
        engine: A ``PythonEngine`` or an entered ``SparkEngine``.
        report: Receives loader skips and failures, duplicates (``duplicates:exact``,
            ``duplicates:near``), redactions by kind (``redacted:email``, ...), ``chunks``.
        sources: Replaces ``settings.sources`` when given.

    Returns:
        ``report`` (not finished: the caller stops its clock).
    """
    rows = [
        record.to_dict() for record in load_sources(sources or settings.sources, settings, report)
    ]
    return wash_records(rows, settings, data_dir, engine, report)


def wash_records(
    rows: Sequence[dict[str, Any]],
    settings: Settings,
    data_dir: Path,
    engine: Engine,
    report: StageReport,
) -> StageReport:
    """Clean, deduplicate, chunk and write already loaded source record dicts.

    Args:
        rows: Source record dicts with unique ids.
        settings: The loaded config.
        data_dir: Output folder.
        engine: Where the partition functions run.
        report: The stage report to fill (it may already hold the loaders' counts).

    Returns:
        ``report`` (not finished).

    Raises:
        OSError: The embedding model's tokenizer cannot be loaded.
        ValueError: ``wash.chunk_tokens`` / ``wash.chunk_overlap`` are unusable.
    """
    options = settings.wash
    Chunker(settings.model_b.model, options.chunk_tokens, options.chunk_overlap)  # fail fast
    cleaned = []
    for result in engine.map_partitions(clean_partition, rows):
        if result.error:
            report.fail(result.id, result.error)
            continue
        cleaned.append(result)
        for kind, n in result.counts.items():
            report.count(f"redacted:{kind}", n)
    drops = find_duplicates(
        [c.row for c in cleaned],
        [c.features for c in cleaned],
        threshold=settings.wash.near_duplicate_threshold,
    )
    for drop in drops:
        report.skip(drop.id, drop.reason)
        report.count(f"duplicates:{drop.kind}")
    survivors = [_rehash(row) for row in apply_drops([c.row for c in cleaned], drops)]
    chunker = partial(
        chunk_partition,
        model=settings.model_b.model,
        chunk_tokens=options.chunk_tokens,
        chunk_overlap=options.chunk_overlap,
    )
    chunks: list[dict[str, Any]] = []
    failed: set[str] = set()
    for result in engine.map_partitions(chunker, survivors):
        if result.error:
            report.fail(result.id, result.error)
            failed.add(result.id)
        chunks.extend(result.chunks)
    corpus = sorted((row for row in survivors if row["id"] not in failed), key=lambda r: r["id"])
    chunks.sort(key=lambda c: (c["doc_id"], c["position"]))
    report.items_out = write_jsonl(Path(data_dir) / CLEANED_CORPUS, corpus)
    report.count("chunks", write_jsonl(Path(data_dir) / RAG_CHUNKS, chunks))
    return report


def _rehash(row: dict[str, Any]) -> dict[str, Any]:
    """The row as a complete SourceRecord dict whose hash covers its cleaned content."""
    return SourceRecord.from_dict({**row, "content_hash": ""}).to_dict()
