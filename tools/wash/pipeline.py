"""The wash stage, engine-independent: load -> clean -> dedup -> chunk -> write.

Records are loaded on the driver (loaders need the local filesystem and git). Cleaning
(with the dedup features) and chunking run per partition through the engine, so Python and
Spark execute the very same functions; dedup decisions, sorting and writing happen here, on
the driver, so both engines write byte-identical files. A record that raises while being
cleaned or chunked is reported as failed and left out of both outputs; a duplicate is
reported as skipped with its survivor. ``items_in`` counts the files and commits the
loaders read (``loaded:<source>`` the records they gave), ``items_out`` the records written.

The work is incremental per record: a record's cleaned form and its chunks are cached in
``<data_dir>/cache/wash.sqlite`` (see ``tools.wash.cache``), so only new or changed records
reach the engine, while dedup still decides over all records. The files written are the
same bytes as a run without the cache.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, TypeVar

from tools.cleaning.chunking import Chunker
from tools.cleaning.dedup import DedupFeatures, apply_drops, features, find_duplicates
from tools.cleaning.record import clean_record
from tools.cleaning.version import code_version
from tools.config import Settings, SourcesSettings
from tools.datadir import DataDir
from tools.jsonl import atomic_open, dumps
from tools.loaders import load_sources
from tools.progress import progress
from tools.records import Chunk, RecordRow, SourceRecord, stable_hash
from tools.report import StageReport
from tools.wash.cache import WashCache

T = TypeVar("T")
R = TypeVar("R")


class Engine(Protocol):
    """Runs a list-to-list function over partitions of its input, keeping the order."""

    name: str

    def map_partitions(self, fn: Callable[[list[T]], list[R]], items: Sequence[T]) -> list[R]:
        """Apply ``fn`` to consecutive slices of ``items`` and concatenate the results."""
        ...


class LazyEngine:
    """Enter a wash engine (e.g. start a Spark session) only when it first gets work.

    Args:
        engine: A ``PythonEngine`` or ``SparkEngine``, not yet entered.
    """

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.name: str = engine.name
        self.started = False
        self._stack = ExitStack()

    def map_partitions(self, fn: Callable[[list[T]], list[R]], items: Sequence[T]) -> list[R]:
        """Run ``fn`` through the engine, entering it first; no items need no engine."""
        if not items:
            return []
        if not self.started:
            self._stack.enter_context(self.engine)
            self.started = True
        return self.engine.map_partitions(fn, items)

    def __enter__(self) -> LazyEngine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stack.__exit__(exc_type, exc, traceback)


@dataclass(frozen=True)
class Cleaned:
    """The outcome of cleaning one record: the record and its counts, or an error."""

    id: str
    row: RecordRow | None
    counts: dict[str, int]
    features: DedupFeatures | None
    error: str = ""


@dataclass(frozen=True)
class Chunked:
    """The chunks of one record, or the error that prevented them."""

    id: str
    chunks: list[Chunk]
    error: str = ""


def clean_key(row: RecordRow) -> str:
    """Cache key of a raw record's cleaning: its content (all but its hash) and the code."""
    return stable_hash([code_version(), {k: v for k, v in row.items() if k != "content_hash"}])


def chunk_key(row: RecordRow, settings: Settings) -> str:
    """Cache key of a surviving record's chunks: its final content hash and chunk settings."""
    options = settings.wash
    return stable_hash(
        [
            code_version(),
            row["content_hash"],
            settings.model_b.model,
            options.chunk_tokens,
            options.chunk_overlap,
        ]
    )


def clean_partition(rows: list[RecordRow]) -> list[Cleaned]:
    """Clean and redact source record dicts and compute their dedup features."""
    out = []
    for row in progress(rows, desc="clean", unit="record"):
        try:
            cleaned, counts = clean_record(row)
            out.append(Cleaned(row["id"], cleaned, dict(counts), features(cleaned)))
        except Exception as exc:
            out.append(Cleaned(row["id"], None, {}, None, f"clean: {type(exc).__name__}: {exc}"))
    return out


