"""Agent S's decisions: which stages must run, from input fingerprints.

A stage's *fingerprint* hashes everything its output depends on (its ``inputs`` in the
stage registry, ``tools.stages``). After a stage succeeds its fingerprint is stored in
``<data_dir>/state/<stage>.json``; a later run whose fingerprint matches skips the stage and
says so. The plan computes each fingerprint once and hands it to the stage; only a stage
whose upstream ran is fingerprinted again, after that upstream has written its output.
Once a graceful stop was asked for (SIGTERM, see ``tools.scheduling``), stages that have
not started yet do not start.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tools.config import Settings, SourcesSettings
from tools.datadir import DataDir
from tools.jsonl import read_json, write_json
from tools.records import stable_hash
from tools.report import StageReport
from tools.scheduling import stop_reason
from tools.stages import StageRequest, get_stage, stage_names

log = logging.getLogger(__name__)

INTERRUPTED = "interrupted"
"""Status of a stage that did not start because a stop was asked for, and of its run."""
UNCHANGED = "inputs unchanged since the last successful run"


def fingerprint(
    stage: str, settings: Settings, data_dir: Path, request: StageRequest | None = None
) -> str:
    """Hash of everything ``stage``'s output depends on."""
    inputs = get_stage(stage).inputs(settings, DataDir(data_dir), request or StageRequest())
    return stable_hash(inputs)


def _state_path(stage: str, data_dir: Path) -> Path:
    return DataDir(data_dir).stage_state / f"{stage}.json"


def last_success(stage: str, data_dir: Path) -> dict[str, Any]:
    """What the last successful run of ``stage`` stored (empty when it never ran)."""
    return read_json(_state_path(stage, data_dir), default={}) or {}


def record_success(stage: str, data_dir: Path, print_: str, report: StageReport) -> None:
    """Store the fingerprint of a successful stage, and how many items it left pending.

    Items deferred by a cap (``pending`` counter) and items that failed are retried by the
    next run even when the inputs did not change.
    """
    pending = int(report.counters.get("pending", 0)) + len(report.failed)
    write_json(_state_path(stage, data_dir), {"fingerprint": print_, "pending": pending})


def compare(stage: str, data_dir: Path, print_: str) -> tuple[bool, str]:
    """Whether a stage with fingerprint ``print_`` may be skipped, and why (or why not)."""
    last = last_success(stage, data_dir)
    if not last:
        return False, "never ran successfully"
    if last.get("pending"):
        return False, f"{last['pending']} items still pending from the last run"
    if last.get("fingerprint") != print_:
        return False, "inputs changed since the last successful run"
    return True, UNCHANGED


def make_plan(
    settings: Settings,
    data_dir: Path,
    stages: Sequence[str] | None = None,
    synthesis: bool = False,
    force: bool = False,
    sources: SourcesSettings | None = None,
    rebuild: bool = False,
) -> dict[str, dict[str, Any]]:
    """Decide, for every registered stage, whether it runs and why.

    Args:
        settings: The loaded config.
        data_dir: Where artifacts live.
        stages: Stages the caller asked for (default: all).
        synthesis: Whether SFT synthesis was asked for (synthesis stages run only then,
            unless the caller asked for one of them alone).
        force: Run requested stages even when their inputs did not change.
        sources: Source overrides (CLI flags).
        rebuild: The index is to be rebuilt from scratch, so it runs whatever changed.

    Returns:
        ``{stage: {"run", "reason"}}`` in pipeline order; a stage whose fingerprint was
        computed also carries it (``"fingerprint"``), so that it is not computed again.
    """
    request = StageRequest(
        stages=tuple(stages or stage_names()),
        synthesis=synthesis,
        force=force,
        sources=sources,
        rebuild=rebuild,
    )
    plan: dict[str, dict[str, Any]] = {}
    for name in stage_names():
        stage = get_stage(name)
        if name not in request.stages:
            plan[name] = {"run": False, "reason": "not requested"}
        elif stage.synthesis and not synthesis and request.stages != (name,):
            plan[name] = {"run": False, "reason": "synthesis not requested (--synthesis)"}
        elif force:
            plan[name] = {"run": True, "reason": "forced"}
        elif stage.forced(request):
            plan[name] = {"run": True, "reason": f"{stage.forced_by} requested"}
        elif stage.upstream and plan.get(stage.upstream, {}).get("run"):
            plan[name] = {"run": True, "reason": f"{stage.upstream} runs first; inputs may change"}
        else:
            print_ = fingerprint(name, settings, data_dir, request)
            current, why = compare(name, data_dir, print_)
            plan[name] = {"run": not current, "reason": why, "fingerprint": print_}
    return plan


def run_if_changed(
    stage: str,
    settings: Settings,
    data_dir: Path,
    work: Callable[[], StageReport],
    force: bool = False,
    sources: SourcesSettings | None = None,
    planned: str | None = None,
) -> StageReport:
    """Run ``work`` unless the stage's inputs equal those of its last success.

    Args:
        stage: The stage's name.
        settings: The loaded config.
        data_dir: Where artifacts live.
        work: Runs the stage and returns its report.
        force: Run even when the inputs did not change.
        sources: Source overrides (for the wash stage's fingerprint).
        planned: The fingerprint the plan computed, when it did (then the plan already
            found the inputs changed). Without it the inputs are fingerprinted here, after
            the upstream stage ran: it may have written byte-identical output.

    Returns:
        The stage's report; status ``skipped`` when the inputs were unchanged and
        ``interrupted`` when a stop was asked for before it started.
    """
    stop = stop_reason()
    if stop:
        log.warning("%s: not started (%s)", stage, stop)
        return StageReport(stage, status=INTERRUPTED, reason=f"not started: {stop}").finish()
    print_ = planned or fingerprint(stage, settings, data_dir, StageRequest(sources=sources))
    if not force and planned is None:
        current, why = compare(stage, data_dir, print_)
        if current:
            return StageReport(stage=stage, status="skipped", reason=why).finish()
    log.info("%s: running", stage)
    report = work()
    if report.status != "failed":
        record_success(stage, data_dir, print_, report)
    return report
