"""The wash code's version: a hash of the code whose change must re-wash everything.

Kept free of the heavy cleaning libraries, so that planning a run (which fingerprints the
wash stage) does not import them.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from tools.records import stable_hash

_TOOLS = Path(__file__).resolve().parents[1]


@lru_cache(maxsize=1)
def code_version() -> str:
    """Hash of the cleaning, dedup and chunking code, of the wash pipeline and of its cache.

    Part of every wash cache key and of the wash stage's fingerprint, so that a changed rule
    (a new redaction, say) re-washes everything instead of serving stale results.
    """
    cleaning = sorted((_TOOLS / "cleaning").glob("*.py"))
    return _files_hash([*cleaning, _TOOLS / "wash" / "pipeline.py", _TOOLS / "wash" / "cache.py"])


@lru_cache(maxsize=1)
def loader_version() -> str:
    """Hash of the source loaders' code: part of the wash stage's fingerprint only.

    A changed loader (a new title rule, say) must run the wash stage again to reload the
    sources; records it loads as before are still served from the wash cache.
    """
    return _files_hash(sorted((_TOOLS / "loaders").glob("*.py")))


def _files_hash(files: list[Path]) -> str:
    return stable_hash([[p.name, hashlib.sha256(p.read_bytes()).hexdigest()] for p in files])