def chunk_partition(
    rows: list[RecordRow], model: str, chunk_tokens: int, chunk_overlap: int
) -> list[Chunked]:
    """Chunk cleaned record dicts with the embedding model's tokenizer."""
    chunker = Chunker(model, chunk_tokens, chunk_overlap)
    out = []
    for row in progress(rows, desc="chunk", unit="record"):
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
        engine: A ``PythonEngine``, an entered ``SparkEngine``, or a ``LazyEngine``.
        report: Receives loader skips and failures, duplicates (``duplicates:exact``,
            ``duplicates:near``), redactions by kind (``redacted:email``, ...), ``chunks``
            and the incremental counts (see :func:`wash_records`).
        sources: Replaces ``settings.sources`` when given.

    Returns:
        ``report`` (not finished: the caller stops its clock). When the sources yield no
        record at all (a mistyped path, say) the report is ``failed`` and the previous
        artifacts stay: an empty wash would otherwise empty the corpus and the index.
    """
    limit = settings.wash.max_record_chars
    rows = []
    for record in load_sources(sources or settings.sources, settings, report):
        if len(record.text) > limit:  # its chunks would hold the wash's memory
            report.skip(
                record.id,
                f"text longer than wash.max_record_chars ({len(record.text):,} > {limit:,}): "
                "split the document or raise the limit",
            )
            continue
        rows.append(record.to_dict())
    return wash_records(rows, settings, data_dir, engine, report)


def wash_records(
    rows: Sequence[RecordRow],
    settings: Settings,
    data_dir: Path,
    engine: Engine,
    report: StageReport,
) -> StageReport:
    """Clean, deduplicate, chunk and write already loaded source record dicts.

    Only records missing from the wash cache are cleaned or chunked by ``engine``; the
    counters say how many: ``cleaned`` and ``reused`` (records cleaned now / taken from the
    cache), ``chunked`` and ``chunk_reused`` (surviving records chunked now / from the
    cache). Redaction and duplicate counts cover all records, as in a run without cache.
    Both files are replaced together only when both were written completely.

    Args:
        rows: Source record dicts with unique ids.
        settings: The loaded config.
        data_dir: Output folder (also holds ``cache/wash.sqlite``).
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
    if not rows:
        report.status = "failed"
        report.reason = (
            f"no record loaded from the sources ({len(report.skipped)} skipped, "
            f"{len(report.failed)} failed); previous artifacts kept"
        )
        return report
    paths = DataDir(data_dir)
    with WashCache(paths.wash_cache) as cache:
        if cache.reset:
            report.count("cache_reset")
        cleaned, clean_keys = _clean(rows, engine, cache, report)
        drops = find_duplicates(
            [c.row for c in cleaned],
            [c.features for c in cleaned],
            threshold=options.near_duplicate_threshold,
        )
        for drop in drops:
            report.skip(drop.id, drop.reason)
            report.count(f"duplicates:{drop.kind}")
        survivors = [_rehash(row) for row in apply_drops([c.row for c in cleaned], drops)]
        chunks, failed, chunk_keys = _chunk(survivors, settings, engine, cache, report)
        cache.keep_only(clean_keys, chunk_keys)
    corpus = sorted((row for row in survivors if row["id"] not in failed), key=lambda r: r["id"])
    chunks.sort(key=lambda c: (c["doc_id"], c["position"]))
    with (
        atomic_open(paths.cleaned_corpus) as corpus_out,
        atomic_open(paths.rag_chunks) as chunks_out,
    ):
        report.items_out = _write_rows(corpus_out, corpus)
        report.count("chunks", _write_rows(chunks_out, chunks))
    return report


def _clean(
    rows: Sequence[RecordRow], engine: Engine, cache: WashCache, report: StageReport
) -> tuple[list[Cleaned], list[str]]:
    """Cleaned records in input order (failures reported and left out), and all their keys."""
    keys = [clean_key(row) for row in rows]
    hits = cache.cleaned(keys)
    todo = [row for row, key in zip(rows, keys, strict=True) if key not in hits]
    fresh = {result.id: result for result in engine.map_partitions(clean_partition, todo)}
    key_of = {row["id"]: key for row, key in zip(rows, keys, strict=True)}
    cache.put_cleaned(
        (key_of[r.id], r.row, r.counts, r.features) for r in fresh.values() if not r.error
    )
    cleaned = []
    for row, key in zip(rows, keys, strict=True):
        result = Cleaned(row["id"], *hits[key]) if key in hits else fresh[row["id"]]
        if result.error:
            report.fail(result.id, result.error)
            continue
        cleaned.append(result)
        for kind, n in result.counts.items():
            report.count(f"redacted:{kind}", n)
    report.count("cleaned", sum(1 for r in fresh.values() if not r.error))
    report.count("reused", len(hits))
    return cleaned, keys


def _chunk(
    survivors: Sequence[RecordRow],
    settings: Settings,
    engine: Engine,
    cache: WashCache,
    report: StageReport,
) -> tuple[list[Chunk], set[str], list[str]]:
    """All chunks of the survivors, the ids that failed to chunk, and the chunk keys."""
    keys = [chunk_key(row, settings) for row in survivors]
    hits = cache.chunks(keys)
    todo = [row for row, key in zip(survivors, keys, strict=True) if key not in hits]
    chunker = partial(
        chunk_partition,
        model=settings.model_b.model,
        chunk_tokens=settings.wash.chunk_tokens,
        chunk_overlap=settings.wash.chunk_overlap,
    )
    key_of = {row["id"]: key for row, key in zip(survivors, keys, strict=True)}
    chunks = [chunk for cached in hits.values() for chunk in cached]
    fresh, failed = [], set()
    for result in engine.map_partitions(chunker, todo):
        if result.error:
            report.fail(result.id, result.error)
            failed.add(result.id)
            continue
        fresh.append((key_of[result.id], result.chunks))
        chunks.extend(result.chunks)
    cache.put_chunks(fresh)
    report.count("chunked", len(fresh))
    report.count("chunk_reused", len(hits))
    return chunks, failed, keys


def _write_rows(handle: Any, rows: Sequence[RecordRow] | Sequence[Chunk]) -> int:
    """Write ``rows`` as JSON Lines (``tools.jsonl.dumps``) to an open file; return the count."""
    for row in rows:
        handle.write(dumps(row) + "\n")
    return len(rows)


def _rehash(row: RecordRow) -> RecordRow:
    """The row as a complete SourceRecord dict whose hash covers its cleaned content."""
    return SourceRecord.from_dict({**row, "content_hash": ""}).to_dict()
