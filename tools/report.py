"""Per-stage accounting: counts in, out, skipped (with reason) and failed."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class StageReport:
    """What one stage did, so that nothing is lost silently.

    Attributes:
        stage: Stage name (``wash``, ``refine``, ``index``, ``train``).
        status: ``ok``, ``skipped`` (nothing to do) or ``failed``.
        reason: Why the stage ran or was skipped.
        items_in: Items the stage read.
        items_out: Items the stage wrote.
        skipped: ``{"item", "reason"}`` for every input passed over.
        failed: ``{"item", "error"}`` for every input that raised.
        counters: Stage-specific counts (redactions by type, chunks embedded, LLM calls, ...).
        seconds: Wall time of the stage.
    """

    stage: str
    status: str = "ok"
    reason: str = ""
    items_in: int = 0
    items_out: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    counters: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    _start: float = field(default_factory=time.perf_counter, repr=False)

    def skip(self, item: str, reason: str) -> None:
        """Record an input passed over on purpose (bad input, duplicate, ...)."""
        self.skipped.append({"item": str(item), "reason": reason})

    def fail(self, item: str, error: BaseException | str) -> None:
        """Record an input that raised; the stage goes on."""
        message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        self.failed.append({"item": str(item), "error": message})

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to a named counter."""
        self.counters[name] += n

    def finish(self, status: str | None = None) -> StageReport:
        """Stop the clock (and optionally set the status); returns self for chaining."""
        self.seconds = round(time.perf_counter() - self._start, 3)
        if status:
            self.status = status
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form used in graph state, run logs and ``--json`` output."""
        return {
            "stage": self.stage,
            "status": self.status,
            "reason": self.reason,
            "in": self.items_in,
            "out": self.items_out,
            "skipped": len(self.skipped),
            "skipped_items": self.skipped,
            "failed": len(self.failed),
            "failed_items": self.failed,
            "counters": dict(sorted(self.counters.items())),
            "seconds": self.seconds,
        }


def item_lines(report: dict[str, Any], limit: int = 10) -> list[str]:
    """One ``name: reason`` line per skipped and failed item, for people reading the console.

    The first ``limit`` of each kind, then how many more (``--json`` and the run log keep all).
    """
    lines = []
    for kind, why in (("skipped", "reason"), ("failed", "error")):
        items = report.get(f"{kind}_items") or []
        for item in items[:limit]:
            lines.append(f"  {kind} {item['item']}: {item[why]}")
        if len(items) > limit:
            lines.append(f"  ... and {len(items) - limit} more {kind} (see --json or runs.jsonl)")
    return lines


def summarize(report: dict[str, Any]) -> str:
    """One human line for a report dict, e.g. for the CLI."""
    line = (
        f"{report['stage']:<7} {report['status']:<8} in={report['in']} out={report['out']} "
        f"skipped={report['skipped']} failed={report['failed']} ({report['seconds']:.1f}s)"
    )
    if report.get("reason"):
        line += f" - {report['reason']}"
    if report.get("counters"):
        line += " " + " ".join(f"{k}={v}" for k, v in report["counters"].items())
    return line
