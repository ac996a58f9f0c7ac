"""Wash throughput: Python engine vs Spark engine on the real corpus, in one process.

Usage: .venv/bin/python bench/wash.py --corpus DIR [--limit N] [--spark-master URL]

Inputs: both Jira projects, both commit histories rebuilt as git repositories in a temporary
folder (``rebuild_repo``), all docs. ``--limit N`` keeps at most N Jira issues per
project, N commits per repository (the oldest) and N doc files per docs root. A warm-up
load (untimed) fills the file cache and loads the tokenizer in this process first; then
each mode runs ``run_wash`` end to end (Spark session start and stop included) and the
script prints records/s for both, the Spark/Python ratio, and whether the two modes wrote
byte-identical files.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from corpus_arg import add_corpus_argument  # noqa: E402

from tools.cleaning.chunking import load_tokenizer  # noqa: E402
from tools.config import Settings, SourcesSettings, WashSettings  # noqa: E402
from tools.datadir import DataDir  # noqa: E402
from tools.loaders import load_sources  # noqa: E402
from tools.report import StageReport  # noqa: E402
from tools.sample_data import rebuild_repo  # noqa: E402
from tools.wash import run_wash  # noqa: E402

# artifact names, relative to a data dir
CLEANED_CORPUS = DataDir(Path()).cleaned_corpus.name
RAG_CHUNKS = DataDir(Path()).rag_chunks.name


def prepare(corpus: Path, work: Path, limit: int) -> SourcesSettings:
    """Lay out the inputs under ``work`` (git repositories rebuilt, subsets when limited)."""
    repos = []
    for commits in sorted((corpus / "git").glob("*.commits.jsonl")):
        repo = work / "git" / commits.name.removesuffix(".commits.jsonl")
        repos.append(str(rebuild_repo(commits, repo, limit=limit or None)))
    if not limit:
        return SourcesSettings(jira=[str(corpus / "jira")], git=repos, docs=[str(corpus / "docs")])
    for kind, pattern in (("jira", "*-*.json"), ("docs", "**/*.md")):
        for root in sorted(p for p in (corpus / kind).iterdir() if p.is_dir()):
            for path in sorted(root.glob(pattern))[:limit]:
                target = work / kind / path.relative_to(corpus / kind)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, target)
    return SourcesSettings(jira=[str(work / "jira")], git=repos, docs=[str(work / "docs")])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0, help="items per source input (0: all)")
    parser.add_argument("--spark-master", default="local[*]")
    add_corpus_argument(parser)
    args = parser.parse_args()

    settings = Settings(wash=WashSettings(spark_master=args.spark_master))
    with tempfile.TemporaryDirectory(prefix="bench-wash-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        sources = prepare(args.corpus, work / "in", args.limit)
        print(
            f"inputs ready in {time.perf_counter() - started:.1f}s (limit={args.limit or 'none'})"
        )
        started = time.perf_counter()
        loaded = sum(1 for _ in load_sources(sources, settings, StageReport("warm-up")))
        load_tokenizer(settings.model_b.model)
        print(f"warm-up: {loaded} records loaded in {time.perf_counter() - started:.1f}s")

        rates = {}
        for mode in ("python", "spark"):
            report = run_wash(settings, work / mode, mode=mode, sources=sources)
            rates[mode] = loaded / report.seconds
            print(
                f"{mode:<6} {loaded} records in {report.seconds:.1f}s = "
                f"{rates[mode]:.0f} records/s (out={report.items_out}, "
                f"chunks={report.counters['chunks']}, skipped={len(report.skipped)}, "
                f"failed={len(report.failed)}) [{report.reason}]"
            )
        same = all(
            (work / "python" / name).read_bytes() == (work / "spark" / name).read_bytes()
            for name in (CLEANED_CORPUS, RAG_CHUNKS)
        )
        print(f"spark/python throughput ratio: {rates['spark'] / rates['python']:.2f}x")
        print(f"outputs byte-identical: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
