"""Retrieval over the knowledge index: dense, BM25 and hybrid (fused and reranked by record).

Records named in the question (a Jira key such as ``ALOY-123``, a commit sha of 7+ hex
digits, the code a page's file name starts with: ``409.1``) come first, and
``expand_links`` adds the chunks of linked records: an issue's linked issues and the
commits that cite it, or the issues a commit cites.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import faiss
import numpy as np

from tools.config import Settings
from tools.index.embeddings import EmbeddingConfig, load_embedder
from tools.index.fields import BM25_TOKENIZER
from tools.index.rerank import fuse_records, question_cues, rerank
from tools.index.store import (
    IndexMismatchError,
    IndexVersion,
    bm25_tokenize,
    current_version_dir,
    index_exists,
    index_root,
    normalize_date,
)
from tools.records import Hit

Mode = Literal["hybrid", "dense", "bm25"]
MODES: tuple[str, ...] = ("hybrid", "dense", "bm25")
FILTER_KEYS = (
    "source",
    "project",
    "created_after",
    "created_before",
    "updated_after",
    "updated_before",
)
_JIRA_KEY = re.compile(r"\b([A-Za-z][A-Za-z0-9]+-\d+)\b")
_SHA = re.compile(r"\b((?=[0-9a-f]*[0-9])[0-9a-f]{7,40})\b")
_CODE = re.compile(r"(?<![\w.])(\d+\.\d+)(?![\w]|\.\d)")
"""A dotted code a page's file name may start with (``409.1`` of ``409.1-PLUGIN_....md``)."""
HYBRID_DEPTH = 250
"""Chunks each list (dense, BM25) gives hybrid search at least, whatever ``k`` is: records
are fused by their chunks' ranks in these lists, so a shallower list for a smaller ``k``
ranked them differently (chat asks for 5 chunks, the retrieval evaluation for 50: a page
whose best chunk was 53rd by meaning came first in one and was missing in the other)."""
MAX_CHUNKS_PER_RECORD = 3
"""Chunks of one record a hybrid result holds, so a long record cannot crowd the list."""
_FAISS_THREADS = threading.Lock()

log = logging.getLogger(__name__)


@contextmanager
def single_threaded_faiss() -> Iterator[None]:
    """Run FAISS on the calling thread only, restoring its thread count afterwards.

    One query gains nothing from an OpenMP team, and waking one costs dearly when PyTorch's
    own OpenMP workers (another libgomp) still spin after embedding the query: measured
    93 ms instead of 11 ms per dense query at 10k chunks on the 2-core machine.
    """
    with _FAISS_THREADS:
        before = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            yield
        finally:
            faiss.omp_set_num_threads(before)


def filter_clause(filters: Mapping[str, Any] | None) -> tuple[str, list[Any]] | None:
    """SQL ``where`` clause and parameters over ``chunks`` for search filters.

    Keys: ``source`` and ``project`` (a value or a list of values), ``created_after``,
    ``created_before``, ``updated_after``, ``updated_before`` (ISO 8601 dates or datetimes;
    *after* is inclusive, *before* exclusive). None or ``{}`` means no filter.

    Raises:
        ValueError: An unknown key or a date that is not ISO 8601.
    """
    if not filters:
        return None
    unknown = sorted(set(filters) - set(FILTER_KEYS))
    if unknown:
        raise ValueError(f"unknown filter {unknown}; use {', '.join(FILTER_KEYS)}")
    parts, params = [], []
    for column in ("source", "project"):
        value = filters.get(column)
        if value is None:
            continue
        values = [value] if isinstance(value, str) else list(value)
        parts.append(f"{column} IN ({','.join('?' * len(values))})")
        params.extend(str(v) for v in values)
    for key in FILTER_KEYS[2:]:
        value = filters.get(key)
        if value is None:
            continue
        bound = normalize_date(str(value))
        if bound is None:
            raise ValueError(f"filter {key}: {value!r} is not an ISO 8601 date")
        column, side = key.split("_")
        parts.append(f"{column} {'>=' if side == 'after' else '<'} ?")
        params.append(bound)
    return (" AND ".join(parts) or "1"), params


