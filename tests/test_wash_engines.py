"""Python and Spark wash engines on a real subset: byte-identical outputs, dedup, redaction."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tools.config import Settings, SourcesSettings, WashSettings
from tools.datadir import DataDir
from tools.jsonl import read_jsonl
from tools.records import SourceRecord
from tools.report import StageReport
from tools.sample_data import rebuild_repo
from tools.wash import run_wash
from tools.wash.pipeline import wash_records
from tools.wash.python_engine import PythonEngine
from tools.wash.spark_engine import SparkEngine

# artifact names, relative to a data dir
CLEANED_CORPUS = DataDir(Path()).cleaned_corpus.name
RAG_CHUNKS = DataDir(Path()).rag_chunks.name

# Planted in a copy of a real issue: each must be gone from every output.
SECRETS = {
    "email": "jane.doe@example-corp.com",
    "aws-access-key": "AKIAZ7Q3J5LKD9W2XBHT",
    "github-token": "ghp_4fTq9ZrW2mXc8VbN1kLp6sHy3dJe7gUa0QoR",
    "password": "Tr0ub4dor-horse-staple",
}
EXACT_COPY = "ALOY-90002"  # a second key holding ALOY-11's fields
SECRET_ISSUE = "ALOY-90001"
NEAR_COPY = "Core Services/subprocess (edited copy).md"


def build_inputs(
    corpus: Path, root: Path, *, issues: int, commits: int, docs: int
) -> SourcesSettings:
    """Copy a real subset of the corpus into ``root`` and plant duplicates and secrets."""
    jira = root / "jira"
    jira.mkdir(parents=True)
    for project in ("ALOY", "DAEMON"):
        first = 10 if project == "ALOY" else 100
        for n in range(first, first + issues):
            shutil.copy(corpus / "jira" / project / f"{project}-{n}.json", jira)
    shutil.copy(corpus / "jira" / "DAEMON" / "project.json", jira / "DAEMON-project.json")
    (jira / "broken.json").write_text('{"key": "ALOY-1", "fields": {', encoding="utf-8")
    base = json.loads((corpus / "jira" / "ALOY" / "ALOY-11.json").read_text(encoding="utf-8"))
    (jira / f"{EXACT_COPY}.json").write_text(
        json.dumps({**base, "id": "990002", "key": EXACT_COPY}), encoding="utf-8"
    )
    planted = json.loads((corpus / "jira" / "ALOY" / "ALOY-12.json").read_text(encoding="utf-8"))
    fields = planted["fields"]
    fields["summary"] += f" (reported by {SECRETS['email']})"
    fields["description"] = (fields.get("description") or "") + (
        f"\n\nDeploy with aws_access_key_id = {SECRETS['aws-access-key']} and the token "
        f"{SECRETS['github-token']}; the admin password={SECRETS['password']}"
    )
    (jira / f"{SECRET_ISSUE}.json").write_text(
        json.dumps({**planted, "id": "990001", "key": SECRET_ISSUE}), encoding="utf-8"
    )

    repo = rebuild_repo(
        corpus / "git" / "appc-daemon.commits.jsonl", root / "appc-daemon", limit=commits
    )

    documents = root / "docs"
    services = corpus / "docs" / "appc-daemon" / "docs" / "Core Services"
    (documents / "Core Services").mkdir(parents=True)
    for path in sorted(services.glob("*.md"))[:docs]:
        shutil.copy(path, documents / "Core Services")
    words = (services / "subprocess.md").read_text(encoding="utf-8").split(" ")
    edited = " ".join(w for i, w in enumerate(words) if i % 150 != 149)  # drop 1 word in 150
    (documents / NEAR_COPY).write_text(edited, encoding="utf-8")
    shutil.copy(services / "subprocess.md", documents / "Core Services")
    return SourcesSettings(jira=[str(jira)], git=[str(repo)], docs=[str(documents)])


def comparable(report: StageReport) -> dict[str, Any]:
    """A report without what differs between engines by nature (time, engine name)."""
    return {k: v for k, v in report.to_dict().items() if k not in ("seconds", "reason")}


@pytest.fixture(scope="module")
def washed(tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("wash")
    sources = build_inputs(corpus_dir, root / "in", issues=20, commits=40, docs=6)
    settings = Settings(wash=WashSettings(spark_master="local[2]"))
    reports = {
        mode: run_wash(settings, root / mode, mode=mode, sources=sources)
        for mode in ("python", "spark")
    }
    return {"root": root, "reports": reports}


def test_both_engines_write_byte_identical_files(washed: dict[str, Any]) -> None:
    root = washed["root"]
    for name in (CLEANED_CORPUS, RAG_CHUNKS):
        python_bytes = (root / "python" / name).read_bytes()
        assert python_bytes, name
        assert python_bytes == (root / "spark" / name).read_bytes(), name
    reports = washed["reports"]
    assert comparable(reports["python"]) == comparable(reports["spark"])
    assert reports["spark"].reason == "spark engine on local[2]"


def test_outputs_are_complete_and_sorted(washed: dict[str, Any]) -> None:
    root = washed["root"] / "python"
    report = washed["reports"]["python"]
    corpus = list(read_jsonl(root / CLEANED_CORPUS))
    chunks = list(read_jsonl(root / RAG_CHUNKS))
    ids = [row["id"] for row in corpus]
    assert ids == sorted(ids) and len(ids) == len(set(ids)) == report.items_out
    assert {row["source"] for row in corpus} == {"jira", "git", "docs"}
    assert report.counters["chunks"] == len(chunks)
    assert [(c["doc_id"], c["position"]) for c in chunks] == sorted(
        (c["doc_id"], c["position"]) for c in chunks
    )
    assert {c["doc_id"] for c in chunks} == set(ids)  # every record is retrievable
    by_id = {row["id"]: row for row in corpus}
    for chunk in chunks:
        record = by_id[chunk["doc_id"]]
        assert chunk["chunk_id"] == f"{record['id']}#{chunk['position']}"
        assert (chunk["source"], chunk["uri"], chunk["title"], chunk["metadata"]) == (
            record["source"],
            record["uri"],
            record["title"],
            record["metadata"],
        )
    loaded = sum(v for k, v in report.counters.items() if k.startswith("loaded:"))
    assert loaded == report.items_out + len(report.failed) + sum(
        1 for s in report.skipped if s["reason"].startswith("duplicate of ")
    )
    reasons = {Path(s["item"]).name: s["reason"] for s in report.skipped}
    assert "malformed JSON" in reasons["broken.json"]
    assert "DAEMON-project.json" in reasons
    assert report.failed == []


def test_duplicates_are_dropped_with_their_survivor_recorded(washed: dict[str, Any]) -> None:
    report = washed["reports"]["python"]
    corpus = {row["id"]: row for row in read_jsonl(washed["root"] / "python" / CLEANED_CORPUS)}
    skipped = {s["item"]: s["reason"] for s in report.skipped}
    assert skipped[f"jira:{EXACT_COPY}"].startswith("duplicate of jira:ALOY-11 (exact")
    assert f"jira:{EXACT_COPY}" not in corpus
    assert f"jira:{EXACT_COPY}" in corpus["jira:ALOY-11"]["metadata"]["duplicates"]
    near = next(k for k in skipped if k.endswith("(edited copy).md"))
    assert skipped[near].startswith("duplicate of docs:") and "(near, jaccard 0.9" in skipped[near]
    survivor = skipped[near].removeprefix("duplicate of ").rsplit(" (", 1)[0]
    assert survivor == "docs:Core Services/subprocess.md"
    assert near in corpus[survivor]["metadata"]["duplicates"]
    assert report.counters["duplicates:exact"] >= 1 and report.counters["duplicates:near"] >= 1


def test_secrets_are_redacted_in_every_output(washed: dict[str, Any]) -> None:
    report = washed["reports"]["python"]
    for mode in ("python", "spark"):
        for name in (CLEANED_CORPUS, RAG_CHUNKS):
            text = (washed["root"] / mode / name).read_text(encoding="utf-8")
            for kind, secret in SECRETS.items():
                assert secret not in text, (mode, name, kind)
    corpus = {row["id"]: row for row in read_jsonl(washed["root"] / "spark" / CLEANED_CORPUS)}
    planted = corpus[f"jira:{SECRET_ISSUE}"]
    assert "[EMAIL]" in planted["title"]
    assert "[SECRET:aws-access-key]" in planted["text"]
    assert "[SECRET:" in planted["text"].split("the token")[1]
    assert report.counters["redacted:email"] > 1  # the plant, and real addresses in the corpus
    assert report.counters["redacted:aws-access-key"] >= 1


def test_a_record_that_cannot_be_cleaned_is_reported_by_both_engines(
    tmp_path: Path, corpus_dir: Path
) -> None:
    readme = corpus_dir / "docs" / "appc-daemon" / "README.md"
    good = SourceRecord(
        id="docs:appc-daemon/README.md",
        source="docs",
        uri=str(readme),
        title="Appc Daemon",
        text=readme.read_text(encoding="utf-8"),
    ).to_dict()
    bad = {**good, "id": "docs:bad.md", "text": ["not", "a", "string"]}
    settings = Settings(wash=WashSettings(spark_master="local[1]"))
    outputs = {}
    for engine in (PythonEngine(), SparkEngine(settings.wash.spark_master)):
        report = StageReport("wash")
        with engine:
            wash_records([bad, good], settings, tmp_path / engine.name, engine, report)
        assert [f["item"] for f in report.failed] == ["docs:bad.md"], engine.name
        assert report.failed[0]["error"].startswith("clean: ValueError")
        assert report.items_out == 1
        outputs[engine.name] = (tmp_path / engine.name / CLEANED_CORPUS).read_bytes()
    assert outputs["python"] == outputs["spark"]


def test_unusable_chunk_settings_fail_before_any_work(tmp_path: Path) -> None:
    settings = Settings(wash=WashSettings(chunk_tokens=64, chunk_overlap=40))
    with pytest.raises(ValueError, match="chunk_overlap"):
        run_wash(settings, tmp_path, mode="python", sources=SourcesSettings())
    assert not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match="unknown wash mode"):
        run_wash(Settings(), tmp_path, mode="dask")  # type: ignore[arg-type]
