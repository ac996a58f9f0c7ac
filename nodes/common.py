"""What every stage node shares: context lookup and failure capture."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from graph.configuration import Context
from graph.state import PipelineState
from tools.config import SourcesSettings
from tools.planning import run_if_changed
from tools.report import StageReport

log = logging.getLogger(__name__)


def request_sources(state: PipelineState) -> SourcesSettings | None:
    """Source overrides sent with the request, if any."""
    given = state.get("sources") or {}
    return SourcesSettings(**given) if any(given.values()) else None


def stage_update(
    stage: str,
    state: PipelineState,
    ctx: Context,
    work: Callable[[], StageReport],
) -> dict[str, Any]:
    """Run a stage's tool unless its inputs are unchanged; never let it raise.

    Returns:
        The partial state update ``{"reports": {stage: report}}``; a raised exception
        becomes a ``failed`` report carrying the error.
    """
    try:
        report = run_if_changed(
            stage,
            ctx.settings,
            ctx.data_path,
            work,
            force=bool(state.get("force") or (stage == "index" and state.get("rebuild"))),
            sources=request_sources(state) if stage == "wash" else None,
        )
    except Exception as exc:
        log.exception("stage %s failed", stage)
        report = StageReport(stage=stage, status="failed", reason=f"{type(exc).__name__}: {exc}")
        report.finish()
    log.info("%s: %s (%s)", stage, report.status, report.reason or "done")
    return {"reports": {stage: report.to_dict()}}