def rrf(rankings: Sequence[Sequence[int]], k: int) -> dict[int, float]:
    """Reciprocal rank fusion: sum of ``1 / (k + rank)`` (ranks from 1) over the rankings."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, 1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank)
    return fused


class Retriever:
    """Searches the live index of a data dir; reloads when a new version goes live."""

    def __init__(self, settings: Settings, data_dir: Path) -> None:
        """Open the live index version.

        Raises:
            IndexNotFoundError: No index was built in ``data_dir``.
            IndexMismatchError: The index was built with another embedding model.
        """
        self.settings = settings
        self.data_dir = Path(data_dir)
        self.options = settings.index
        self._model = settings.model_b.model
        self._embedding = EmbeddingConfig.from_settings(settings)
        self._lock = threading.Lock()
        self._version = self._open()

    def _open(self) -> IndexVersion:
        version = IndexVersion.open_current(self.data_dir, self.options.hnsw_ef_search)
        built = version.manifest.get("model")
        if built != self._model or version.manifest.get("normalized") != (
            self.settings.model_b.normalize
        ):
            raise IndexMismatchError(
                f"the index in {index_root(self.data_dir)} was built with embedding model "
                f"{built!r} but model_b.model is {self._model!r}: run "
                "`data-alchemy ingest --stage index --rebuild`"
            )
        if (version.manifest.get("bm25") or {}).get("tokenizer") != BM25_TOKENIZER:
            log.warning(
                "index version %s was tokenized for BM25 by an older rule (version numbers "
                "are not searchable): run `data-alchemy ingest` to rewrite it (no re-embedding)",
                version.name,
            )
        return version

    @property
    def version(self) -> IndexVersion:
        """The live version, reopened when ``current`` names a newer one."""
        live = current_version_dir(self.data_dir)
        if live is not None and live.name != self._version.name:
            with self._lock:
                if live.name != self._version.name:
                    self._version = self._open()
        return self._version

    def _embed_query(self, query: str) -> np.ndarray:
        return load_embedder(self._embedding).encode_query(query)

    def search(
        self,
        query: str,
        k: int = 10,
        mode: Mode = "hybrid",
        filters: Mapping[str, Any] | None = None,
        expand_links: bool = False,
    ) -> list[Hit]:
        """Return the ``k`` best chunks for ``query``, best first.

        Args:
            query: The question.
            k: Number of hits (linked chunks added by ``expand_links`` come on top).
            mode: ``hybrid`` (records fused by RRF of their chunks' dense and BM25 ranks,
                then reranked: ``tools.index.rerank``), ``dense`` or ``bm25``.
            filters: See ``filter_clause``.
            expand_links: Append the best chunk of each record linked to a hit.

        Returns:
            Hits with ``chunk_id``, ``doc_id``, ``source``, ``uri``, ``title``, ``text``,
            ``position``, ``metadata``, ``score`` (cosine for dense, BM25 for bm25, the
            record's reranked score for hybrid), ``ranks`` (``dense``, ``bm25``, ``named``:
            1-based rank in each list or None), ``scores`` (``dense`` cosine when the query
            was embedded, ``bm25``, and for hybrid ``rerank``), for hybrid ``features``
            (the rerank features of its record), ``last_chunk`` (whether it ends its
            record) and, for linked chunks, ``linked_from`` and ``relation``.

        Raises:
            ValueError: Unknown mode or bad filters.
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        clause = filter_clause(filters)
        version = self.version
        if not query.strip() or k < 1 or not len(version):
            return []
        allowed = version.select_ids(*clause) if clause else None
        if allowed is not None and not len(allowed):
            return []
        depth = k if mode != "hybrid" else max(HYBRID_DEPTH, 5 * k)
        qvec = self._embed_query(query) if mode != "bm25" else None
        dense = (
            _dense(version, qvec, depth, allowed, self.options.hnsw_ef_search)
            if qvec is not None
            else []
        )
        lexical = _bm25(version, query, depth, allowed) if mode != "dense" else []
        named = _named(version, query, allowed)

        ranks: dict[str, dict[int, int]] = {
            "dense": {fid: r for r, (fid, _) in enumerate(dense, 1)},
            "bm25": {fid: r for r, (fid, _) in enumerate(lexical, 1)},
            "named": {fid: r for r, fid in enumerate(named, 1)},
        }
        scores = {"dense": dict(dense), "bm25": dict(lexical)}
        if mode == "hybrid":
            top, record_scores = self._rerank(version, query, dense, lexical, named, k, allowed)
        else:
            order = [f for f, _ in (dense if mode == "dense" else lexical)]
            top = (named + [f for f in order if f not in ranks["named"]])[:k]
            record_scores = {}
        if qvec is not None:
            missing = [f for f in top if f not in scores["dense"]]
            scores["dense"].update(zip(missing, _cosines(version, qvec, missing), strict=True))
        rows = version.rows(top)
        chunks = version.doc_chunk_ids(list({row["doc_id"] for row in rows.values()}))
        last = {ids[-1] for ids in chunks.values()}
        hits = []
        for f in top:
            if f not in rows:
                continue
            reranked = record_scores.get(rows[f]["doc_id"])
            hit = _hit(
                rows[f],
                reranked[0] if reranked else scores[mode].get(f, 0.0),
                {name: ranks[name].get(f) for name in ranks},
                {name: scores[name].get(f) for name in ("dense", "bm25")},
            )
            if reranked:
                hit["scores"]["rerank"] = reranked[0]
                hit["features"] = reranked[1]
            hit["last_chunk"] = f in last
            hits.append(hit)
        if expand_links:
            hits += _linked(version, hits, qvec, allowed, k)
        return hits

    def _rerank(
        self,
        version: IndexVersion,
        query: str,
        dense: list[tuple[int, float]],
        lexical: list[tuple[int, float]],
        named: list[int],
        k: int,
        allowed: np.ndarray | None,
    ) -> tuple[list[int], dict[str, tuple[float, dict[str, float]]]]:
        """Hybrid order (``tools.index.rerank``): chunks of the reranked records, best first.

        Records linked to one the question names are reranked even when neither list holds
        them (their first chunk stands for them): the commits citing ``ALOY-1305`` in "which
        commit fixed ALOY-1305?", whatever words they use (``allowed``: the filters' ids).

        Returns:
            At most ``k`` chunk ids, at most ``MAX_CHUNKS_PER_RECORD`` per record (a
            commit's first among them: its message, when only its changed files matched)
            but the first record, which, when an issue, also brings its last chunk,
            and each record's score and features.
        """
        chunk_rrf = rrf([[f for f, _ in dense], [f for f, _ in lexical]], self.options.rrf_k)
        candidates = list(
            dict.fromkeys([*named, *sorted(chunk_rrf, key=lambda f: (-chunk_rrf[f], f))])
        )
        rows = version.rows(candidates)
        docs = {f: rows[f]["doc_id"] for f in candidates if f in rows}
        fused = fuse_records(
            docs, [[f for f, _ in dense], [f for f, _ in lexical]], self.options.rrf_k
        )
        best: dict[str, Any] = {}
        for f in candidates:
            if f in docs:
                best.setdefault(docs[f], rows[f])
        named_docs = list(dict.fromkeys(docs[f] for f in named if f in docs))
        linked = {dst for _, dst, _ in version.linked_docs(named_docs)}
        firsts = [ids[0] for ids in version.doc_chunk_ids(sorted(linked - best.keys())).values()]
        if allowed is not None:
            firsts = [f for f in firsts if np.isin(f, allowed)]
        for f, row in version.rows(firsts).items():
            candidates.append(f)
            docs[f] = row["doc_id"]
            best[row["doc_id"]] = row
        records = rerank(question_cues(query, version), fused, best, named_docs, linked)
        by_doc: dict[str, list[int]] = {}
        for f in candidates:
            if f in docs and len(by_doc.setdefault(docs[f], [])) < MAX_CHUNKS_PER_RECORD:
                by_doc[docs[f]].append(f)
        commits = [doc for doc, _, _ in records[:k] if best[doc]["source"] == "git"]
        for doc, ids in version.doc_chunk_ids(commits).items():
            if ids[0] not in by_doc[doc]:  # a commit says what it is in its message
                by_doc[doc] = [ids[0], *by_doc[doc][: MAX_CHUNKS_PER_RECORD - 1]]
        if records and best[records[0][0]]["source"] == "jira":
            doc = records[0][0]
            end = version.doc_chunk_ids([doc])[doc][-1]
            if end not in by_doc[doc]:  # how its thread ended, which its report never says
                by_doc[doc].append(end)
        top = [f for doc, _, _ in records for f in by_doc[doc]][:k]
        return top, {doc: (score, features) for doc, score, features in records}


