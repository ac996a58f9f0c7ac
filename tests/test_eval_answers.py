"""``data-alchemy eval answers`` on real Alloy records, offline and with the LLM finalist.

A small real index: six Alloy issues, the Alloy docs subset, and every subset commit citing
those issues, rebuilt into a git repository (new shas) whose map back to the export's shas
(``rebuild_repo(..., sha_map=...)``) translates the gold ids through ``--sha-map``.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from cli import main
from tests.fakes.openai_server import Reply
from tools.evalset import load_questions
from tools.finalist.evaluate import facts_found, percentile, summarize
from tools.sample_data import rebuild_repo

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "tests" / "data" / "alloy_answers.jsonl"
ISSUES = ("ALOY-1633", "ALOY-1000", "ALOY-1262", "ALOY-1200", "ALOY-800", "ALOY-4")


@pytest.fixture(scope="module")
def indexed(corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("eval")
    jira = work / "jira"
    jira.mkdir()
    for key in ISSUES:
        shutil.copy(corpus_dir / "jira" / "ALOY" / f"{key}.json", jira)
    lines = (corpus_dir / "git" / "alloy.commits.jsonl").read_text("utf-8").splitlines()
    cites = re.compile("|".join(rf"\b{k}\b" for k in ISSUES))
    export = work / "alloy.commits.jsonl"
    export.write_text("\n".join(ln for ln in lines if cites.search(json.loads(ln)["message"])))
    sha_map = work / "sha-map.json"
    repo = rebuild_repo(export, work / "alloy", sha_map=sha_map)
    data = work / "data"
    args = ["ingest", "--data-dir", str(data), "--jira", str(jira), "--git", str(repo)]
    assert main([*args, "--docs", str(corpus_dir / "docs" / "alloy")]) == 0
    return {"data": data, "sha_map": sha_map}


def _eval(indexed: dict[str, Path], capsys, *extra: str) -> dict[str, Any]:
    args = ["eval", "answers", "--questions", str(QUESTIONS), "--json"]
    args += ["--data-dir", str(indexed["data"]), "--sha-map", str(indexed["sha_map"]), *extra]
    capsys.readouterr()
    assert main(args) == 0
    return json.loads(capsys.readouterr().out)


def test_offline_answers_are_scored(indexed, capsys):
    result = _eval(indexed, capsys)

    assert result["finalist"] == "extractive"
    assert (result["n"], result["answerable"], result["unanswerable"]) == (6, 4, 2)
    rows = {row["id"]: row for row in result["questions"]}
    assert rows["a-git"]["cited_gold"] == rows["a-git"]["cited"] >= 2  # the sha map works
    assert rows["a-git"]["facts_found"] == 2  # the commit's author and changed file
    assert result["facts_recall"] >= 0.75 and result["citation_precision"] >= 0.8
    assert result["correct_refusals"] == 1.0 and result["wrong_answers"] == 0.0
    assert result["false_refusals"] == 0.0
    assert set(result["by_kind"]) == {"docs", "git", "jira", "unanswerable"}
    assert 0 < result["latency_ms"]["p50"] <= result["latency_ms"]["p95"]


def test_the_llm_finalist_is_scored_against_the_local_server(
    indexed, capsys, openai_server, tmp_path
):
    def first_title(body: dict[str, Any]) -> Reply:
        """A model that answers with the title of the first source, citing it."""
        user = next(m["content"] for m in body["messages"] if m["role"] == "user")
        title = re.search(r"<source id=1>\nref: .*\ntitle: (.*)", user).group(1)
        return Reply(text=f"{title.rstrip('.')} [1].")

    server = openai_server(first_title)
    config = yaml.safe_load((ROOT / "models.yaml").read_text(encoding="utf-8"))
    config["model_d"] = {"provider": "openai", "base_url": server.base_url, "api_key": "k"}
    (tmp_path / "models.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")

    result = _eval(indexed, capsys, "--config", str(tmp_path / "models.yaml"))

    assert result["finalist"] == "openai"
    assert len(server.requests) == result["answerable"] == 4  # refusals never call the model
    assert result["correct_refusals"] == 1.0
    assert result["citation_precision"] == 1.0  # source 1 is the best record, a gold one
    assert 0.0 < result["facts_recall"] < 1.0  # a title holds some facts, not all


def test_figures_of_judged_rows() -> None:
    assert facts_found("Fixed by Ewan Harris in handle-alloy-globals.JS", ["ewan", "zz", "js"]) == 2
    commit = "Commit f86a7d3 by Chris Barber (pull request #481)"
    assert facts_found(commit, ["f86a7d37", "f86a7d3", "f86a7d37c0ffee", "f86a7e3", "#481"]) == 4
    assert facts_found("Commit 2915374 by X", ["2915374" + "0" * 33, "29153741"]) == 1  # digits
    assert facts_found("It took 3000000 ms", ["30000000"]) == 0  # a number is no sha
    assert percentile([30.0, 10.0, 20.0], 0.5) == 20.0
    assert percentile([10.0, 20.0], 0.95) == pytest.approx(19.5)
    rows = [
        {
            "kind": "jira",
            "refused": False,
            "facts": 2,
            "facts_found": 1,
            "cited": 2,
            "cited_gold": 1,
            "seconds": 0.1,
        },
        {
            "kind": "jira",
            "refused": True,
            "facts": 1,
            "facts_found": 0,
            "cited": 0,
            "cited_gold": 0,
            "seconds": 0.3,
        },
        {
            "kind": "unanswerable",
            "refused": False,
            "facts": 0,
            "facts_found": 0,
            "cited": 1,
            "cited_gold": 0,
            "seconds": 0.2,
        },
    ]
    summary = summarize(rows)
    assert summary["facts_recall"] == 0.25 and summary["citation_precision"] == 0.5
    assert summary["false_refusals"] == 0.5
    assert (summary["correct_refusals"], summary["wrong_answers"]) == (0.0, 1.0)
    assert summary["latency_ms"] == {"p50": 200.0, "p95": 290.0}


def test_the_question_file_reads() -> None:
    kinds = [q["kind"] for q in load_questions(QUESTIONS)]
    assert kinds.count("unanswerable") == 2 and len(kinds) == 6
