"""Pipeline-stage nodes, one per entry of the stage registry (``tools.stages``).

Each node runs its stage's tool unless the plan, or a fingerprint taken after the upstream
stage ran, says its inputs are unchanged; a raised error becomes a ``failed`` report.
"""

from __future__ import annotations

import logging
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from graph.configuration import Context, get_context
from graph.state import PipelineState
from tools.datadir import DataDir
from tools.planning import run_if_changed
from tools.report import StageReport
from tools.stages import StageRequest, get_stage

log = logging.getLogger(__name__)


def stage_node(name: str):
    """The graph node that runs the registered stage ``name``."""
    stage = get_stage(name)

    def node(
        state: PipelineState, config: RunnableConfig, runtime: Runtime[Context]
    ) -> dict[str, Any]:
        ctx = get_context(runtime, config)
        request = StageRequest.from_mapping(state)
        planned = (state.get("plan") or {}).get(name, {})
        forced = request.force or stage.forced(request)
        try:
            report = run_if_changed(
                name,
                ctx.settings,
                ctx.data_path,
                lambda: stage.run(ctx.settings, DataDir(ctx.data_path), request),
                force=forced,
                sources=request.sources,
                planned=planned.get("fingerprint"),
            )
        except Exception as exc:
            log.exception("stage %s failed", name)
            report = StageReport(name, status="failed", reason=f"{type(exc).__name__}: {exc}")
            report.finish()
        log.info("%s: %s (%s)", name, report.status, report.reason or "done")
        return {"reports": {name: report.to_dict()}}

    node.__name__ = name
    node.__doc__ = f"Run the {name} stage (agent {stage.agent}) unless its inputs are unchanged."
    return node
