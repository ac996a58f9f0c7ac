"""The bundled sample data: Jira files, docs, and a git history rebuilt from an export.

``data/raw/git/*.commits.jsonl`` holds real commits (message, author, dates, changed files
with line counts). :func:`rebuild_repo` turns one into a real git repository with
``git fast-import``: same messages, authors and dates, changed paths holding placeholder
content, history made linear in date order (the sample keeps only some commits, so their
original parents may be missing).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

from tools.config import Settings

SAMPLE_RAW = Path(__file__).resolve().parent.parent / "data" / "raw"


def _git_time(iso: str) -> str:
    moment = datetime.fromisoformat(iso)
    minutes = int(moment.utcoffset().total_seconds() // 60) if moment.utcoffset() else 0
    sign, minutes = ("+" if minutes >= 0 else "-"), abs(minutes)
    return f"{int(moment.timestamp())} {sign}{minutes // 60:02d}{minutes % 60:02d}"


def _blob(text: str) -> bytes:
    raw = text.encode("utf-8")
    return b"data %d\n" % len(raw) + raw + b"\n"


def _fast_import_stream(commits: list[dict[str, Any]]) -> bytes:
    out = bytearray()
    for n, commit in enumerate(commits, 1):
        out += b"commit refs/heads/main\nmark :%d\n" % n
        for role in ("author", "committer"):
            name, email = commit[f"{role}_name"], commit[f"{role}_email"]
            when = _git_time(commit[f"{role}_date"])
            out += f"{role} {name} <{email}> {when}\n".encode()
        out += _blob(commit["message"])
        if n > 1:
            out += b"from :%d\n" % (n - 1)
        for change in commit.get("files", []):
            body = f"{commit['sha']} +{change['additions']} -{change['deletions']}\n"
            out += f"M 100644 inline {change['path']}\n".encode() + _blob(body)
    return bytes(out)


def rebuild_repo(export: Path, target: Path) -> Path:
    """Create (or recreate) a git repository at ``target`` from a commits export."""
    commits = [json.loads(line) for line in export.read_text("utf-8").splitlines() if line]
    commits.sort(key=lambda c: (datetime.fromisoformat(c["committer_date"]), c["sha"]))
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(target)], check=True)
    subprocess.run(
        ["git", "-C", str(target), "fast-import", "--quiet"],
        input=_fast_import_stream(commits),
        check=True,
    )
    subprocess.run(["git", "-C", str(target), "checkout", "-q", "-f", "main"], check=True)
    return target


def prepare_sample_sources(settings: Settings, data_dir: Path) -> dict[str, list[str]]:
    """Rebuild the sample repositories (once) and return the demo's source overrides."""
    repos = []
    for export in sorted((SAMPLE_RAW / "git").glob("*.commits.jsonl")):
        target = data_dir / "sample-repos" / export.name.removesuffix(".commits.jsonl")
        if not (target / ".git").is_dir():
            rebuild_repo(export, target)
        repos.append(str(target))
    return {
        "jira": [str(SAMPLE_RAW / "jira")],
        "docs": [str(SAMPLE_RAW / "docs")],
        "git": repos,
    }
