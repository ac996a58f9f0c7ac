"""The run log ``<data_dir>/runs.jsonl``: one line per pipeline run.

A line holds the run's ``start`` and ``end``, the ``request``, the ``plan`` (each stage's
run/skip decision and its reason), every stage's report (status, reason, counts in, out,
skipped, failed, stage counters, seconds, and every skipped and failed item with its
reason: nothing is lost silently, so nothing is cut from the log either), the run-level
``errors`` by stage, and the ``status``: ``ok``, ``failed`` (a stage failed; nothing after
it ran) or ``interrupted`` (a stop was asked for; stages after the running one did not
start).

Where run records are read from is the :class:`RunLog` of the config's ``store``: the
``runs.jsonl`` file (embedded default), or the ``runs`` table of a PostgreSQL database that
every server worker shares. ``runs.jsonl`` is written in both cases (the data dir's own log).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from tools.config import StoreSettings
from tools.datadir import DataDir
from tools.files import now_iso
from tools.jsonl import append_jsonl
from tools.planning import INTERRUPTED
from tools.report import StageReport

RunKey = tuple[str, str]
"""A run's place in the log: ``(start, run_id)``."""

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


def append_run(data_dir: Path, record: dict[str, Any], store: StoreSettings) -> None:
    """Log one run record (a line of :func:`run_record`): ``runs.jsonl``, and the store's."""
    append_jsonl(DataDir(data_dir).runs, record)
    if store.database_url:
        PostgresRunLog(store.database_url).put(record)


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


class RunLog(Protocol):
    """Run records, newest first, in pages."""

    shared: bool
    """Whether other processes and machines read the same records (a run in flight is put
    there too, so every worker sees it)."""

    def put(self, record: dict[str, Any]) -> None:
        """Add a record, or replace the one with its ``run_id``."""

    def get(self, run_id: str) -> dict[str, Any] | None:
        """The record of ``run_id`` (None when unknown)."""

    def page(self, limit: int, older_than: RunKey | None = None) -> list[dict[str, Any]]:
        """At most ``limit`` records, newest first by :func:`run_key`, older than ``older_than``."""


def run_log(store: StoreSettings, data_dir: Path) -> RunLog:
    """The run log the store settings name."""
    if store.database_url:
        return PostgresRunLog(store.database_url)
    return JsonlRunLog(data_dir)


def run_key(record: Mapping[str, Any]) -> RunKey:
    """Where a record sorts: ``(start, run_id)``."""
    return (record.get("start") or "", record.get("run_id") or "")


class JsonlRunLog:
    """``runs.jsonl``: the embedded run log of one machine (a later line of a run wins)."""

    shared = False

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def put(self, record: dict[str, Any]) -> None:
        """Append a line."""
        append_jsonl(DataDir(self.data_dir).runs, record)

    def _latest(self) -> dict[str, dict[str, Any]]:
        return {row["run_id"]: row for row in read_runs(self.data_dir) if row.get("run_id")}

    def get(self, run_id: str) -> dict[str, Any] | None:
        """The last line of ``run_id``."""
        return self._latest().get(run_id)

    def page(self, limit: int, older_than: RunKey | None = None) -> list[dict[str, Any]]:
        """A page of the newest runs (reads the whole file: one machine's history)."""
        rows = sorted(self._latest().values(), key=run_key, reverse=True)
        if older_than is not None:
            rows = [r for r in rows if run_key(r) < older_than]
        return rows[:limit]


RUNS_TABLE = "runs"
_SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {RUNS_TABLE} (run_id text PRIMARY KEY, "
    'start timestamptz NOT NULL, "end" timestamptz, status text NOT NULL, record jsonb NOT NULL)',
    f"CREATE INDEX IF NOT EXISTS {RUNS_TABLE}_newest ON {RUNS_TABLE} (start DESC, run_id DESC)",
)
SCHEMA_LOCK = 15_000_001
"""Advisory lock key: one process creates the table at a time."""


@cache
def _ensure_schema(url: str) -> None:
    with psycopg.connect(url) as conn:  # one transaction, serialized by the advisory lock
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        for statement in _SCHEMA:
            conn.execute(statement)


class PostgresRunLog:
    """The ``runs`` table: run_id, start, end, status and the whole record as JSONB."""

    shared = True

    def __init__(self, url: str) -> None:
        self.url = url
        _ensure_schema(url)

    def _connect(self) -> psycopg.Connection[dict[str, Any]]:
        return psycopg.connect(self.url, autocommit=True, row_factory=dict_row)

    def put(self, record: dict[str, Any]) -> None:
        """Insert or replace the row of the record's ``run_id``."""
        with self._connect() as conn:
            conn.execute(
                f'INSERT INTO {RUNS_TABLE} (run_id, start, "end", status, record) '
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (run_id) DO UPDATE SET "
                'start = EXCLUDED.start, "end" = EXCLUDED."end", '
                "status = EXCLUDED.status, record = EXCLUDED.record",
                (
                    record["run_id"],
                    record["start"],
                    record.get("end"),
                    record["status"],
                    Jsonb(record),
                ),
            )

    def get(self, run_id: str) -> dict[str, Any] | None:
        """The row's record."""
        with self._connect() as conn:
            row = conn.execute(
                f"SELECT record FROM {RUNS_TABLE} WHERE run_id = %s", (run_id,)
            ).fetchone()
        return row["record"] if row else None

    def page(self, limit: int, older_than: RunKey | None = None) -> list[dict[str, Any]]:
        """A page of the newest runs, by the ``(start, run_id)`` index."""
        where, args = "", ()
        if older_than is not None:
            where, args = "WHERE (start, run_id) < (%s::timestamptz, %s) ", older_than
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT record FROM {RUNS_TABLE} {where}ORDER BY start DESC, run_id DESC LIMIT %s",
                (*args, limit),
            ).fetchall()
        return [row["record"] for row in rows]
