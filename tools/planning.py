"""Agent S's decisions: which stages must run, from input fingerprints.

A stage's *fingerprint* hashes everything its output depends on (source files, upstream
artifacts, the models it uses, the wash code). After a stage succeeds its fingerprint is
stored in ``<data_dir>/state/<stage>.json``; a later run whose fingerprint matches skips the
stage and says so. Once a graceful stop was asked for (SIGTERM, see
``tools.scheduling``), stages that have not started yet do not start.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tools.config import Settings, SourcesSettings
from tools.jsonl import read_json, write_json
from tools.records import stable_hash
from tools.report import StageReport
from tools.scheduling import stop_reason

log = logging.getLogger(__name__)

STAGES: tuple[str, ...] = ("wash", "refine", "index", "train")
INTERRUPTED = "interrupted"
"""Status of a stage that did not start because a stop was asked for, and of its run."""
UPSTREAM = {"wash": None, "refine": "wash", "index": "wash", "train": "refine"}


def file_digest(path: Path) -> str | None:
    """SHA-256 of a file's bytes, None when it does not exist, or why it cannot be read.

    An unreadable input changes the fingerprint, so the stage runs and reports the error
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


def fingerprint(
    stage: str, settings: Settings, data_dir: Path, sources: SourcesSettings | None = None
) -> str:
    """Hash of everything ``stage``'s output depends on."""
    if stage == "wash":
        from tools.cleaning.version import code_version
        from tools.loaders import source_fingerprint

        parts: list[Any] = [
            source_fingerprint(sources or settings.sources, settings),
            settings.wash.model_dump(exclude={"spark_master"}),
            settings.model_b.model,
            code_version(),
        ]
    elif stage == "refine":
        parts = [
            file_digest(data_dir / "cleaned_corpus.jsonl"),
            file_digest(data_dir / "feedback.jsonl"),
            file_digest(data_dir / "rag_chunks.jsonl"),
            settings.model_a.model_dump(exclude={"api_key", "timeout", "concurrency"}),
        ]
    elif stage == "index":
        parts = [
            file_digest(data_dir / "rag_chunks.jsonl"),
            settings.model_b.model_dump(),
            settings.index.model_dump(),
        ]
    elif stage == "train":
        parts = [
            file_digest(data_dir / "sft_train.jsonl"),
            file_digest(data_dir / "sft_eval.jsonl"),
            settings.model_c.model_dump(),
        ]
    else:
        raise ValueError(f"unknown stage {stage!r}; expected one of {STAGES}")
    return stable_hash(parts)


def _state_path(stage: str, data_dir: Path) -> Path:
    return data_dir / "state" / f"{stage}.json"


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


def is_current(stage: str, settings: Settings, data_dir: Path, sources=None) -> tuple[bool, str]:
    """Whether ``stage`` may be skipped, and why (or why not)."""
    last = last_success(stage, data_dir)
    if not last:
        return False, "never ran successfully"
    if last.get("pending"):
        return False, f"{last['pending']} items still pending from the last run"
    if last.get("fingerprint") != fingerprint(stage, settings, data_dir, sources):
        return False, "inputs changed since the last successful run"
    return True, "inputs unchanged since the last successful run"


def make_plan(
    settings: Settings,
    data_dir: Path,
    stages: Sequence[str] = STAGES,
    synthesis: bool = False,
    force: bool = False,
    sources: SourcesSettings | None = None,
    rebuild: bool = False,
) -> dict[str, dict[str, Any]]:
    """Decide, for every stage, whether it runs and why.

    Args:
        settings: The loaded config.
        data_dir: Where artifacts live.
        stages: Stages the caller asked for.
        synthesis: Whether SFT synthesis was asked for (refine runs only then, unless the
            caller asked for refine alone).
        force: Run requested stages even when their inputs did not change.
        sources: Source overrides (CLI flags).
        rebuild: The index is to be rebuilt from scratch, so it runs whatever changed.

    Returns:
        ``{stage: {"run": bool, "reason": str}}`` for all four stages, in pipeline order.
    """
    plan: dict[str, dict[str, Any]] = {}
    for stage in STAGES:
        if stage not in stages:
            plan[stage] = {"run": False, "reason": "not requested"}
            continue
        if stage == "refine" and not synthesis and list(stages) != ["refine"]:
            plan[stage] = {"run": False, "reason": "synthesis not requested (--synthesis)"}
            continue
        upstream = UPSTREAM[stage]
        if force:
            plan[stage] = {"run": True, "reason": "forced"}
        elif stage == "index" and rebuild:
            plan[stage] = {"run": True, "reason": "rebuild requested"}
        elif upstream and plan.get(upstream, {}).get("run"):
            plan[stage] = {"run": True, "reason": f"{upstream} runs first; inputs may change"}
        else:
            current, why = is_current(stage, settings, data_dir, sources)
            plan[stage] = {"run": not current, "reason": why}
    return plan


def run_if_changed(
    stage: str,
    settings: Settings,
    data_dir: Path,
    work: Callable[[], StageReport],
    force: bool = False,
    sources: SourcesSettings | None = None,
) -> StageReport:
    """Run ``work`` unless the stage's inputs equal those of its last success.

    The check is repeated here (not only in the plan) because an upstream stage that ran
    may still have produced byte-identical output. After a stop request the stage does not
    start: its report has status ``interrupted`` (a stage already running finishes first).
    """
    stop = stop_reason()
    if stop:
        log.warning("%s: not started (%s)", stage, stop)
        return StageReport(stage, status=INTERRUPTED, reason=f"not started: {stop}").finish()
    if not force:
        current, why = is_current(stage, settings, data_dir, sources)
        if current:
            report = StageReport(stage=stage, status="skipped", reason=why)
            return report.finish()
    print_before = fingerprint(stage, settings, data_dir, sources)
    log.info("%s: running", stage)
    report = work()
    if report.status != "failed":
        record_success(stage, data_dir, print_before, report)
    return report
