"""The run log ``<data_dir>/runs.jsonl``: one line per pipeline run."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tools.jsonl import append_jsonl, read_jsonl


def now_iso() -> str:
    """The current UTC time in ISO 8601 with seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def append_run(data_dir: Path, record: dict[str, Any]) -> None:
    """Append one run record (start, end, plan, per-stage counts, status, errors)."""
    append_jsonl(data_dir / "runs.jsonl", record)


def read_runs(data_dir: Path) -> list[dict[str, Any]]:
    """All run records, oldest first (empty when none)."""
    path = data_dir / "runs.jsonl"
    return list(read_jsonl(path)) if path.exists() else []
