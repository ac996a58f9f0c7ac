"""The run log ``<data_dir>/runs.jsonl``: one line per pipeline run.

A line holds the run's ``start`` and ``end``, the ``request``, the ``plan`` (each stage's
run/skip decision and its reason), every stage's report (status, reason, counts in, out,
skipped, failed, stage counters, seconds, and every skipped and failed item with its
reason: nothing is lost silently, so nothing is cut from the log either), the run-level
``errors`` by stage, and the ``status``: ``ok``, ``failed`` (a stage failed; nothing after
it ran) or ``interrupted`` (a stop was asked for; stages after the running one did not
start).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tools.datadir import DataDir
from tools.files import now_iso
from tools.jsonl import append_jsonl
from tools.planning import INTERRUPTED
from tools.report import StageReport

log = logging.getLogger(__name__)


def stage_reports(
    plan: Mapping[str, Mapping[str, Any]], reports: Mapping[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Every stage's report in plan order, with a skip report for each stage that did not run.

    A stage the plan skipped gets the plan's reason; a planned stage that was never reached
    names the failed stage that ended the run.
    """
    failed = [name for name, rep in reports.items() if rep.get("status") == "failed"]
    out: dict[str, dict[str, Any]] = {}
    for stage, decision in plan.items():
        if stage in reports:
            out[stage] = reports[stage]
            continue
        if not decision.get("run"):
            reason = decision.get("reason", "")
        else:
            reason = f"not run: {', '.join(failed)} failed first" if failed else "not run"
        out[stage] = StageReport(stage, status="skipped", reason=reason).to_dict()
    out.update({name: rep for name, rep in reports.items() if name not in out})
    return out


def run_status(reports: Mapping[str, Mapping[str, Any]]) -> str:
    """``failed`` when a stage failed, else ``interrupted`` when one was stopped, else ``ok``."""
    statuses = {rep.get("status") for rep in reports.values()}
    if "failed" in statuses:
        return "failed"
    return INTERRUPTED if INTERRUPTED in statuses else "ok"


def run_record(
    *,
    run_id: str | None,
    start: str | None,
    request: Mapping[str, Any],
    plan: Mapping[str, Mapping[str, Any]],
    reports: Mapping[str, dict[str, Any]],
) -> dict[str, Any]:
    """The ``runs.jsonl`` line of a finished run (``end`` is now).

    Args:
        run_id: The run's id.
        start: When the run began (ISO 8601).
        request: What was asked for (stages, mode, synthesis, ...).
        plan: ``{stage: {"run", "reason", ...}}`` as the plan decided.
        reports: Stage reports (``StageReport.to_dict()``) of the stages that ran, or all of
            them as :func:`stage_reports` completes them.
    """
    stages = stage_reports(plan, reports)
    return {
        "run_id": run_id,
        "start": start,
        "end": now_iso(),
        "status": run_status(stages),
        "request": dict(request),
        "plan": {  # why each stage ran or not; the fingerprints stay in <data_dir>/state
            name: {k: decision[k] for k in ("run", "reason")} for name, decision in plan.items()
        },
        "stages": {name: dict(rep) for name, rep in stages.items()},
        "errors": {
            name: rep.get("reason")
            for name, rep in stages.items()
            if rep.get("status") in ("failed", INTERRUPTED)
        },
    }


def append_run(data_dir: Path, record: dict[str, Any]) -> None:
    """Append one run record (a line of :func:`run_record`)."""
    append_jsonl(DataDir(data_dir).runs, record)


def read_runs(data_dir: Path) -> list[dict[str, Any]]:
    """All run records, oldest first (empty when none); a torn line is logged and skipped."""
    path = DataDir(data_dir).runs
    if not path.exists():
        return []
    runs = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            runs.append(json.loads(line))
        except ValueError:
            log.warning("%s:%d is not a JSON line (a run killed while writing?); skipped", path, n)
    return runs