def _dense(
    version: IndexVersion,
    qvec: np.ndarray,
    depth: int,
    allowed: np.ndarray | None,
    ef_search: int,
) -> list[tuple[int, float]]:
    index = version.faiss
    params = None
    if allowed is not None:
        selector = faiss.IDSelectorBatch(allowed)
        params = (
            faiss.SearchParametersHNSW(sel=selector, efSearch=max(ef_search, depth))
            if version.manifest.get("hnsw")
            else faiss.SearchParameters(sel=selector)
        )
    n = min(depth, len(version))
    with single_threaded_faiss():
        scores, ids = index.search(qvec, n, params=params)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]


def _bm25(
    version: IndexVersion, query: str, depth: int, allowed: np.ndarray | None
) -> list[tuple[int, float]]:
    tokens = bm25_tokenize([query])[0]
    if not tokens or version.bm25 is None:
        return []
    scores = np.asarray(version.bm25.get_scores(tokens), dtype=np.float32)
    if allowed is not None:
        scores = np.where(np.isin(version.row_ids, allowed), scores, 0.0)
    n = min(depth, int((scores > 0).sum()))
    if n == 0:
        return []
    top = np.argpartition(-scores, n - 1)[:n]
    top = top[np.lexsort((version.row_ids[top], -scores[top]))]
    return [(int(version.row_ids[r]), float(scores[r])) for r in top]


