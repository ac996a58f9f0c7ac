"""The bundled sample data: Jira files, docs, and a git history rebuilt from an export.

``data/raw/git/*.commits.jsonl`` holds real commits (message, author, dates, parents, changed
files with line counts). :func:`rebuild_repo` turns such an export into a real git repository
with ``git fast-import``: same messages, authors, dates and parent links, changed paths
holding placeholder content. An export that lacks some commits' parents (a sample that keeps
only some commits) becomes a linear history in commit-date order. The rebuilt commits have
new shas (their trees differ).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

from tools.config import Settings
from tools.datadir import DataDir

SAMPLE_RAW = Path(__file__).resolve().parent.parent / "data" / "raw"


def _git_time(iso: str) -> str:
    moment = datetime.fromisoformat(iso)
    minutes = int(moment.utcoffset().total_seconds() // 60) if moment.utcoffset() else 0
    sign, minutes = ("+" if minutes >= 0 else "-"), abs(minutes)
    return f"{int(moment.timestamp())} {sign}{minutes // 60:02d}{minutes % 60:02d}"


def _blob(text: str) -> bytes:
    raw = text.encode("utf-8")
    return b"data %d\n" % len(raw) + raw + b"\n"


def parents_first(commits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Order an export (``git log`` order: newest first) so every parent precedes its children."""
    by_sha = {c["sha"]: c for c in commits}
    ordered: list[dict[str, Any]] = []
    placed: set[str] = set()
    for commit in reversed(commits):
        stack = [commit]
        while stack:
            top = stack[-1]
            waiting = [by_sha[p] for p in top.get("parents", []) if p in by_sha and p not in placed]
            if waiting:
                stack.extend(waiting)
                continue
            stack.pop()
            if top["sha"] not in placed:
                placed.add(top["sha"])
                ordered.append(top)
    return ordered


def _fast_import_stream(commits: list[dict[str, Any]]) -> bytes:
    marks = {c["sha"]: n for n, c in enumerate(commits, 1)}
    out = bytearray()
    for n, commit in enumerate(commits, 1):
        out += b"commit refs/heads/main\nmark :%d\n" % n
        for role in ("author", "committer"):
            name, email = commit[f"{role}_name"], commit[f"{role}_email"]
            when = _git_time(commit[f"{role}_date"])
            out += f"{role} {name} <{email}> {when}\n".encode()
        out += _blob(commit["message"])
        parents = [marks[p] for p in commit.get("parents", []) if p in marks]
        if not parents and n > 1:
            parents = [n - 1]
        for verb, mark in zip(["from"] + ["merge"] * len(parents), parents, strict=False):
            out += f"{verb} :{mark}\n".encode()
        for change in commit.get("files", []):
            path = change["path"].replace("\n", " ")
            body = f"{commit['sha']} +{change['additions']} -{change['deletions']}\n"
            out += f"M 100644 inline {path}\n".encode() + _blob(body)
    return bytes(out)


def rebuild_repo(
    export: Path, target: Path, limit: int | None = None, sha_map: Path | None = None
) -> Path:
    """Create (or recreate) a git repository at ``target`` from a commits export.

    Args:
        export: A ``*.commits.jsonl`` file, newest commit first as ``git log`` writes it.
        target: The repository folder; replaced when it exists.
        limit: Keep only the ``limit`` oldest commits.
        sha_map: Where to write ``{original sha: rebuilt sha}`` as JSON (evaluation gold
            ids are original shas: ``data-alchemy eval ... --sha-map``).

    Returns:
        ``target``.
    """
    rows = [json.loads(line) for line in export.read_text("utf-8").splitlines() if line]
    commits = parents_first(rows)[:limit]
    shas = {c["sha"] for c in commits}
    if any(p not in shas for c in commits for p in c.get("parents", [])):
        commits = sorted(
            commits, key=lambda c: (datetime.fromisoformat(c["committer_date"]), c["sha"])
        )
        commits = [{**c, "parents": []} for c in commits]
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(target)], check=True)
    marks = target / ".git" / "rebuild-marks"
    subprocess.run(
        ["git", "-C", str(target), "fast-import", "--quiet", f"--export-marks={marks}"],
        input=_fast_import_stream(commits),
        check=True,
    )
    if sha_map is not None:
        rebuilt = dict(line.split() for line in marks.read_text("utf-8").splitlines())
        pairs = {c["sha"]: rebuilt[f":{n}"] for n, c in enumerate(commits, 1)}
        sha_map.write_text(json.dumps(pairs, indent=0), encoding="utf-8")
    subprocess.run(["git", "-C", str(target), "checkout", "-q", "-f", "main"], check=True)
    return target


def prepare_sample_sources(settings: Settings, data_dir: Path) -> dict[str, list[str]]:
    """Rebuild the sample repositories (once) and return the demo's source overrides."""
    repos = []
    for export in sorted((SAMPLE_RAW / "git").glob("*.commits.jsonl")):
        target = DataDir(data_dir).sample_repos / export.name.removesuffix(".commits.jsonl")
        if not (target / ".git").is_dir():
            rebuild_repo(export, target)
        repos.append(str(target))
    return {
        "jira": [str(SAMPLE_RAW / "jira")],
        "docs": [str(SAMPLE_RAW / "docs")],
        "git": repos,
    }
