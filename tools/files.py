"""Small helpers for files and times that every part of the project shares."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path


def file_digest(path: Path) -> str | None:
    """SHA-256 of a file's bytes, None when it does not exist, or why it cannot be read.

    An unreadable input changes a fingerprint, so the stage runs and reports the error
    itself instead of the plan failing.
    """
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    return digest.hexdigest()


def now_iso() -> str:
    """The current UTC time in ISO 8601 with seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")
