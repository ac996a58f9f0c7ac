"""Jira loader and source resolution on real issues copied from the corpus."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tools.config import Settings, SourcesSettings, WashSettings
from tools.loaders import load_sources, source_fingerprint
from tools.loaders.jira import browse_url, issue_to_record
from tools.records import SourceRecord
from tools.report import StageReport


def _load(
    tmp_path: Path, *entries: str, max_bytes: int = 5_000_000
) -> tuple[list[SourceRecord], StageReport]:
    settings = Settings(base_dir=tmp_path, wash=WashSettings(max_file_bytes=max_bytes))
    report = StageReport("wash")
    records = list(load_sources(SourcesSettings(jira=list(entries)), settings, report))
    return records, report


def _issue(corpus_dir: Path, key: str) -> dict:
    project = key.split("-")[0]
    return json.loads((corpus_dir / "jira" / project / f"{key}.json").read_text())


@pytest.fixture
def jira_dir(corpus_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "jira"
    for project, keys in {"ALOY": ["ALOY-1000", "ALOY-1015", "ALOY-210"], "DAEMON": []}.items():
        (target / project).mkdir(parents=True)
        shutil.copy(corpus_dir / "jira" / project / "project.json", target / project)
        for key in keys:
            shutil.copy(corpus_dir / "jira" / project / f"{key}.json", target / project)
    return target


def test_issue_files_become_records(jira_dir: Path, tmp_path: Path) -> None:
    records, report = _load(tmp_path, "jira")
    assert [r.id for r in records] == ["jira:ALOY-1000", "jira:ALOY-1015", "jira:ALOY-210"]
    assert report.items_in == 5
    assert {s["item"] for s in report.skipped} == {
        str(jira_dir / "ALOY" / "project.json"),
        str(jira_dir / "DAEMON" / "project.json"),
    }
    assert all("not a Jira issue" in s["reason"] for s in report.skipped)
    assert report.failed == []
    assert report.counters["loaded:jira"] == 3

    issue = records[0]
    assert issue.source == "jira"
    assert (
        issue.title
        == "Model Binding a View generates multiple calls to update the data of bound objects."
    )
    assert issue.uri == "jira:ALOY-1000"  # the dump has no `self` URL
    assert issue.text.startswith("I have a simple view  that creates a Model instance")
    assert (
        "\n\n## Comment by Tim Poulsen on 2014-05-13\n\n@Feon Sua Xin Miao would you" in issue.text
    )
    assert "```javascript\n 66     doClick" in issue.text
    assert issue.text.count("## Comment by ") == 5
    meta = issue.metadata
    assert meta == {
        "project": "ALOY",
        "type": "Bug",
        "status": "Closed",
        "resolution": "Fixed",
        "priority": "High",
        "labels": ["qe-manualtest"],
        "author": "Bert Grantges",
        "assignee": "Feon Sua Xin Miao",
        "created": "2014-05-01T03:02:10+00:00",
        "updated": "2014-08-22T23:27:48+00:00",
        "resolved": "2014-05-28T16:06:53+00:00",
        "environment": "Alloy 1.3.1",
        "comments_count": 5,
        "fix_versions": ["Alloy 1.5.0"],
    }
    assert issue.content_hash == issue.compute_hash()


def test_lost_comments_links_and_subtasks(jira_dir: Path, tmp_path: Path) -> None:
    records, _ = _load(tmp_path, "jira/ALOY")
    by_id = {r.id: r for r in records}
    lost = by_id["jira:ALOY-1015"].metadata
    assert (lost["comments_count"], lost["comments_total"]) == (4, 6)
    assert by_id["jira:ALOY-1015"].text.startswith("##### Issue description\n")
    links = by_id["jira:ALOY-210"].metadata["links"]
    for key in ("ALOY-211", "TIMOB-10344", "TIDOC-1191", "ALOY-613", "ALOY-717"):
        assert f"jira:{key}" in links  # issue links and sub-tasks
    assert links == sorted(links) and "jira:ALOY-210" not in links


def test_versions_components_and_issue_links(corpus_dir: Path) -> None:
    record = issue_to_record(_issue(corpus_dir, "DAEMON-151"))
    meta = record.metadata
    assert meta["components"] == ["ioslib"]
    assert meta["versions"] == ["Appc Daemon 1.0.0"]
    assert meta["fix_versions"] == ["Appc Daemon 1.0.0"]
    assert (meta["status"], meta["resolution"]) == ("Resolved", "Fixed")
    assert meta["links"] == ["jira:DAEMON-155", "jira:DAEMON-158"]
    assert meta["project"] == "DAEMON"


def test_browse_url_from_self() -> None:
    issue = {"key": "ABC-7", "self": "https://jira.example.com/jira/rest/api/2/issue/10001"}
    assert browse_url(issue) == "https://jira.example.com/jira/browse/ABC-7"
    assert browse_url({"key": "ABC-7", "self": "not a url"}) == "jira:ABC-7"


def test_search_pages_and_json_lines(corpus_dir: Path, tmp_path: Path) -> None:
    keys = ["DAEMON-151", "DAEMON-8", "DAEMON-115", "DAEMON-129"]
    issues = [_issue(corpus_dir, key) for key in keys]
    issues[0]["self"] = "https://jira.example.com/rest/api/2/issue/1"
    (tmp_path / "in").mkdir()
    page = {"startAt": 0, "maxResults": 50, "total": 2, "issues": issues[:2]}
    (tmp_path / "in" / "page.json").write_text(json.dumps(page))
    lines = [json.dumps(issues[2]), "", json.dumps({"issues": [issues[3]]}), "{broken"]
    (tmp_path / "in" / "dump.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "in" / "list.ndjson").write_text(json.dumps([issues[0]]) + "\n")

    records, report = _load(tmp_path, "in/*.json", "in/*.jsonl", "in/*.ndjson")
    assert [r.id for r in records] == [f"jira:{k}" for k in sorted(keys)]
    assert records[2].uri == "https://jira.example.com/browse/DAEMON-151"
    reasons = {s["item"]: s["reason"] for s in report.skipped}
    assert reasons[f"{tmp_path / 'in' / 'dump.jsonl'}:4"].startswith("malformed JSON:")
    # DAEMON-151 is in both page.json and list.ndjson: the first in config order wins
    duplicate = reasons[str(tmp_path / "in" / "list.ndjson")]
    assert duplicate.startswith("duplicate record id jira:DAEMON-151 (first loaded from ")
    assert report.items_in == 3


def test_bad_files_are_skipped_with_reasons(jira_dir: Path, tmp_path: Path) -> None:
    bad = jira_dir / "bad"
    bad.mkdir()
    (bad / "malformed.json").write_text('{"key": "ALOY-1", "fields": ')
    (bad / "binary.json").write_bytes(b'{"key": "\x00\x01"}')
    (bad / "latin1.json").write_bytes(
        '{"key": "ALOY-2", "fields": {"summary": "caf\xe9"}}'.encode("latin-1")
    )
    (bad / "empty.json").write_bytes(b"")
    (bad / "blank.json").write_text("  \n\n")
    (bad / "notes.txt").write_text("not jira")
    (bad / "nokey.json").write_text('{"key": "", "fields": {}}')
    (bad / "broken.json").write_text('{"key": "ALOY-3", "fields": {"comment": "oops"}}')
    (bad / ".hidden.json").write_text("{}")
    (bad / "big.json").write_text(
        json.dumps({"key": "ALOY-4", "fields": {"description": "x" * 5000}})
    )

    records, report = _load(tmp_path, "jira/bad", "missing-dir", "nothing/*.json", max_bytes=4000)
    assert records == []
    reasons = {Path(s["item"]).name: s["reason"] for s in report.skipped}
    assert reasons["malformed.json"].startswith("malformed JSON: Expecting value")
    assert reasons["binary.json"] == "binary file (contains NUL bytes)"
    assert reasons["latin1.json"] == "invalid UTF-8 at byte 44"
    assert reasons["empty.json"] == "empty file"
    assert reasons["blank.json"] == "empty file (only whitespace)"
    assert reasons["notes.txt"] == "unsupported extension '.txt' for Jira"
    assert reasons["nokey.json"] == "Jira issue without a key"
    assert reasons["big.json"].startswith("file larger than wash.max_file_bytes (50")
    assert reasons["missing-dir"].startswith("path not found: ")
    assert reasons["*.json"] == "no path matches this pattern"
    assert [f["item"] for f in report.failed] == [f"{bad / 'broken.json'}#ALOY-3"]
    assert report.failed[0]["error"].startswith("AttributeError")
    assert report.counters["ignored:hidden"] == 1
    assert report.items_in == 9


def test_single_file_and_deterministic_order(jira_dir: Path, tmp_path: Path) -> None:
    first, _ = _load(tmp_path, "jira/ALOY/ALOY-210.json", "jira/ALOY")
    second, _ = _load(tmp_path, "jira/ALOY", "jira/ALOY/ALOY-210.json")
    assert [r.to_dict() for r in first] == [r.to_dict() for r in second]
    assert [r.id for r in first] == sorted(r.id for r in first)


def test_fingerprint_follows_the_files(jira_dir: Path, tmp_path: Path) -> None:
    settings = Settings(base_dir=tmp_path)
    sources = SourcesSettings(jira=["jira"])
    before = source_fingerprint(sources, settings)
    assert source_fingerprint(sources, settings) == before
    target = jira_dir / "ALOY" / "ALOY-210.json"
    stat = target.stat()
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    touched = source_fingerprint(sources, settings)
    assert touched != before
    target.unlink()
    assert source_fingerprint(sources, settings) not in (before, touched)
    assert source_fingerprint(SourcesSettings(jira=["missing"]), settings) != before
