from pathlib import Path

import pytest

from graph.pipeline import next_step
from tools.config import load_settings
from tools.jsonl import write_jsonl
from tools.planning import fingerprint, make_plan, record_success
from tools.report import StageReport

RUN = {"run": True, "reason": "test"}
SKIP = {"run": False, "reason": "test"}


def fake_plan(**runs: bool) -> dict:
    return {s: RUN if runs.get(s) else SKIP for s in ("wash", "refine", "index", "train")}


@pytest.mark.parametrize(
    ("runs", "path"),
    [
        ({"wash": 1, "refine": 1, "index": 1, "train": 1}, ["wash", "refine", "index", "train"]),
        ({"wash": 1, "index": 1}, ["wash", "index"]),
        ({"train": 1}, ["train"]),
        ({}, []),
        ({"refine": 1, "train": 1}, ["refine", "train"]),
    ],
)
def test_edges_follow_the_plan(runs, path):
    state = {"plan": fake_plan(**runs), "reports": {}}
    visited, where = [], None
    while (step := next_step(state, where)) != "finish":
        visited.append(step)
        where = step
    assert visited == path


def test_failed_stage_ends_the_run():
    state = {"plan": fake_plan(wash=1, index=1, train=1), "reports": {"wash": {"status": "failed"}}}
    assert next_step(state, "wash") == "finish"


def test_question_routes_to_chat_after_stages():
    state = {"plan": fake_plan(index=1), "question": "q?", "reports": {}}
    assert next_step(state, None) == "index"
    assert next_step(state, "index") == "chat"
    assert next_step({**state, "reports": {"index": {"status": "failed"}}}, "index") == "finish"


@pytest.fixture
def settings(tmp_path: Path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "models.yaml").write_text("sources:\n  docs: [raw]\n", encoding="utf-8")
    return load_settings(tmp_path / "models.yaml")


def test_plan_for_requests(settings, tmp_path):
    data = tmp_path / "data"
    plan = make_plan(settings, data, stages=["wash", "refine", "index"], synthesis=False)
    assert plan["wash"]["run"] and plan["index"]["run"]
    assert not plan["refine"]["run"] and "--synthesis" in plan["refine"]["reason"]
    assert plan["train"] == {"run": False, "reason": "not requested"}
    assert make_plan(settings, data, stages=["refine"])["refine"]["run"]
    assert make_plan(settings, data, synthesis=True)["train"]["run"]


def test_unchanged_inputs_are_skipped_with_reason(settings, tmp_path):
    data = tmp_path / "data"
    write_jsonl(data / "rag_chunks.jsonl", [{"chunk_id": "docs:a#0", "text": "hello"}])
    print_ = fingerprint("index", settings, data)
    record_success("index", data, print_, StageReport("index"))
    plan = make_plan(settings, data, stages=["index"])
    assert plan["index"] == {
        "run": False,
        "reason": "inputs unchanged since the last successful run",
        "fingerprint": print_,  # computed once, handed to the stage
    }
    assert make_plan(settings, data, stages=["index"], force=True)["index"]["run"]
    write_jsonl(data / "rag_chunks.jsonl", [{"chunk_id": "docs:a#0", "text": "changed"}])
    assert make_plan(settings, data, stages=["index"])["index"]["reason"].startswith(
        "inputs changed"
    )


def test_pending_work_keeps_a_stage_planned(settings, tmp_path):
    data = tmp_path / "data"
    write_jsonl(data / "cleaned_corpus.jsonl", [{"id": "docs:a"}])
    report = StageReport("refine")
    report.count("pending", 5)
    record_success("refine", data, fingerprint("refine", settings, data), report)
    plan = make_plan(settings, data, stages=["refine"])
    assert plan["refine"]["run"] and "pending" in plan["refine"]["reason"]


def test_rebuild_runs_the_index_even_when_unchanged(settings, tmp_path):
    data = tmp_path / "data"
    write_jsonl(data / "rag_chunks.jsonl", [{"chunk_id": "docs:a#0", "text": "hello"}])
    record_success("index", data, fingerprint("index", settings, data), StageReport("index"))
    assert not make_plan(settings, data, stages=["index"])["index"]["run"]
    plan = make_plan(settings, data, stages=["index"], rebuild=True)
    assert plan["index"] == {"run": True, "reason": "rebuild requested"}
