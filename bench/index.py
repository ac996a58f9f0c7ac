"""Index benchmark: embedding throughput, query latency and a LangChain FAISS peer, in one run.

Usage: .venv/bin/python bench/index.py (--corpus DIR | --chunks rag_chunks.jsonl) [--embed N]
                                        [--sizes 10000,100000] [--queries N] [--rounds R]

Texts: real chunks. Without ``--chunks`` the wash stage (python engine) chunks the ALOY
Jira issues and the alloy docs of the full corpus (``--corpus``) into a temporary folder first.

1. Throughput on the same ``--embed`` chunks (title + text, as indexed): plain
   ``SentenceTransformer.encode`` in fp32 (the baseline), our embedder at the configured
   precision (``model_b.precision``, ``auto`` = bf16 on a CPU with AVX-512 BF16), our whole
   index stage (``run_index`` with ``rebuild``: parse, embed, FAISS, SQLite, BM25, atomic
   write), and LangChain's ``FAISS.from_texts`` over the same model in fp32. Best of
   ``--rounds`` rounds (the machine is shared), modes interleaved.
2. Parity: recall@10 of the fast path against fp32 (documents and queries embedded each
   way, exact search), queries = the Alloy tuning questions.
3. HNSW recall@10 against exact search on real vectors (the questions as queries): the
   vectors of ``--index DIR`` (an index already built from real chunks) when given, else
   the embedded sample; HNSW is what our index uses above ``exact_max`` chunks.
4. Query latency p50/p95 at each ``--sizes`` chunk count: our ``Retriever.search`` (hybrid,
   dense and BM25; query embedding included) against LangChain's
   ``FAISS.similarity_search_with_score`` (query embedding included) on the same vectors.
   To reach the sizes, the real vectors (``--index`` or the sample) are replicated with
   small Gaussian noise (sigma 0.02 per dimension, renormalized) and the real texts cycled:
   the latency part only (HNSW recall on such near-duplicates says nothing, so it is
   measured in part 3 on real vectors instead).

``OMP_WAIT_POLICY=PASSIVE`` is set for this process (unless given) so that neither side's
latency is dominated by two OpenMP runtimes (PyTorch's and FAISS's libgomp) spinning
against each other on 2 cores; ``tools.index.search`` avoids that case by itself by running
each FAISS query on one thread.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import faiss  # noqa: E402
import numpy as np  # noqa: E402
from corpus_arg import add_corpus_argument  # noqa: E402
from langchain_core.embeddings import Embeddings  # noqa: E402

from tools.config import Settings, SourcesSettings, load_settings  # noqa: E402
from tools.evalset import load_questions  # noqa: E402
from tools.index.build import run_index  # noqa: E402
from tools.index.embeddings import get_embedder, resolve_model_path  # noqa: E402
from tools.index.fields import indexed_text  # noqa: E402
from tools.index.search import Retriever  # noqa: E402
from tools.index.store import (  # noqa: E402
    ChunkRow,
    IndexVersion,
    chunk_faiss_id,
    write_version,
)
from tools.jsonl import read_jsonl, write_jsonl  # noqa: E402
from tools.records import Chunk  # noqa: E402

TUNING_SET = ROOT / "data" / "eval" / "alloy_tuning.jsonl"
NOISE = 0.02


class STEmbeddings(Embeddings):
    """A thin LangChain ``Embeddings`` over a plain fp32 ``SentenceTransformer``."""

    def __init__(self, model: Any, batch_size: int) -> None:
        self.model = model
        self.batch_size = batch_size

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True
        ).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def wash_chunks(corpus: Path, work: Path) -> Path:
    """Chunk ALOY Jira and the alloy docs with the real wash stage."""
    from tools.wash import run_wash

    sources = SourcesSettings(
        jira=[str(corpus / "jira" / "ALOY")], docs=[str(corpus / "docs" / "alloy")]
    )
    report = run_wash(Settings(), work, "python", sources)
    print(
        f"wash: {report.items_out} records -> {report.counters['chunks']} chunks "
        f"({report.seconds:.1f} s)"
    )
    return work / "rag_chunks.jsonl"


def spread(rows: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """``n`` rows spread evenly over the file (a mix of sources and lengths)."""
    if n >= len(rows):
        return rows
    step = len(rows) / n
    return [rows[int(i * step)] for i in range(n)]


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def recall_at_10(
    base: np.ndarray, base_q: np.ndarray, other: np.ndarray, other_q: np.ndarray
) -> float:
    """Mean overlap of the exact top-10 lists of two embeddings of the same texts."""
    k = min(10, len(base))
    truth = faiss.IndexFlatIP(base.shape[1])
    truth.add(base)
    test = faiss.IndexFlatIP(other.shape[1])
    test.add(other)
    _, want = truth.search(base_q, k)
    _, got = test.search(other_q, k)
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(want, got, strict=True)]))


def percentiles(samples: list[float]) -> tuple[float, float]:
    return float(np.percentile(samples, 50) * 1000), float(np.percentile(samples, 95) * 1000)


def throughput(
    settings: Settings, rows: list[dict[str, Any]], rounds: int, work: Path
) -> dict[str, Any]:
    from langchain_community.vectorstores import FAISS
    from sentence_transformers import SentenceTransformer

    texts = [indexed_text(r) for r in rows]
    batch = settings.model_b.batch_size
    plain = SentenceTransformer(resolve_model_path(settings.model_b.model), device="cpu")
    ours = get_embedder(settings)
    peer = STEmbeddings(plain, batch)
    data_dir = work / "throughput"
    write_jsonl(data_dir / "rag_chunks.jsonl", rows)
    plain.encode(texts[:batch], batch_size=batch)
    ours.encode(texts[:batch])
    best: dict[str, float] = {}
    vectors: dict[str, np.ndarray] = {}

    def keep(name: str, seconds: float) -> None:
        best[name] = min(best.get(name, float("inf")), seconds)

    for _ in range(rounds):
        out, s = timed(lambda: plain.encode(texts, batch_size=batch, normalize_embeddings=True))
        vectors["fp32"] = np.asarray(out, dtype=np.float32)
        keep("encode fp32 (baseline)", s)
        out, s = timed(lambda: ours.encode(texts))
        vectors["ours"] = out
        keep(f"our embedder ({ours.config.precision})", s)
        report, s = timed(lambda: run_index(settings, data_dir, rebuild=True))
        assert report.status == "ok", report.to_dict()
        keep("our index stage (run_index)", s)
        _, s = timed(lambda: FAISS.from_texts(texts, peer))
        keep("LangChain FAISS.from_texts (fp32)", s)
    base = best["encode fp32 (baseline)"]
    print(f"\n== throughput: {len(texts)} real chunks, best of {rounds} round(s) ==")
    for name, seconds in best.items():
        print(f"{name:<38} {len(texts) / seconds:8.1f} chunks/s   x{base / seconds:5.2f} vs fp32")
    return {"vectors": vectors, "precision": ours.config.precision, "plain": plain, "peer": peer}


def parity(settings: Settings, result: dict[str, Any], questions: list[str]) -> float:
    ours = get_embedder(settings)
    q32 = np.asarray(result["plain"].encode(questions, normalize_embeddings=True), dtype=np.float32)
    qfast = ours.encode(questions)
    docs32, docsfast = result["vectors"]["fp32"], result["vectors"]["ours"]
    recall = recall_at_10(docs32, q32, docsfast, qfast)
    cos = np.sum(docs32 * docsfast, axis=1)
    print(
        f"\n== parity ({result['precision']} vs fp32): recall@10 {recall:.4f} over "
        f"{len(questions)} questions and {len(docs32)} chunks; document cosine "
        f"mean {cos.mean():.5f} min {cos.min():.5f} =="
    )
    return recall


def replicate(base: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = base[np.resize(np.arange(len(base)), n)] + rng.normal(0, NOISE, (n, base.shape[1]))
    out = out.astype(np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def latency(
    settings: Settings,
    all_rows: list[dict[str, Any]],
    base: np.ndarray,
    sizes: list[int],
    queries: list[str],
    peer: STEmbeddings,
    work: Path,
) -> None:
    from langchain_community.vectorstores import FAISS
    from langchain_community.vectorstores.utils import DistanceStrategy

    options = settings.index
    print(f"\n== query latency, {len(queries)} queries, k=10 (ms) ==")
    for n in sizes:
        vectors = replicate(base, n)
        rows = []
        for i in range(n):
            src = all_rows[i % len(all_rows)]
            text = indexed_text(src)
            chunk_id = f"bench:{i}#0"
            chunk = Chunk(
                chunk_id=chunk_id,
                doc_id=f"bench:{i}",
                source=src["source"],
                uri=src.get("uri") or "",
                title=src.get("title") or "",
                text=src["text"],
                position=0,
                content_hash="",
                metadata=src.get("metadata") or {},
            )
            rows.append(ChunkRow(chunk, chunk_faiss_id(chunk_id), str(i), text))
        data_dir = work / f"latency-{n}"
        manifest = {
            "model": settings.model_b.model,
            "dimension": base.shape[1],
            "normalized": settings.model_b.normalize,
            "counts": {"chunks": n},
        }
        _, build_s = timed(write_version, data_dir, rows, vectors, manifest, options)
        retriever = Retriever(settings, data_dir)
        kind = retriever.version.manifest["faiss"]
        store = FAISS.from_embeddings(
            zip([r.indexed_text for r in rows], vectors.tolist(), strict=True),
            peer,
            distance_strategy=DistanceStrategy.MAX_INNER_PRODUCT,
        )
        for q in queries[:3]:
            retriever.search(q, k=10)
            store.similarity_search_with_score(q, k=10)
        timings: dict[str, list[float]] = {"hybrid": [], "dense": [], "bm25": [], "langchain": []}
        for q in queries:
            for mode in ("hybrid", "dense", "bm25"):
                timings[mode].append(timed(retriever.search, q, k=10, mode=mode)[1])
            timings["langchain"].append(timed(store.similarity_search_with_score, q, k=10)[1])
        peer_p50, _ = percentiles(timings["langchain"])
        print(f"-- {n} chunks: our index {kind}, written in {build_s:.1f} s --")
        for name, samples in timings.items():
            p50, p95 = percentiles(samples)
            label = "LangChain FAISS (fp32 query)" if name == "langchain" else f"ours {name}"
            ratio = (
                f"   LangChain/ours p50 x{peer_p50 / p50:5.2f}"
                if name in ("hybrid", "dense")
                else ""
            )
            print(f"{label:<30} p50 {p50:7.2f}  p95 {p95:7.2f}{ratio}")


def hnsw_recall(settings: Settings, base: np.ndarray, questions: list[str], source: str) -> None:
    """Recall@10 of our HNSW settings against exact search on real vectors."""
    options = settings.index
    queries = get_embedder(settings).encode(questions)
    exact = faiss.IndexFlatIP(base.shape[1])
    exact.add(base)
    _, want = exact.search(queries, 10)
    hnsw = faiss.IndexHNSWFlat(base.shape[1], options.hnsw_m, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = options.hnsw_ef_construction
    _, build_s = timed(lambda: hnsw.add(base))
    print(
        f"\n== HNSW (M {options.hnsw_m}, efConstruction {options.hnsw_ef_construction}) on "
        f"{len(base)} real vectors ({source}), built in {build_s:.1f} s =="
    )
    for ef in sorted({16, 64, options.hnsw_ef_search}):
        hnsw.hnsw.efSearch = ef
        _, got = hnsw.search(queries, 10)
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(want, got, strict=True)])
        print(f"efSearch {ef:<4} recall@10 vs exact {recall:.4f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=Path, help="rag_chunks.jsonl (default: wash ALOY)")
    add_corpus_argument(parser, required=False)
    parser.add_argument("--config", type=Path, help="models.yaml (default: the project's)")
    parser.add_argument("--embed", type=int, default=256, help="chunks embedded per mode")
    parser.add_argument("--sizes", default="10000,100000", help="latency index sizes")
    parser.add_argument("--queries", type=int, default=40, help="latency queries")
    parser.add_argument("--rounds", type=int, default=2, help="throughput rounds (best kept)")
    parser.add_argument("--index", type=Path, help="data dir of an index of real chunks")
    args = parser.parse_args()
    if not (args.chunks or args.corpus):
        parser.error("give --corpus DIR (or DATA_ALCHEMY_CORPUS) or --chunks FILE")

    settings = load_settings(args.config)
    questions = [q["question"] for q in load_questions(TUNING_SET)]
    with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
        work = Path(tmp)
        chunks_path = args.chunks or wash_chunks(args.corpus, work / "wash")
        all_rows = list(read_jsonl(chunks_path))
        rows = spread(all_rows, args.embed)
        print(
            f"model {settings.model_b.model}, batch {settings.model_b.batch_size}, "
            f"torch threads {__import__('torch').get_num_threads()}"
        )
        result = throughput(settings, rows, args.rounds, work)
        parity(settings, result, questions)
        base, source = result["vectors"]["ours"], "the embedded sample"
        if args.index:
            version = IndexVersion.open_current(args.index)
            base, source = version.all_vectors()[1], f"index {args.index}"
        hnsw_recall(settings, base, questions, source)
        sizes = [int(s) for s in args.sizes.split(",") if s]
        queries = (questions * (args.queries // len(questions) + 1))[: args.queries]
        latency(settings, all_rows, base, sizes, queries, result["peer"], work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
