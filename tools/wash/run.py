"""The wash stage's entry: pick the engine, run the shared pipeline, report."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from tools.config import Settings, SourcesSettings
from tools.report import StageReport
from tools.wash.pipeline import LazyEngine, wash
from tools.wash.python_engine import PythonEngine
from tools.wash.spark_engine import SparkEngine

Mode = Literal["python", "spark"]
MODES: tuple[str, ...] = ("python", "spark")


def run_wash(
    settings: Settings,
    data_dir: Path,
    mode: Mode = "python",
    sources: SourcesSettings | None = None,
) -> StageReport:
    """Load, clean, redact, deduplicate and chunk the sources; write both artifacts.

    Args:
        settings: The loaded config; ``wash.spark_master`` picks the Spark cluster.
        data_dir: Where the artifacts go.
        mode: ``python`` (in process) or ``spark`` (a session on ``wash.spark_master``,
            started only when some record is new or changed, stopped at the end).
        sources: Replaces ``settings.sources`` when given (CLI ``--jira/--git/--docs``).

    Returns:
        The stage report; its time includes starting and stopping the Spark session.

    Raises:
        ValueError: ``mode`` is not one of ``MODES``.
    """
    report = StageReport(stage="wash")
    if mode == "python":
        engine: PythonEngine | SparkEngine = PythonEngine()
        report.reason = "python engine"
    elif mode == "spark":
        engine = SparkEngine(settings.wash.spark_master)
        report.reason = f"spark engine on {settings.wash.spark_master}"
    else:
        raise ValueError(f"unknown wash mode {mode!r}; choose one of {', '.join(MODES)}")
    with LazyEngine(engine) as lazy:
        wash(settings, Path(data_dir), lazy, report, sources)
    if not lazy.started and mode == "spark" and report.status != "failed":
        report.reason += " (not started: nothing new to clean or chunk)"
    return report.finish()
