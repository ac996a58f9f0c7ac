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
    files = [*cleaning, _TOOLS / "wash" / "pipeline.py", _TOOLS / "wash" / "cache.py"]
    return stable_hash([[p.name, hashlib.sha256(p.read_bytes()).hexdigest()] for p in files])
