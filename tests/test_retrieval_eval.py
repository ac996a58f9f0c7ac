"""Retrieval metrics, the question file format, and the ALOY development set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.test_index_build import corpus_chunks, write_chunks
from tools.config import Settings
from tools.index.build import run_index
from tools.index.evaluate import (
    evaluate_retrieval,
    load_questions,
    question_metrics,
    ranked_records,
)
from tools.index.search import Retriever

DEV_SET = Path(__file__).resolve().parents[1] / "data" / "eval" / "aloy_dev.jsonl"


def test_metrics_of_one_ranked_list() -> None:
    ranked = [("jira", "A-1"), ("jira", "A-2"), ("git", "abc"), ("docs", "x.md")]
    m = question_metrics(ranked, {("jira", "A-2"), ("docs", "x.md")}, k=10)
    assert m["hit@1"] == 0.0
    assert m["hit@5"] == 1.0
    assert m["mrr@10"] == pytest.approx(0.5)
    dcg = 1 / 1.5849625 + 1 / 2.3219281
    assert m["ndcg@10"] == pytest.approx(dcg / (1 + 1 / 1.5849625), rel=1e-6)
    assert question_metrics(ranked, {("git", "zzz")}, k=10) == {
        "hit@1": 0.0,
        "hit@5": 0.0,
        "mrr@10": 0.0,
        "ndcg@10": 0.0,
    }
    assert question_metrics(ranked, {("jira", "A-1")}, k=10)["ndcg@10"] == 1.0


def test_ranked_records_are_distinct_display_ids() -> None:
    hits = [
        {"source": "jira", "doc_id": "jira:A-1"},
        {"source": "jira", "doc_id": "jira:A-1"},
        {"source": "git", "doc_id": "git:repo@" + "a" * 40},
        {"source": "docs", "doc_id": "docs:guide/x.md"},
    ]
    assert ranked_records(hits, 2) == [("jira", "A-1"), ("git", "a" * 40)]
    assert ranked_records(hits, 10)[-1] == ("docs", "guide/x.md")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{oops", "not JSON"),
        (json.dumps({"gold": [{"source": "jira", "id": "A-1"}]}), "missing 'question'"),
        (json.dumps({"question": "q", "gold": []}), "'gold' must be"),
        (json.dumps({"question": "q", "gold": [{"id": "A-1"}]}), "'gold' must be"),
    ],
)
def test_bad_question_files_name_the_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "q.jsonl"
    good = json.dumps({"question": "q", "gold": [{"source": "jira", "id": "A-1"}]})
    path.write_text(good + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=f"q.jsonl:2: {message}"):
        load_questions(path)


def test_the_development_set_is_well_formed(corpus_dir: Path) -> None:
    questions = load_questions(DEV_SET)
    assert len(questions) >= 40
    docs_root = corpus_dir / "docs" / "alloy"
    for item in questions:
        for gold in item["gold"]:
            if gold["source"] == "jira":
                assert (corpus_dir / "jira" / "ALOY" / f"{gold['id']}.json").is_file(), gold
            else:
                assert gold["source"] == "docs"
                assert (docs_root / gold["id"]).is_file(), gold
    texts = [item["question"] for item in questions]
    assert len(set(texts)) == len(texts)


def _title_of(corpus_dir: Path, key: str) -> str:
    issue = json.loads((corpus_dir / "jira" / "ALOY" / f"{key}.json").read_text())
    return issue["fields"]["summary"]


def test_dev_questions_are_not_copied_titles(corpus_dir: Path) -> None:
    for item in load_questions(DEV_SET):
        for gold in item["gold"]:
            if gold["source"] == "jira":
                title = _title_of(corpus_dir, gold["id"]).strip().lower()
                assert title not in item["question"].lower(), (title, item["question"])


@pytest.fixture(scope="module")
def retriever(tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path) -> Retriever:
    data_dir = tmp_path_factory.mktemp("data")
    write_chunks(data_dir, corpus_chunks(corpus_dir, limit=60))
    assert run_index(Settings(), data_dir).status == "ok"
    return Retriever(Settings(), data_dir)


def test_evaluate_retrieval_scores_every_mode(retriever: Retriever, tmp_path: Path) -> None:
    questions: list[dict[str, Any]] = [
        {
            "question": "HTML parser fails on an unclosed link tag",
            "gold": [{"source": "jira", "id": "ALOY-4"}],
        },
        {
            "question": "something no record talks about: quantum knitting",
            "gold": [{"source": "jira", "id": "ALOY-99999"}],
        },
    ]
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in questions), encoding="utf-8")

    result = evaluate_retrieval(retriever, path, k=10)

    assert result["n"] == 2
    assert set(result) == {"dense", "bm25", "hybrid", "n"}
    for mode in ("dense", "bm25", "hybrid"):
        assert set(result[mode]) == {"hit@1", "hit@5", "mrr@10", "ndcg@10"}
        assert result[mode]["hit@5"] == 0.5  # the first is found, the second cannot be
        assert 0.25 <= result[mode]["mrr@10"] <= 0.5
