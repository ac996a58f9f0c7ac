"""Retrieval metrics, the question file format, and the Alloy tuning set."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.test_index_build import corpus_chunks, write_chunks
from tools.config import Settings
from tools.evalset import load_questions, load_sha_map
from tools.index.build import run_index
from tools.index.evaluate import evaluate_retrieval, question_metrics, ranked_records
from tools.index.search import Retriever

GOLD = {"source": "jira", "id": "A-1"}

TUNING_SET = Path(__file__).resolve().parents[1] / "data" / "eval" / "alloy_tuning.jsonl"


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
        (json.dumps({"question": "q", "gold": []}), "'gold' must be a non-empty list"),
        (json.dumps({"question": "q", "gold": [{"id": "A-1"}]}), "'gold' must be"),
        (json.dumps({"question": "q", "kind": "unanswerable", "gold": [GOLD]}), "'gold' must"),
        (json.dumps({"question": "q", "kind": "wiki", "gold": [GOLD]}), "'kind' must be"),
        (json.dumps({"question": "q", "gold": [GOLD], "facts": [""]}), "'facts' must be"),
    ],
)
def test_bad_question_files_name_the_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "q.jsonl"
    good = json.dumps({"question": "q", "gold": [GOLD]})
    path.write_text(good + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=f"q.jsonl:2: {message}"):
        load_questions(path)


def test_old_and_new_formats_and_the_sha_map(tmp_path: Path) -> None:
    old, new = "f86a7d37" + "0" * 32, "26caee6d" + "1" * 32
    lines = [
        {"question": "what is A-1?", "gold": [GOLD]},
        {
            "id": "g1",
            "question": "what fixed A-1?",
            "kind": "git",
            "gold": [{"source": "git", "id": old}, GOLD],
            "facts": ["fixed it", old[:8]],
        },
        {"id": "u1", "question": "who is the CEO?", "kind": "unanswerable", "gold": []},
    ]
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in lines), encoding="utf-8")
    (tmp_path / "map.json").write_text(json.dumps({old: new}), encoding="utf-8")

    first, second, third = load_questions(path, load_sha_map(tmp_path / "map.json"))

    assert (first["id"], first["kind"], first["facts"]) == ("q1", "jira", [])
    assert second["gold"] == [{"source": "git", "id": new}, GOLD]
    assert second["facts"] == ["fixed it", new]  # the original's short sha, as rebuilt
    assert (third["kind"], third["gold"], third["facts"]) == ("unanswerable", [], [])


def test_the_tuning_set_is_well_formed(corpus_dir: Path) -> None:
    questions = load_questions(TUNING_SET)
    kinds = [q["kind"] for q in questions]
    assert len(questions) >= 70
    assert kinds.count("git") >= 15 and kinds.count("unanswerable") >= 8
    docs_root = corpus_dir / "docs" / "alloy"
    for item in questions:
        assert item["facts"] or item["kind"] == "unanswerable", item["id"]
        for gold in item["gold"]:
            if gold["source"] == "git":
                assert re.fullmatch("[0-9a-f]{40}", gold["id"]), gold
            elif item["kind"] != "git":  # the subset holds the Jira and docs questions' gold
                root = docs_root if gold["source"] == "docs" else corpus_dir / "jira" / "ALOY"
                name = gold["id"] if gold["source"] == "docs" else f"{gold['id']}.json"
                assert (root / name).is_file(), gold
    for field in ("id", "question"):
        values = [item[field] for item in questions]
        assert len(set(values)) == len(values), field


def _title_of(corpus_dir: Path, key: str) -> str:
    issue = json.loads((corpus_dir / "jira" / "ALOY" / f"{key}.json").read_text())
    return issue["fields"]["summary"]


def test_jira_questions_are_not_copied_titles(corpus_dir: Path) -> None:
    for item in load_questions(TUNING_SET):
        if item["kind"] != "jira":
            continue
        for gold in item["gold"]:
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
        {"question": "who is the CEO?", "kind": "unanswerable", "gold": []},
    ]
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in questions), encoding="utf-8")

    result = evaluate_retrieval(retriever, path, k=10)

    assert result["n"] == 2  # the unanswerable question is left out
    assert set(result) == {"dense", "bm25", "hybrid", "hybrid_by_kind", "n"}
    assert result["hybrid_by_kind"] == {"jira": {**result["hybrid"], "n": 2}}
    for mode in ("dense", "bm25", "hybrid"):
        assert set(result[mode]) == {"hit@1", "hit@5", "mrr@10", "ndcg@10"}
        assert result[mode]["hit@5"] == 0.5  # the first is found, the second cannot be
        assert 0.25 <= result[mode]["mrr@10"] <= 0.5
