"""Agent S on the sample data: full cycles do only what changed, fail without damage, never
overlap, stop cleanly on SIGTERM, and keep a schedule going after a failed run.

CLI behaviour that involves processes (locks, signals, the schedule loop) runs in real
subprocesses; the rest calls ``cli.main`` in this process, which already imported the graph
for the ``built_data_dir`` fixture.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from apscheduler.triggers.interval import IntervalTrigger

from cli import main
from tests.conftest import copy_data_dir
from tests.fakes.openai_server import Reply
from tools.config import load_settings
from tools.index.fields import indexed_text
from tools.index.search import Retriever
from tools.index.store import PAUSE_ENV
from tools.jsonl import atomic_open, read_jsonl
from tools.planning import INTERRUPTED, run_if_changed
from tools.report import StageReport
from tools.runs import read_runs, run_record
from tools.sample_data import SAMPLE_RAW
from tools.scheduling import make_trigger, request_stop, run_periodically, stop_on_signals

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
STAGES = ("wash", "refine", "index", "train")
UNCHANGED = "inputs unchanged since the last successful run"
EDITED = "DAEMON-187"


# --- helpers -------------------------------------------------------------------------------


def source_args(sources: dict[str, list[str]]) -> list[str]:
    return [arg for kind, paths in sources.items() for p in paths for arg in (f"--{kind}", p)]


def demo_sources(built: Path) -> dict[str, list[str]]:
    """The sources the demo washed (its run record keeps them)."""
    return read_runs(built)[0]["request"]["sources"]


def write_config(path: Path, **sections: dict[str, Any]) -> Path:
    """The project's models.yaml with some sections merged over it."""
    config = yaml.safe_load((ROOT / "models.yaml").read_text(encoding="utf-8"))
    for name, values in sections.items():
        config[name] = {**config[name], **values}
    with atomic_open(path) as handle:  # a scheduled run may read it at any time
        handle.write(yaml.safe_dump(config))
    return path


def edit_summary(jira: Path, key: str, summary: str) -> None:
    path = jira / f"{key}.json"
    issue = json.loads(path.read_text(encoding="utf-8"))
    issue["fields"]["summary"] = summary
    path.write_text(json.dumps(issue), encoding="utf-8")


def snapshot(data: Path) -> dict[str, tuple[int, int]]:
    """Size and mtime of every artifact (the run log and the lock file aside)."""
    return {
        str(p.relative_to(data)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(data.rglob("*"))
        if p.is_file() and p.name not in ("runs.jsonl", ".pipeline.lock")
    }


def cli(*args: str, **kwargs: Any) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "data-alchemy"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        **kwargs,
    )


