"""The README's promises, end to end on the bundled sample data."""

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import copy_data_dir
from tools.jsonl import read_jsonl
from tools.runs import read_runs

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]
# What libraries print when left alone: warnings, weight-loading bars, loader chatter.
LIBRARY_NOISE = re.compile(
    r"Warning|warnings\.warn|Loading weights|it/s\]|faiss\.loader|bm25s|\[transformers\]"
)


def test_demo_built_every_artifact(built_data_dir):
    for name in ("cleaned_corpus.jsonl", "rag_chunks.jsonl", "sft_train.jsonl", "sft_eval.jsonl"):
        assert (built_data_dir / name).stat().st_size > 0, name
    assert (built_data_dir / "index" / "current").exists() or any(
        (built_data_dir / "index").iterdir()
    )
    assert (built_data_dir / "adapters" / "current").is_file()
    runs = read_runs(built_data_dir)
    assert runs[-1]["status"] == "ok"
    assert set(runs[-1]["stages"]) == {"wash", "refine", "index", "train"}
    records = list(read_jsonl(built_data_dir / "cleaned_corpus.jsonl"))
    assert {r["source"] for r in records} == {"jira", "git", "docs"}
    assert not any("@appcelerator.com" in json.dumps(r) for r in records), "emails must go"


def test_python_api_as_readme_shows(built_data_dir):
    code = (
        "from graph.chat import graph; "
        "r = graph.invoke({'question': 'How do I stop the daemon?'}, "
        f"context={{'data_dir': {str(built_data_dir)!r}}}); "
        "import json; print(json.dumps({'answer': r['answer'], 'citations': r['citations']}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert "[1]" in result["answer"]
    assert result["citations"][0]["snippet"]


def test_chat_json_contract(built_data_dir):
    proc = subprocess.run(
        [
            str(BIN / "data-alchemy"),
            "chat",
            "--json",
            "--data-dir",
            str(built_data_dir),
            "--question",
            "What does appcd status print?",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    payload = json.loads(proc.stdout)
    assert {"answer", "citations", "used_lora", "intuition"} <= set(payload)
    # use_lora auto never pays for the smoke-test adapter's noise, and says why
    assert payload["intuition"] == {
        "text": None,
        "status": "skipped: adapter v0001 is on the smoke-test base",
    }
    assert payload["intuition_status"] == payload["intuition"]["status"]
    cite = payload["citations"][0]
    assert set(cite) >= {"source", "id", "title", "uri", "snippet"}
    assert "INFO" not in proc.stdout, "logs belong on stderr"
    assert [line for line in proc.stderr.splitlines() if LIBRARY_NOISE.search(line)] == []


def test_second_ingest_skips_unchanged_stages(built_data_dir, tmp_path):
    data = copy_data_dir(built_data_dir, tmp_path / "copy")
    sources = json.loads(json.dumps(read_runs(data)[-1]["request"]))
    assert sources["stages"] == ["wash", "refine", "index", "train"]
    proc = subprocess.run(
        [
            str(BIN / "data-alchemy"),
            "ingest",
            "--json",
            "--synthesis",
            "--data-dir",
            str(data),
            "--jira",
            str(ROOT / "data/raw/jira"),
            "--docs",
            str(ROOT / "data/raw/docs"),
            "--git",
            str(built_data_dir / "sample-repos" / "appc-daemon"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    reports = json.loads(proc.stdout)["reports"]
    for stage in ("wash", "refine", "index"):
        assert reports[stage]["status"] == "skipped", reports[stage]
        assert "unchanged" in reports[stage]["reason"]


def test_mistyped_source_path_fails_and_keeps_the_corpus(built_data_dir, tmp_path):
    data = copy_data_dir(built_data_dir, tmp_path / "copy")
    before = (data / "cleaned_corpus.jsonl").read_bytes()
    proc = subprocess.run(
        [
            str(BIN / "data-alchemy"),
            "ingest",
            "--json",
            "--data-dir",
            str(data),
            "--docs",
            str(tmp_path / "no-such-folder"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    wash = json.loads(proc.stdout)["reports"]["wash"]
    assert wash["status"] == "failed" and "no record loaded" in wash["reason"]
    assert (data / "cleaned_corpus.jsonl").read_bytes() == before


def test_three_turns_keep_the_topic_and_the_third_answer_is_about_the_third_question(
    built_data_dir,
):
    from langgraph.checkpoint.memory import InMemorySaver

    from graph.chat import build_chat_graph
    from graph.configuration import Context

    graph = build_chat_graph(checkpointer=InMemorySaver())
    context = Context(data_dir=str(built_data_dir), use_lora=False)
    config = {"configurable": {"thread_id": "three-turns"}}
    turns = [
        graph.invoke({"question": question}, config, context=context)
        for question in (
            "What fixed DAEMON-187?",
            "Which files did that change?",
            "How do I stop the daemon?",
        )
    ]
    first = turns[0]["citations"]  # the fixing commit first, then the issue
    assert first[0]["source"] == "git" and "DAEMON-187" in first[0]["title"]
    assert "DAEMON-187" in {c["id"] for c in first}
    # the follow-up keeps the user's subject, not the other issues and people the answer named
    assert turns[1]["standalone_question"] == (
        "Regarding DAEMON-187, fixed: Which files did that change?"
    )
    assert turns[2]["standalone_question"] == "How do I stop the daemon?"
    third = {c["id"] for c in turns[2]["citations"]}
    assert "CLI/stop.md" in third and "DAEMON-187" not in third
    assert len(turns[2]["messages"]) == 6  # the thread kept all three turns
