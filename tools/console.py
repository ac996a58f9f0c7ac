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


def _keeps(names: frozenset[str]) -> logging.Filter:
    """A filter that passes warnings and errors, and every record of the ``names`` loggers."""
    handler_filter = logging.Filter()
    handler_filter.filter = lambda record: (  # type: ignore[method-assign]
        record.levelno >= logging.WARNING or record.name.split(".")[0] in names
    )
    return handler_filter


def _quiet_libraries() -> None:
    # Read by huggingface_hub and transformers when they are imported: no weight-loading
    # bars for models that load in milliseconds (our own bars come from tools.progress).
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)


def setup_console(verbose: bool = False) -> None:
    """Configure logging, warnings and progress bars once, before heavy libraries load.

    Args:
        verbose: Show every library's debug logs and warnings too.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    if not verbose:
        handler.addFilter(_keeps(OWN_LOGGERS))
        _quiet_libraries()
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def quiet_framework_console(framework: str) -> None:
    """The same quiet for a process whose logging a framework (Chainlit) already set up.

    Its handlers keep the framework's own records and the project's, and everyone's
    warnings and errors.
    """
    for handler in logging.getLogger().handlers:
        handler.addFilter(_keeps(OWN_LOGGERS | {framework}))
    _quiet_libraries()
