"""The console of an entry point: the project's own logs and results, not library noise.

Libraries log at INFO (FAISS's loader, sentence-transformers), set their own loggers to
DEBUG (bm25s), draw "Loading weights" bars for every small model (transformers) and raise
deprecation warnings about each other (peft on transformers). :func:`setup_console` lets
through the project's own records at INFO and everyone's warnings and errors; ``verbose``
shows everything.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

OWN_LOGGERS = frozenset(
    {"data_alchemy", "cli", "graph", "nodes", "tools", "server", "chainlit_app"}
)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _own_or_serious(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING or record.name.split(".")[0] in OWN_LOGGERS


def setup_console(verbose: bool = False) -> None:
    """Configure logging, warnings and progress bars once, before heavy libraries load.

    Args:
        verbose: Show every library's debug logs and warnings too.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    if not verbose:
        handler.addFilter(_own_or_serious)
        # Read by huggingface_hub and transformers when they are imported: no weight-loading
        # bars for models that load in milliseconds (our own bars come from tools.progress).
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