def wait_for(condition: Callable[[], Any], what: str, proc: subprocess.Popen, limit: float = 240):
    """Poll ``condition`` until it is truthy; fail early when ``proc`` exits."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"process exited ({proc.returncode}) before {what}:\n{err[-3000:]}")
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"timed out waiting for {what}")


def complete_runs(data: Path) -> list[dict[str, Any]]:
    """The run log as another process may be appending to it: whole lines only."""
    path = data / "runs.jsonl"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]


def retriever_hits(data: Path, question: str) -> list[dict[str, Any]]:
    return Retriever(load_settings(), data).search(question, k=3)


# --- a second cycle does nothing ---------------------------------------------------------


def test_second_full_cycle_with_no_change_does_no_work(built_data_dir: Path, tmp_path: Path):
    data = copy_data_dir(built_data_dir, tmp_path / "data")
    before = snapshot(data)
    command = [str(BIN / "schedule-sync"), "full-cycle", "--synthesis", "--json"]
    command += ["--data-dir", str(data), *source_args(demo_sources(built_data_dir))]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    reports = json.loads(proc.stdout)["reports"]
    record = read_runs(data)[-1]
    assert record["status"] == "ok" and record["errors"] == {}
    assert record["start"], "the plan node stamps `start` (PipelineState needs the key)"
    assert record["start"] <= record["end"]
    assert record["request"]["synthesis"] is True
    for stage in STAGES:
        assert record["plan"][stage] == {"run": False, "reason": UNCHANGED}
        for logged in (reports[stage], record["stages"][stage]):
            assert logged["status"] == "skipped" and logged["reason"] == UNCHANGED
            assert (logged["in"], logged["out"], logged["skipped"], logged["failed"]) == (0,) * 4
            assert logged["counters"] == {} and logged["seconds"] == 0
    assert snapshot(data) == before, "no artifact may be rewritten"


# --- one changed Jira file ---------------------------------------------------------------


def grounded_pairs(body: dict) -> Reply:
    """One pair per record whose answer is a line of the record (so it is kept)."""
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    header, _, text = user.partition("\n\n")
    line = next((ln for ln in text.splitlines() if len(ln.split()) >= 4), text)
    question = f"What does {header.split(' (')[0].removeprefix('Record ')} say?"
    return Reply.of_json({"pairs": [{"question": question, "answer": line.strip()}]})


def test_one_changed_jira_file_is_the_only_work(tmp_path: Path, openai_server):
    server = openai_server(grounded_pairs)
    jira = tmp_path / "jira"
    shutil.copytree(SAMPLE_RAW / "jira", jira)
    config = write_config(
        tmp_path / "models.yaml",
        model_a={"provider": "openai", "base_url": server.base_url, "api_key": "k"},
        model_c={"training": {"epochs": 1, "max_length": 64}},
    )
    data = tmp_path / "data"
    args = ["schedule", "full-cycle", "--synthesis", "--data-dir", str(data)]
    args += ["--config", str(config), "--jira", str(jira)]
    assert main(args) == 0
    first = read_runs(data)[-1]
    n_records = first["stages"]["wash"]["out"]
    assert first["stages"]["refine"]["counters"]["llm_calls"] == server.request_count == n_records
    old_texts = {indexed_text(c) for c in read_jsonl(data / "rag_chunks.jsonl")}

    edit_summary(jira, EDITED, "appcd start hangs instead of returning to the terminal")
    calls_before = server.request_count
    assert main(args) == 0
    record = read_runs(data)[-1]
    stages = record["stages"]
    assert record["status"] == "ok"
    assert record["plan"]["wash"] == {
        "run": True,
        "reason": "inputs changed since the last successful run",
    }
    wash = stages["wash"]["counters"]
    assert (wash["cleaned"], wash["reused"]) == (1, n_records - 1)
    assert (wash["chunked"], wash["chunk_reused"]) == (1, n_records - 1)
    refine = stages["refine"]["counters"]
    assert server.request_count - calls_before == refine["llm_calls"] == 1
    assert f"Record {EDITED} " in server.requests[-1]["messages"][-1]["content"]
    assert refine["cache_hits"] == n_records - 1
    chunks = list(read_jsonl(data / "rag_chunks.jsonl"))
    new_texts = [indexed_text(c) for c in chunks if c["doc_id"] == f"jira:{EDITED}"]
    index = stages["index"]["counters"]
    assert index["embedded"] == sum(t not in old_texts for t in new_texts) == len(new_texts)
    assert index["reused"] == len(chunks) - len(new_texts)
    assert stages["train"]["status"] == "ok", stages["train"]
    assert stages["train"]["in"] > 0 and stages["train"]["counters"]["steps"] > 0


# --- a failing stage ---------------------------------------------------------------------


def test_a_failing_stage_keeps_the_previous_artifacts(built_data_dir: Path, tmp_path: Path):
    data = copy_data_dir(built_data_dir, tmp_path / "data")
    kept = ["cleaned_corpus.jsonl", "rag_chunks.jsonl", "sft_train.jsonl", "index/current"]
    kept += ["adapters/current"]
    before = {name: (data / name).read_bytes() for name in kept}
    bad = write_config(tmp_path / "bad.yaml", model_b={"model": str(tmp_path / "no-such-model")})
    args = ["schedule", "full-cycle", "--synthesis", "--data-dir", str(data), "--config", str(bad)]
    assert main(args + source_args(demo_sources(built_data_dir))) == 1

    record = read_runs(data)[-1]
    assert record["status"] == "failed"
    assert record["plan"]["wash"]["run"] and record["stages"]["wash"]["status"] == "failed"
    assert "no-such-model" in record["errors"]["wash"]
    for stage in ("refine", "index", "train"):  # planned after wash, never started
        assert record["plan"][stage]["run"]
        assert record["stages"][stage]["reason"] == "not run: wash failed first"
    assert {name: (data / name).read_bytes() for name in kept} == before, "nothing replaced"
    assert retriever_hits(data, "appcd status")  # the previous index still answers


# --- the schedule goes on after a failed run --------------------------------------------


def test_run_periodically_runs_again_after_a_failure_and_never_overlaps():
    calls: list[float] = []
    running = []
    overlap = threading.Event()

    def job() -> int:
        running.append(1)
        if len(running) > 1:
            overlap.set()
        calls.append(time.monotonic())
        time.sleep(0.5)  # longer than the interval: the next run must wait, not overlap
        running.pop()
        if len(calls) == 1:
            raise RuntimeError("first run fails")
        request_stop("test done")
        return 0

    assert run_periodically(job, IntervalTrigger(seconds=0.2)) == 2
    assert len(calls) == 2 and not overlap.is_set()


def test_schedule_survives_a_failed_run_and_stops_on_sigterm(built_data_dir: Path, tmp_path: Path):
    data = copy_data_dir(built_data_dir, tmp_path / "data")
    config = write_config(tmp_path / "models.yaml", model_b={"model": str(tmp_path / "missing")})
    logged = len(read_runs(data))
    proc = cli(
        "schedule",
        "schedule",
        "--interval",
        "0.0005",  # 1.8 s
        "--data-dir",
        str(data),
        "--config",
        str(config),
        *source_args(demo_sources(built_data_dir)),
    )
    try:
        failed = wait_for(lambda: complete_runs(data)[logged:], "the first run", proc)[0]
        assert failed["status"] == "failed" and "missing" in failed["errors"]["wash"]
        write_config(config)  # fix the config: a later scheduled run must happen and pass
        wait_for(
            lambda: [r for r in complete_runs(data)[logged:] if r["status"] == "ok"],
            "a run after the failed one",
            proc,
        )
        proc.send_signal(signal.SIGTERM)  # between runs: the scheduler stops at once
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-3000:]
    assert "scheduled run 1: finished with exit status 1" in err
    assert re.search(r"scheduled run [2-9]: finished with exit status 0", err)
    assert "scheduler stopped after" in err
    records = read_runs(data)[logged:]
    assert all(r["start"] for r in records)
    assert all(a["end"] <= b["start"] for a, b in itertools.pairwise(records)), "no overlap"


def test_trigger_options_are_checked(tmp_path: Path):
    assert "interval[1:30:00]" in str(make_trigger(interval_hours=1.5))
    assert "cron[" in str(make_trigger(cron="0 3 * * *"))
    for bad, message in (
        ({}, "either --interval"),
        ({"interval_hours": 1, "cron": "0 3 * * *"}, "either --interval"),
        ({"interval_hours": 0}, "positive"),
        ({"cron": "every day"}, "invalid --cron"),
    ):
        with pytest.raises(ValueError, match=message):
            make_trigger(**bad)
    with pytest.raises(SystemExit, match="give either --interval HOURS or --cron EXPR"):
        main(["schedule", "schedule", "--data-dir", str(tmp_path)])


# --- one run at a time, and SIGTERM --------------------------------------------------------


def test_concurrent_cycle_is_refused_and_sigterm_stops_before_the_next_stage(
    built_data_dir: Path, tmp_path: Path
):
    data = copy_data_dir(built_data_dir, tmp_path / "data")
    jira = tmp_path / "jira"
    shutil.copytree(SAMPLE_RAW / "jira", jira)
    edit_summary(jira, EDITED, "appcd start does not return to the prompt")
    # New LoRA settings, so that train is planned after index.
    config = write_config(tmp_path / "models.yaml", model_c={"training": {"epochs": 1}})
    sources = {**demo_sources(built_data_dir), "jira": [str(jira)]}
    args = ["schedule", "full-cycle", "--data-dir", str(data), "--config", str(config)]
    args += source_args(sources)
    adapter = (data / "adapters" / "current").read_bytes()
    logged = len(read_runs(data))

    first = cli(*args, env={**os.environ, PAUSE_ENV: "20"})
    try:
        paused = wait_for(
            lambda: list((data / "index" / "versions").glob(".tmp-*/.paused")),
            "the index stage to be half-written",
            first,
        )
        first.send_signal(signal.SIGTERM)  # mid-stage: the index must still be completed
        second = subprocess.run(
            [str(BIN / "data-alchemy"), *args], capture_output=True, text=True, cwd=ROOT
        )
        assert first.poll() is None, "the first run must still hold the lock"
        out, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()

    assert second.returncode == 3
    assert f"not started: another run holds {data / '.pipeline.lock'}" in second.stderr
    assert first.returncode == 1, err[-3000:]
    records = read_runs(data)[logged:]
    assert len(records) == 1, "the refused run must not be logged as a run"
    record = records[0]
    assert record["status"] == INTERRUPTED
    assert [record["stages"][s]["status"] for s in STAGES] == ["ok", "skipped", "ok", INTERRUPTED]
    assert record["errors"] == {"train": "not started: SIGTERM received"}
    assert "run " in out and ": interrupted" in out
    version = paused[0].parent.name.removeprefix(".tmp-")
    assert (data / "index" / "current").read_text().strip() == version
    assert not list((data / "index" / "versions").glob(".tmp-*"))
    assert retriever_hits(data, "appcd start does not return to the prompt")
    assert (data / "adapters" / "current").read_bytes() == adapter
    assert not [p for p in data.iterdir() if p.name.endswith(".tmp")]


# --- the run record and the stop request, without a graph ----------------------------------


def test_run_record_lists_plan_counts_time_and_errors():
    plan = {
        "wash": {"run": True, "reason": "inputs changed since the last successful run"},
        "refine": {"run": False, "reason": "synthesis not requested (--synthesis)"},
        "index": {"run": True, "reason": "wash runs first; inputs may change"},
        "train": {"run": True, "reason": "refine runs first; inputs may change"},
    }
    wash = StageReport("wash", reason="python engine")
    wash.count("cleaned", 1)
    wash.items_in = wash.items_out = 3
    for n in range(25):
        wash.fail(f"jira:X-{n}", "clean: ValueError: bad")
    index = StageReport("index", status="failed", reason="OSError: disk full")
    reports = {"wash": wash.finish().to_dict(), "index": index.finish().to_dict()}
    record = run_record(
        run_id="r1", start="2026-01-01T00:00:00+00:00", request={}, plan=plan, reports=reports
    )
    assert record["status"] == "failed"
    assert record["start"] <= record["end"]
    assert list(record["stages"]) == list(plan)
    logged = record["stages"]["wash"]
    assert logged["counters"] == {"cleaned": 1} and logged["failed"] == 25
    assert len(logged["failed_items"]) == 25 and logged["skipped_items"] == []  # all kept
    assert record["stages"]["refine"]["reason"] == plan["refine"]["reason"]
    assert record["stages"]["train"]["reason"] == "not run: index failed first"
    assert record["errors"] == {"index": "OSError: disk full"}


def test_a_stop_request_keeps_later_stages_from_starting(tmp_path: Path):
    settings = load_settings()
    with stop_on_signals():
        request_stop("SIGTERM received")
        report = run_if_changed("index", settings, tmp_path, lambda: pytest.fail("must not run"))
    assert (report.status, report.reason) == (INTERRUPTED, "not started: SIGTERM received")
    reports = {"index": report.to_dict()}
    assert run_record(run_id="r", start=None, request={}, plan={}, reports=reports)["status"] == (
        INTERRUPTED
    )
