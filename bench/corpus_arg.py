"""The full public corpus for benchmarks: ``--corpus DIR``, else ``DATA_ALCHEMY_CORPUS``.

The corpus (Jira issues, commit exports and docs of Alloy and the Appcelerator Daemon) is
not part of the repository; README's "Benchmarks" says where it comes from.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def corpus_dir(value: str) -> Path:
    """An existing corpus folder (with ``jira/``, ``git/`` and ``docs/``), or a usage error."""
    path = Path(value)
    missing = [name for name in ("jira", "git", "docs") if not (path / name).is_dir()]
    if missing:
        raise argparse.ArgumentTypeError(f"{path} is not a corpus folder (no {', '.join(missing)})")
    return path


def add_corpus_argument(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """Add ``--corpus``, defaulting to ``DATA_ALCHEMY_CORPUS`` when that is set."""
    default = os.environ.get("DATA_ALCHEMY_CORPUS")
    parser.add_argument(
        "--corpus",
        type=corpus_dir,
        default=corpus_dir(default) if default else None,
        required=required and not default,
        help="the full corpus folder (default: $DATA_ALCHEMY_CORPUS)",
    )
