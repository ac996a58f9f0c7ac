"""Per-record incremental wash on the sample data: only new or changed records are washed,
and the files written are the same bytes as a fresh run, in both engines."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tools.config import Settings, SourcesSettings, WashSettings
from tools.datadir import DataDir
from tools.jsonl import read_jsonl
from tools.report import StageReport
from tools.sample_data import SAMPLE_RAW, rebuild_repo
from tools.wash import run_wash

# artifact names, relative to a data dir
CLEANED_CORPUS = DataDir(Path()).cleaned_corpus.name
RAG_CHUNKS = DataDir(Path()).rag_chunks.name
CACHE_FILE = DataDir(Path()).wash_cache

OUTPUTS = (CLEANED_CORPUS, RAG_CHUNKS)
EDITED = "DAEMON-187"  # its summary changes
# ALOY-2 takes ALOY-3's fields: an exact duplicate; the smaller id (ALOY-2) survives.
COPY, ORIGINAL = "ALOY-2", "ALOY-3"
INCREMENTAL = ("cleaned", "reused", "chunked", "chunk_reused")
SETTINGS = Settings(wash=WashSettings(spark_master="local[2]"))


@pytest.fixture(scope="module")
def git_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real git repository rebuilt from the sample commit export."""
    target = tmp_path_factory.mktemp("incremental-git") / "appc-daemon"
    return rebuild_repo(SAMPLE_RAW / "git" / "appc-daemon.commits.jsonl", target)


@pytest.fixture
def sources(tmp_path_factory: pytest.TempPathFactory, git_repo: Path) -> SourcesSettings:
    """The bundled sample data: a copy of the Jira files to edit, the docs, the git repo."""
    jira = tmp_path_factory.mktemp("incremental-jira") / "jira"
    shutil.copytree(SAMPLE_RAW / "jira", jira)
    return SourcesSettings(jira=[str(jira)], docs=[str(SAMPLE_RAW / "docs")], git=[str(git_repo)])


def edit_issue(sources: SourcesSettings, key: str, change) -> None:
    """Rewrite one sample Jira file after ``change(issue)`` edited it in place."""
    path = Path(sources.jira[0]) / f"{key}.json"
    issue = json.loads(path.read_text(encoding="utf-8"))
    change(issue)
    path.write_text(json.dumps(issue), encoding="utf-8")


def edit_sources(sources: SourcesSettings) -> None:
    """Change one issue's summary and turn another into an exact copy of a third."""
    edit_issue(sources, EDITED, lambda issue: issue["fields"].update(summary="Edited summary"))
    original = json.loads((Path(sources.jira[0]) / f"{ORIGINAL}.json").read_text("utf-8"))
    edit_issue(sources, COPY, lambda issue: issue.update(fields=original["fields"]))


def outputs(data: Path) -> dict[str, bytes]:
    return {name: (data / name).read_bytes() for name in OUTPUTS}


def counts(report: StageReport) -> dict[str, int]:
    return {name: report.counters[name] for name in INCREMENTAL}


def comparable(report: StageReport) -> dict[str, Any]:
    """What a cached and a fresh run must agree on: all but time, engine and cache counts."""
    out = {k: v for k, v in report.to_dict().items() if k not in ("seconds", "reason")}
    out["counters"] = {k: v for k, v in out["counters"].items() if k not in INCREMENTAL}
    return out


def cache_rows(data: Path) -> dict[str, int]:
    with sqlite3.connect(data / CACHE_FILE) as db:
        return {
            t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("cleaned", "chunks")
        }


def test_only_changed_records_are_washed_and_outputs_match_a_fresh_run(
    tmp_path: Path, sources: SourcesSettings
) -> None:
    first = run_wash(SETTINGS, tmp_path / "inc", "python", sources)
    total = first.counters["cleaned"]
    assert total == sum(v for k, v in first.counters.items() if k.startswith("loaded:")) > 400
    assert counts(first) == {"cleaned": total, "reused": 0, "chunked": total, "chunk_reused": 0}
    before = outputs(tmp_path / "inc")

    again = run_wash(SETTINGS, tmp_path / "inc", "python", sources)
    assert counts(again) == {"cleaned": 0, "reused": total, "chunked": 0, "chunk_reused": total}
    assert outputs(tmp_path / "inc") == before
    assert comparable(again) == comparable(first)

    edit_sources(sources)
    shutil.copytree(tmp_path / "inc", tmp_path / "spark")
    changed = run_wash(SETTINGS, tmp_path / "inc", "python", sources)
    # The edited issue and the copy are cleaned again; the unchanged original is now dropped
    # as the copy's duplicate, so the copy (listing it) and the edited issue are chunked.
    assert counts(changed) == {
        "cleaned": 2,
        "reused": total - 2,
        "chunked": 2,
        "chunk_reused": total - 3,
    }
    assert changed.counters["duplicates:exact"] == 1
    corpus = {row["id"]: row for row in read_jsonl(tmp_path / "inc" / CLEANED_CORPUS)}
    assert f"jira:{ORIGINAL}" not in corpus
    assert corpus[f"jira:{COPY}"]["metadata"]["duplicates"] == [f"jira:{ORIGINAL}"]
    assert corpus[f"jira:{EDITED}"]["title"] == "Edited summary"

    fresh = run_wash(SETTINGS, tmp_path / "fresh", "python", sources)
    spark = run_wash(SETTINGS, tmp_path / "spark", "spark", sources)
    assert counts(spark) == counts(changed)
    assert spark.reason == "spark engine on local[2]"
    assert outputs(tmp_path / "inc") == outputs(tmp_path / "fresh") == outputs(tmp_path / "spark")
    assert comparable(changed) == comparable(fresh) == comparable(spark)
    # The cache holds what the current sources need, not every version ever seen.
    assert cache_rows(tmp_path / "inc") == {"cleaned": total, "chunks": total - 1}


def test_spark_is_not_started_when_every_record_is_cached(
    tmp_path: Path, sources: SourcesSettings
) -> None:
    run_wash(SETTINGS, tmp_path, "python", sources)
    report = run_wash(SETTINGS, tmp_path, "spark", sources)
    assert report.status == "ok" and report.counters["cleaned"] == 0
    assert report.reason == "spark engine on local[2] (not started: nothing new to clean or chunk)"


def test_an_unreadable_cache_is_replaced_and_the_output_is_unchanged(
    tmp_path: Path, sources: SourcesSettings
) -> None:
    run_wash(SETTINGS, tmp_path, "python", sources)
    expected = outputs(tmp_path)
    (tmp_path / CACHE_FILE).write_bytes(b"this is not a database\n" * 100)
    report = run_wash(SETTINGS, tmp_path, "python", sources)
    assert report.counters["cache_reset"] == 1
    assert report.counters["reused"] == 0 and report.counters["cleaned"] > 400
    assert outputs(tmp_path) == expected


def test_a_failed_write_replaces_neither_file(tmp_path: Path, sources: SourcesSettings) -> None:
    run_wash(SETTINGS, tmp_path, "python", sources)
    corpus_before = (tmp_path / CLEANED_CORPUS).read_bytes()
    edit_issue(sources, EDITED, lambda issue: issue["fields"].update(summary="Edited summary"))
    (tmp_path / RAG_CHUNKS).unlink()
    (tmp_path / RAG_CHUNKS).mkdir()  # the second file cannot be put in place
    with pytest.raises(IsADirectoryError):
        run_wash(SETTINGS, tmp_path, "python", sources)
    assert (tmp_path / CLEANED_CORPUS).read_bytes() == corpus_before
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
