"""Git loader on a real repository rebuilt from the corpus export (and a bare clone)."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from tools.config import Settings, SourcesSettings
from tools.finalist.leads import commit_lead, one_sentence
from tools.loaders import load_sources, source_fingerprint
from tools.loaders.git import jira_links, load_git_repo
from tools.loaders.git_merges import MergedBy, merged_by, parent_graph
from tools.records import SourceRecord
from tools.report import StageReport
from tools.sample_data import rebuild_repo

LIMIT = 200


def _git(repo: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=Test Bot", "-c", "user.email=bot@example.com"]
    result = subprocess.run([*command, "-C", str(repo), *args], capture_output=True, check=True)
    return result.stdout.decode().strip()


def _load(repo: Path, **options) -> tuple[list[SourceRecord], StageReport]:
    report = StageReport("wash")
    return list(load_git_repo(repo, report, **options)), report


@pytest.fixture(scope="module")
def export(corpus_dir: Path) -> list[dict]:
    lines = (corpus_dir / "git" / "appc-daemon.commits.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines][::-1][:LIMIT]


@pytest.fixture(scope="module")
def repo(tmp_path_factory, corpus_dir: Path) -> Path:
    target = tmp_path_factory.mktemp("repos") / "appc-daemon"
    return rebuild_repo(corpus_dir / "git" / "appc-daemon.commits.jsonl", target, limit=LIMIT)


def _key(message: str, email: str, when: str) -> tuple[str, str, datetime]:
    return message.strip(), email, datetime.fromisoformat(when)


def test_every_commit_matches_the_export(repo: Path, export: list[dict]) -> None:
    settings = Settings(base_dir=repo.parent)
    report = StageReport("wash")
    records = list(load_sources(SourcesSettings(git=[repo.name]), settings, report))
    assert report.items_in == LIMIT and report.skipped == [] and report.failed == []
    assert [r.id for r in records] == sorted(r.id for r in records)
    # the rebuilt repository has new shas: match commits on message, author and date
    loaded = {
        _key(
            r.text.split("\n\nChanged files:")[0], r.metadata["author_email"], r.metadata["created"]
        ): r
        for r in records
    }
    assert len(loaded) == LIMIT
    new_sha = {
        row["sha"]: loaded[_key(row["message"], row["author_email"], row["author_date"])].metadata[
            "sha"
        ]
        for row in export
    }
    merges = cited = 0
    for row in export:
        record = loaded[_key(row["message"], row["author_email"], row["author_date"])]
        meta = record.metadata
        message = row["message"].strip()
        assert record.id == f"git:appc-daemon@{meta['sha']}"
        assert record.source == "git"
        assert record.uri == f"appc-daemon@{meta['sha']}"  # no path of this machine
        assert record.title == message.split("\n")[0].strip()
        assert meta["project"] == "appc-daemon"
        assert meta.get("parents", []) == [new_sha[p] for p in row["parents"] if p in new_sha]
        assert meta["author"] == row["author_name"]
        assert (meta["committer"], meta["committer_email"]) == (
            row["committer_name"],
            row["committer_email"],
        )
        assert datetime.fromisoformat(meta["updated"]) == datetime.fromisoformat(
            row["committer_date"]
        )
        keys = sorted(set(re.findall(r"\b[A-Z][A-Z0-9]+-\d+\b", message)))
        assert meta.get("links", []) == [f"jira:{k}" for k in keys]
        cited += bool(keys)
        if len(meta.get("parents", [])) > 1:
            merges += 1
            assert meta["merge"] is True and "files" not in meta
        else:
            assert meta["merge"] is False
            paths = {f["path"].replace("\n", " ") for f in row["files"]}
            assert {f["path"] for f in meta.get("files", [])} == paths
            if paths:
                assert "\n\nChanged files:\n- " in record.text
    assert merges == 21 and cited == 60  # the oldest 200 commits hold both kinds


def test_bare_clone_gives_the_same_records(repo: Path, tmp_path: Path) -> None:
    bare = tmp_path / "appc-daemon.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(bare)], check=True)
    work, _ = _load(repo)
    clone, report = _load(bare)
    assert report.skipped == [] and len(clone) == LIMIT
    for left, right in zip(work, clone, strict=True):
        assert (left.id, left.title, left.text, left.metadata) == (
            right.id,
            right.title,
            right.text,
            right.metadata,
        )
        assert right.uri == left.uri


def test_diff_is_optional_and_capped(repo: Path) -> None:
    plain, _ = _load(repo)
    assert not any("```diff" in r.text for r in plain)
    records, report = _load(repo, include_diff=True, max_diff_bytes=400)
    assert report.failed == [] and len(records) == LIMIT
    with_files = [r for r in records if r.metadata.get("files")]
    assert all("\n\n```diff\ndiff --git a/" in r.text for r in with_files)
    truncated = [r for r in records if r.metadata.get("diff_truncated")]
    assert truncated and all(r.metadata["diff_bytes"] > 400 for r in truncated)
    for record in with_files:
        patch = record.text.split("```diff\n", 1)[1].rsplit("\n```", 1)[0]
        assert len(patch.encode()) <= 400
    whole, _ = _load(repo, include_diff=True, max_diff_bytes=10_000_000)
    assert not any(r.metadata.get("diff_truncated") for r in whole)


def test_merges_empty_messages_binary_files_and_web_url(repo: Path, tmp_path: Path) -> None:
    clone = tmp_path / "daemon-clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    _git(
        clone, "remote", "set-url", "origin", "https://bot:s3cr3t@github.com/tidev/appc-daemon.git"
    )
    (clone / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    (clone / "notes.md").write_text("one\ntwo\n")
    _git(clone, "add", "logo.png", "notes.md")
    _git(clone, "commit", "-q", "-m", "Add logo for DAEMON-42 (UTF-8, SHA-256 safe)\n\nBody text.")
    _git(clone, "mv", "notes.md", "docs.md")
    _git(clone, "commit", "-q", "-m", "Move notes")
    (clone / "docs.md").write_text("one\ntwo\nthree\n")
    _git(clone, "commit", "-q", "-a", "--allow-empty-message", "-m", "")
    _git(clone, "commit", "-q", "--allow-empty", "--allow-empty-message", "-m", "")
    head = _git(clone, "rev-parse", "HEAD")

    records, report = _load(clone)
    assert len(records) == LIMIT + 3
    assert report.items_in == LIMIT + 4
    assert report.skipped == [
        {"item": f"git:daemon-clone@{head}", "reason": "empty message and no changed files"}
    ]
    newest = {r.metadata["sha"]: r for r in records}
    logo, move, silent = (newest[_git(clone, "rev-parse", f"HEAD~{n}")] for n in (3, 2, 1))
    assert logo.uri == f"https://github.com/tidev/appc-daemon/commit/{logo.metadata['sha']}"
    assert all("s3cr3t" not in r.uri for r in records)
    assert logo.title == "Add logo for DAEMON-42 (UTF-8, SHA-256 safe)"
    assert logo.metadata["links"] == ["jira:DAEMON-42"]
    assert {"path": "logo.png", "additions": None, "deletions": None} in logo.metadata["files"]
    assert "- logo.png (binary)\n- notes.md (+2 -0)" in logo.text
    assert move.metadata["files"] == [
        {"path": "docs.md", "old_path": "notes.md", "additions": 0, "deletions": 0}
    ]
    assert "- docs.md (renamed from notes.md, +0 -0)" in move.text
    assert silent.title == "(no message)"
    assert silent.text == "Changed files:\n- docs.md (+1 -0)"


def test_not_a_repository_is_skipped_with_a_reason(repo: Path, tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "file.txt").write_text("x")
    subprocess.run(["git", "init", "-q", str(tmp_path / "empty")], check=True)
    entries = ["plain", "file.txt", "empty", str(repo / "missing"), "gone", "none-*"]
    (repo / "sub").mkdir(exist_ok=True)
    entries.append(str(repo / "sub"))
    report = StageReport("wash")
    settings = Settings(base_dir=tmp_path)
    assert list(load_sources(SourcesSettings(git=entries), settings, report)) == []
    reasons = {Path(s["item"]).name: s["reason"] for s in report.skipped}
    assert reasons["plain"].startswith("not a git repository")
    assert reasons["file.txt"].startswith("not a directory")
    assert reasons["empty"] == "repository has no commit at 'HEAD'"
    assert reasons["missing"].startswith("path not found")
    assert reasons["none-*"] == "no path matches this pattern"
    assert (
        reasons["sub"] == f"not a repository root: {repo / 'sub'} is inside the repository {repo}"
    )
    assert report.items_in == 0 and report.failed == []


def test_jira_links_ignore_look_alikes() -> None:
    message = "Fix ALOY-12, TIMOB-3 and ALOY-12 again; UTF-8, ISO-8859-1, SHA-256, GPL-3"
    assert jira_links(message) == ["jira:ALOY-12", "jira:TIMOB-3"]


def test_fingerprint_follows_head_and_refs(repo: Path, tmp_path: Path) -> None:
    clone = tmp_path / "fp-clone"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(clone)], check=True)
    settings = Settings(base_dir=tmp_path)
    sources = SourcesSettings(git=["fp-clone"])
    before = source_fingerprint(sources, settings)
    assert source_fingerprint(sources, settings) == before
    _git(clone, "tag", "v0")
    tagged = source_fingerprint(sources, settings)
    assert tagged != before
    _git(clone, "update-ref", "refs/heads/main", "HEAD~1")
    assert source_fingerprint(sources, settings) not in (before, tagged)


def test_corrupt_repository_fails_that_repository_only(repo: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.git"
    subprocess.run(
        ["git", "clone", "-q", "--bare", "--no-local", str(repo), str(broken)], check=True
    )
    pack = next((broken / "objects" / "pack").glob("*.pack"))
    data = pack.read_bytes()
    for stale in (broken / "objects" / "pack").iterdir():
        stale.unlink()
    subprocess.run(["git", "-C", str(broken), "unpack-objects", "-q"], input=data, check=True)
    lost = _git(broken, "rev-parse", "HEAD~5")
    (broken / "objects" / lost[:2] / lost[2:]).unlink()

    report = StageReport("wash")
    settings = Settings(base_dir=tmp_path)
    records = list(load_sources(SourcesSettings(git=["broken.git", str(repo)]), settings, report))
    assert [f["item"] for f in report.failed] == [str(broken)]
    assert report.failed[0]["error"].startswith("GitError: git log failed (128): ")
    assert lost in report.failed[0]["error"]
    assert sum(r.id.startswith("git:appc-daemon@") for r in records) == LIMIT
    assert 0 < sum(r.id.startswith("git:broken@") for r in records) < LIMIT


def test_a_commit_knows_the_pull_request_that_merged_it(repo: Path) -> None:
    records, _ = _load(repo)
    by_sha = {r.metadata["sha"]: r for r in records}
    pulls = [r for r in records if r.title.startswith("Merge pull request #")]
    assert pulls  # the real history merges pull requests
    for merge in pulls:
        number = int(merge.title.split("#")[1].split()[0])
        branch = _git(repo, "rev-list", f"{merge.metadata['parents'][0]}..{merge.metadata['sha']}")
        brought = [sha for sha in branch.split() if sha != merge.metadata["sha"]]
        for sha in brought:  # unless a later merge of the mainline claimed it first
            assert by_sha[sha].metadata["merged_by"] == merge.metadata["sha"]
            assert by_sha[sha].metadata["pull_request"] == number
    mainline = _git(repo, "rev-list", "--first-parent", "HEAD").split()
    assert not any("merged_by" in by_sha[sha].metadata for sha in mainline)


def test_a_commit_lead_names_its_pull_request_and_a_merge_its_title(repo: Path) -> None:
    records, _ = _load(repo)
    merged = next(r for r in records if r.metadata.get("pull_request"))
    lead = commit_lead({"source": "git", "doc_id": merged.id, **merged.to_dict()})
    assert f"(pull request #{merged.metadata['pull_request']}): " in lead
    merge = next(r for r in records if r.metadata["merge"] and "\n\n" in r.text)
    body = " ".join(merge.text.split("\n\n")[1].split())
    lead = commit_lead({"source": "git", "doc_id": merge.id, **merge.to_dict()})
    assert lead.endswith(f": {merge.title}: {one_sentence(body)}")  # a branch name says little


def test_merged_by_walks_each_branch_once() -> None:
    #   a - b - m1 - e - m2      mainline (first parents)
    #    \     /        /
    #     c - d ------ f         a branch merged twice: f alone came with m2
    parents = {
        "m2": ["e", "f"],
        "e": ["m1"],
        "f": ["d"],
        "m1": ["b", "d"],
        "d": ["c"],
        "c": ["a"],
        "b": ["a"],
        "a": [],
    }
    subjects = {"m1": "Merge pull request #7 from x/y", "m2": "Merge branch 'y'"}
    found = merged_by(parents, "m2", subjects)
    assert found == {
        "c": MergedBy("m1", 7),
        "d": MergedBy("m1", 7),
        "f": MergedBy("m2", None),
    }
    assert parent_graph("m1 b d\nb a\na\n") == {"m1": ["b", "d"], "b": ["a"], "a": []}
    # git flow: feature pull request #457 into develop, release pull request #500 into master
    nested = {"r": ["a", "p"], "p": ["a", "f1"], "f1": ["a"], "a": []}
    subjects = {"r": "Merge pull request #500 from org/develop", "p": "Merge pull request #457"}
    assert merged_by(nested, "r", subjects) == {"p": MergedBy("r", 500), "f1": MergedBy("p", 457)}
