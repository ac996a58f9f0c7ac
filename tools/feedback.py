"""User feedback on chat answers: ``<data_dir>/feedback.jsonl``.

One row per rated answer: ``{"id", "ts", "thread_id", "question", "answer", "sources":
[{"source", "id", "title", "uri"}], "rating": "up"|"down", "error": bool}``. Writes hold a
file lock, so the API and the UI may rate at the same time; a changed vote replaces the row
with the same ``id``. A turn that ended in an error is never recorded as a good answer: its
rating is stored as ``down`` whatever was clicked. The refine stage turns ``up`` rows
without an error into SFT pairs with their sources; ``down`` rows never become training data.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from filelock import FileLock

from tools.cleaning.redact import redact_text
from tools.datadir import DataDir
from tools.files import now_iso
from tools.jsonl import append_jsonl, atomic_open, dumps

log = logging.getLogger(__name__)

RATINGS = ("up", "down")
SOURCE_KEYS = ("source", "id", "title", "uri")


def feedback_path(data_dir: Path) -> Path:
    """Where the feedback rows of ``data_dir`` live."""
    return DataDir(data_dir).feedback


def make_row(
    *,
    thread_id: str,
    question: str,
    answer: str,
    sources: Iterable[Mapping[str, Any]],
    rating: str,
    error: bool = False,
    feedback_id: str | None = None,
) -> dict[str, Any]:
    """Validate one rating and shape it as a feedback row (a new ``id`` unless given).

    The question and answer are redacted before they are stored.

    Raises:
        ValueError: ``rating`` is not ``up``/``down``, or the question is empty.
    """
    if rating not in RATINGS:
        raise ValueError(f"rating must be one of {RATINGS}, got {rating!r}")
    if not str(question or "").strip():
        raise ValueError("feedback needs the question that was answered")
    return {
        "id": feedback_id or uuid.uuid4().hex,
        "ts": now_iso(),
        "thread_id": str(thread_id or ""),
        "question": redact_text(str(question))[0],  # what users type may hold secrets
        "answer": redact_text(str(answer or ""))[0],
        "sources": [{k: str(src.get(k) or "") for k in SOURCE_KEYS} for src in sources],
        "rating": "down" if error else rating,
        "error": bool(error),
    }


def _lock(path: Path) -> FileLock:
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path) + ".lock", timeout=30)


def _row_id(line: str) -> str | None:
    try:
        row = json.loads(line)
    except json.JSONDecodeError:
        return None
    return row.get("id") if isinstance(row, dict) else None


def _rewrite(path: Path, feedback_id: str, replacement: Mapping[str, Any] | None) -> bool:
    """Replace (or drop) the row with ``feedback_id``, keeping every other line as it was."""
    if not path.is_file():
        return False
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
    hits = [i for i, line in enumerate(lines) if _row_id(line) == feedback_id]
    if not hits:
        return False
    with atomic_open(path) as handle:
        for i, line in enumerate(lines):
            if i not in hits:
                handle.write(line if line.endswith("\n") else line + "\n")
            elif replacement is not None and i == hits[0]:
                handle.write(dumps(dict(replacement)) + "\n")
    return True


def save_feedback(data_dir: Path, row: Mapping[str, Any]) -> None:
    """Store a row made by :func:`make_row`: replace the row with its ``id``, else append."""
    path = feedback_path(data_dir)
    with _lock(path):
        if not _rewrite(path, row["id"], row):
            append_jsonl(path, dict(row))


def delete_feedback(data_dir: Path, feedback_id: str) -> bool:
    """Remove a retracted rating; False when no row has ``feedback_id``."""
    path = feedback_path(data_dir)
    with _lock(path):
        return _rewrite(path, feedback_id, None)


def read_feedback(data_dir: Path) -> list[dict[str, Any]]:
    """All feedback rows, oldest first; unreadable lines are skipped with a logged reason."""
    path = feedback_path(data_dir)
    if not path.is_file():
        return []
    rows: list[dict[str, Any]] = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                log.warning("%s:%d skipped: not JSON (%s)", path, number, exc.msg)
                continue
            if not isinstance(row, dict) or row.get("rating") not in RATINGS:
                log.warning("%s:%d skipped: not a feedback row", path, number)
                continue
            rows.append(row)
    return rows
