"""The wash stage: raw sources to ``cleaned_corpus.jsonl`` and ``rag_chunks.jsonl``.

``run_wash`` is the stage entry. Both engines run the same cleaning, dedup and chunking
functions and write byte-identical files; only new or changed records are cleaned and
chunked (the rest comes from ``<data_dir>/cache/wash.sqlite``); see ``tools.wash.pipeline``.
"""

from tools.wash.run import MODES, Mode, run_wash

__all__ = ["MODES", "Mode", "run_wash"]
