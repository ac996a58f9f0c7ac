"""Agent S: plan the run, then record it in ``runs.jsonl``."""

from __future__ import annotations

import uuid
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from graph.configuration import Context, get_context
from graph.state import STAGES, PipelineState
from nodes.common import request_sources
from tools.planning import make_plan
from tools.runs import append_run, now_iso


def plan(state: PipelineState, config: RunnableConfig, runtime: Runtime[Context]) -> dict[str, Any]:
    """Decide which stages run and why, from fingerprints of their inputs."""
    ctx = get_context(runtime, config)
    decided = make_plan(
        ctx.settings,
        ctx.data_path,
        stages=state.get("stages") or STAGES,
        synthesis=bool(state.get("synthesis")),
        force=bool(state.get("force")),
        sources=request_sources(state),
    )
    return {"plan": decided, "run_id": state.get("run_id") or uuid.uuid4().hex[:12]}


def finish(
    state: PipelineState, config: RunnableConfig, runtime: Runtime[Context]
) -> dict[str, Any]:
    """Give the run its status and append it to ``runs.jsonl``."""
    ctx = get_context(runtime, config)
    reports = state.get("reports") or {}
    plan_ = state.get("plan") or {}
    for stage, decision in plan_.items():
        if not decision["run"] and stage not in reports:
            reports[stage] = {"stage": stage, "status": "skipped", "reason": decision["reason"]}
    failed = [name for name, rep in reports.items() if rep.get("status") == "failed"]
    status = "failed" if failed else "ok"
    append_run(
        ctx.data_path,
        {
            "run_id": state.get("run_id"),
            "end": now_iso(),
            "request": {k: state.get(k) for k in ("stages", "mode", "synthesis", "max_samples")},
            "plan": plan_,
            "stages": {
                name: {k: v for k, v in rep.items() if not k.endswith("_items")}
                for name, rep in reports.items()
            },
            "errors": {name: reports[name].get("reason") for name in failed},
            "status": status,
        },
    )
    return {"status": status, "reports": reports}