def _cosines(version: IndexVersion, qvec: np.ndarray, ids: Sequence[int]) -> list[float]:
    if not ids:
        return []
    return [float(s) for s in version.vectors(ids) @ qvec[0]]


def _named(version: IndexVersion, query: str, allowed: np.ndarray | None) -> list[int]:
    """First chunks of the records the query names by Jira key, commit sha or code.

    A code is the number a document's file name starts with: "fails with status 409.1"
    names ``409.1-PLUGIN_PATH_IS_NOT_A_DIRECTORY.md``.
    """
    docs: list[str] = []
    for key in _JIRA_KEY.findall(query):
        docs.append(f"jira:{key.upper()}")
    found = version.doc_chunk_ids(docs)
    named = [found[d][0] for d in docs if d in found]
    for sha in _SHA.findall(query.lower()):
        named += version.first_chunks_like(f"git:%@{sha}%")
    for code in _CODE.findall(query):
        named += version.first_chunks_like(f"docs:%/{code}-%")
    allowed_set = set(allowed.tolist()) if allowed is not None else None
    out: list[int] = []
    for fid in named:
        if fid not in out and (allowed_set is None or fid in allowed_set):
            out.append(fid)
    return out


def _hit(
    row: Any,
    score: float | None,
    ranks: dict[str, int | None],
    scores: dict[str, float | None],
) -> Hit:
    return Hit(
        chunk_id=row["chunk_id"],
        doc_id=row["doc_id"],
        source=row["source"],
        uri=row["uri"],
        title=row["title"],
        text=row["text"],
        position=row["position"],
        metadata=json.loads(row["metadata"]),
        score=float(score or 0.0),
        ranks=ranks,
        scores={k: (None if v is None else float(v)) for k, v in scores.items()},
    )


def _linked(
    version: IndexVersion,
    hits: list[Hit],
    qvec: np.ndarray | None,
    allowed: np.ndarray | None,
    limit: int,
) -> list[Hit]:
    """The best chunk of each record linked to a hit and not already among the hits."""
    present = {hit["doc_id"] for hit in hits}
    edges = version.linked_docs(list(dict.fromkeys(h["doc_id"] for h in hits)))
    order = {doc: n for n, doc in enumerate(dict.fromkeys(h["doc_id"] for h in hits))}
    edges.sort(key=lambda e: (order[e[0]], e[1]))
    targets: dict[str, tuple[str, str]] = {}
    for src, dst, relation in edges:
        if dst not in present and dst not in targets:
            targets[dst] = (src, relation)
    chunks = version.doc_chunk_ids(list(targets))
    allowed_set = set(allowed.tolist()) if allowed is not None else None
    picked: list[tuple[int, str, str, float | None]] = []
    for doc, (src, relation) in targets.items():
        ids = [f for f in chunks.get(doc, []) if allowed_set is None or f in allowed_set]
        if not ids:
            continue
        if qvec is None:
            picked.append((ids[0], src, relation, None))
            continue
        sims = _cosines(version, qvec, ids)
        best = int(np.argmax(sims))
        picked.append((ids[best], src, relation, sims[best]))
        if len(picked) >= limit:
            break
    rows = version.rows([p[0] for p in picked])
    out = []
    for fid, src, relation, sim in picked:
        ranks: dict[str, int | None] = {"dense": None, "bm25": None, "named": None}
        hit = _hit(rows[fid], sim, ranks, {"dense": sim, "bm25": None})
        hit.update(linked_from=src, relation=relation)
        out.append(hit)
    return out


def raft_search(settings: Settings, data_dir: Path) -> Callable[..., list[Hit]] | None:
    """The live index's search, for RAFT distractors; None when there is no usable index.

    An index that cannot be opened (built with another embedding model, say) is logged and
    the refine stage goes on without RAFT examples.
    """
    if not index_exists(data_dir):
        return None
    try:
        return Retriever(settings, data_dir).search
    except Exception as exc:
        log.warning("RAFT examples skipped: the index cannot be opened (%s)", exc)
        return None
