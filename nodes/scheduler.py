"""Agent S: plan the run, then record it in ``runs.jsonl``."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from graph.configuration import Context, get_context
from graph.state import PipelineState
from tools.files import now_iso
from tools.planning import make_plan
from tools.runs import append_run, run_record, stage_reports
from tools.stages import StageRequest

log = logging.getLogger(__name__)

REQUEST_KEYS = ("stages", "mode", "synthesis", "max_samples", "sources")


def plan(state: PipelineState, config: RunnableConfig, runtime: Runtime[Context]) -> dict[str, Any]:
    """Stamp the start, and decide which stages run and why from their inputs' fingerprints."""
    ctx = get_context(runtime, config)
    start = now_iso()
    if state.get("sources") and not ctx.allow_source_overrides:
        raise PermissionError(
            "this deployment ingests only the sources in its models.yaml; "
            "a request may not name `sources`"
        )
    request = StageRequest.from_mapping(state)
    decided = make_plan(
        ctx.settings,
        ctx.data_path,
        stages=request.stages,
        synthesis=request.synthesis,
        force=request.force,
        rebuild=request.rebuild,
        sources=request.sources,
    )
    for stage, decision in decided.items():
        log.info(
            "plan: %s %s (%s)", stage, "runs" if decision["run"] else "skipped", decision["reason"]
        )
    return {"plan": decided, "run_id": state.get("run_id") or uuid.uuid4().hex[:12], "start": start}


def finish(
    state: PipelineState, config: RunnableConfig, runtime: Runtime[Context]
) -> dict[str, Any]:
    """Give the run its status and log it (``runs.jsonl``, and the store's run table)."""
    ctx = get_context(runtime, config)
    plan_ = state.get("plan") or {}
    reports = state.get("reports") or {}
    record = run_record(
        run_id=state.get("run_id"),
        start=state.get("start"),
        request={k: state.get(k) for k in REQUEST_KEYS},
        plan=plan_,
        reports=reports,
    )
    append_run(ctx.data_path, record, ctx.settings.store)
    log.info("run %s: %s", record["run_id"], record["status"])
    return {"status": record["status"], "reports": stage_reports(plan_, reports)}
