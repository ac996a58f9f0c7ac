"""Git loader: the commits of a local repository (working tree or bare), via the git CLI.

One ``git log -z --numstat`` process reads the whole history (a second, run in lockstep,
when diffs are wanted). Each commit becomes a record whose title is the subject and whose
text is the full message followed by a ``Changed files:`` list (capped at
:data:`MAX_LISTED_FILES` lines; ``metadata["files"]`` has them all).

Deliberate choices:

- Merge commits are kept with ``metadata["merge"] = True`` and no files: ``git log`` shows
  no diff for merges, and their changes are already recorded in the merged commits. A
  commit a merge brought in has that merge's sha in ``metadata["merged_by"]`` and its pull
  request number, when its subject says, in ``metadata["pull_request"]``
  (``tools.loaders.git_merges``: the innermost pull request wins).
- A commit with an empty message but changed files is kept with the title
  ``(no message)``; one with neither (an empty commit) is skipped with a reason.
- Binary files have ``additions`` and ``deletions`` of ``None`` (git prints ``-``).
- Renames are detected (``-M``) and listed under the new path with ``old_path``.
- Jira keys cited in the message (``ALOY-123``) become ``jira:ALOY-123`` links, except
  look-alikes such as ``UTF-8`` or ``SHA-256`` (:data:`NOT_JIRA_PROJECTS`).
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

from tools.loaders.git_merges import MergedBy, merged_by, parent_graph
from tools.loaders.jira_markup import fence
from tools.records import FILES_HEADING, MORE_FILES, SourceRecord
from tools.report import StageReport

MAX_LISTED_FILES = 50
JIRA_KEY = re.compile(r"\b([A-Z][A-Z0-9]+)-(\d+)\b")
NOT_JIRA_PROJECTS = frozenset(
    {"AES", "AGPL", "CVE", "GPL", "ISO", "LGPL", "MD", "RFC", "SHA", "SSL", "TLS", "UTF"}
)

_HEADER = ("%H", "%P", "%an", "%ae", "%aI", "%cn", "%ce", "%cI", "%B")
_LOG_FORMAT = "--format=%x1e" + "%x00".join(_HEADER) + "%x00"
_COMMON = ("-c", "core.quotepath=false", "-c", "log.showSignature=false")
_LOG_OPTIONS = ("--no-color", "--no-ext-diff", "--no-textconv", "-M", "--encoding=UTF-8")
_DIFF_START = re.compile(rb"^\x1e([0-9a-f]{40,64})\n$")


class GitError(RuntimeError):
    """A git command failed or printed something this loader cannot read."""


@dataclass(frozen=True)
class Repository:
    """A local repository as git sees it.

    Attributes:
        path: The repository root (working tree or bare git directory).
        name: Its name: the folder name without ``.git``.
        web_url: ``https://host/owner/repo`` from an http(s) ``origin`` remote, else None.
    """

    path: Path
    name: str
    web_url: str | None


def open_repository(path: Path) -> Repository:
    """Identify the repository at ``path`` (which must be its root, not a sub-folder).

    Raises:
        GitError: ``path`` is not the root of a git repository.
    """
    root = path.resolve()
    if not root.is_dir():
        raise GitError(f"not a directory: {path}")
    inside, git_dir = _git(root, "rev-parse", "--is-inside-git-dir", "--absolute-git-dir").split(
        "\n", 1
    )
    if inside == "true":
        top = Path(git_dir.strip())
        name = top.parent.name if top.name == ".git" else top.name.removesuffix(".git")
    else:
        top = Path(_git(root, "rev-parse", "--show-toplevel").strip())
        name = top.name
    if top.resolve() != root:
        raise GitError(f"not a repository root: {path} is inside the repository {top}")
    return Repository(path=root, name=name or root.name, web_url=_web_url(root))


def load_git_repo(
    path: Path,
    report: StageReport,
    *,
    rev: str = "HEAD",
    include_diff: bool = False,
    max_diff_bytes: int = 50_000,
) -> Iterator[SourceRecord]:
    """Yield one record per commit reachable from ``rev``.

    A path that is not a repository root, or a repository without commits, is skipped
    with a reason. Each commit read adds one to ``report.items_in``.

    Args:
        path: Repository root, working tree or bare.
        report: Receives counts and skips.
        rev: What to read (a branch, tag or sha).
        include_diff: Append the commit's patch as a fenced ``diff`` block.
        max_diff_bytes: Per-commit cap on the patch; longer ones are cut at a line end and
            marked ``diff_truncated`` in metadata.
    """
    if rev.startswith("-"):
        raise ValueError(f"rev must name a commit, not an option: {rev!r}")
    try:
        repo = open_repository(path)
    except GitError as exc:
        report.skip(str(path), str(exc))
        return
    try:
        head = _git(repo.path, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    except GitError:
        report.skip(str(path), f"repository has no commit at {rev!r}")
        return
    merges = _merges(repo.path, head)
    with _stream(repo.path, "log", "-z", "--numstat", _LOG_FORMAT, *_LOG_OPTIONS, rev) as log:
        commits = _parse_log(_tokens(log))
        if not include_diff:
            for commit in commits:
                yield from _emit(repo, commit, None, merges, report)
            return
        with _stream(repo.path, "log", "-p", "--format=%x1e%H", *_LOG_OPTIONS, rev) as patches:
            diffs = _parse_diffs(patches, max_diff_bytes)
            for commit in commits:
                diff = next(diffs, None)
                if diff is None or diff[0] != commit["sha"]:
                    raise GitError(f"diff pass out of step at commit {commit['sha']}")
                yield from _emit(repo, commit, diff[1:], merges, report)


def repository_state(path: Path) -> str:
    """``HEAD`` and every ref of the repository at ``path`` (or why it cannot be read)."""
    try:
        return _git(open_repository(path).path, "show-ref", "--head")
    except GitError as exc:
        return f"error: {exc}"


def jira_links(message: str) -> list[str]:
    """The Jira keys cited in ``message``, as sorted ``jira:KEY`` ids."""
    keys = {
        f"{project}-{number}"
        for project, number in JIRA_KEY.findall(message)
        if project not in NOT_JIRA_PROJECTS
    }
    return [f"jira:{key}" for key in sorted(keys)]


def _merges(repo: Path, head: str) -> dict[str, MergedBy]:
    """The merge (and pull request) that brought each commit reachable from ``head`` in.

    Empty when the history cannot be walked whole: the log that follows reads the commits
    it can and reports where it failed.
    """
    try:
        graph = parent_graph(_git(repo, "rev-list", "--parents", head, "--"))
        merges = _git(repo, "log", "--merges", "--format=%H%x00%s", head, "--")
    except GitError:
        return {}
    subjects = dict(line.partition("\x00")[::2] for line in merges.split("\n") if line)
    return merged_by(graph, head, subjects)


def _emit(
    repo: Repository,
    commit: dict[str, Any],
    diff: tuple[str, int | None] | None,
    merges: dict[str, MergedBy],
    report: StageReport,
) -> Iterator[SourceRecord]:
    report.items_in += 1
    sha = commit["sha"]
    message = commit["message"].strip()
    merge = len(commit["parents"]) > 1
    files = [] if merge else commit["files"]
    if not message and not files:
        report.skip(f"git:{repo.name}@{sha}", "empty message and no changed files")
        return
    metadata: dict[str, Any] = {
        "project": repo.name,
        "sha": sha,
        "parents": commit["parents"],
        "merge": merge,
        "author": commit["author"],
        "author_email": commit["author_email"],
        "committer": commit["committer"],
        "committer_email": commit["committer_email"],
        "created": commit["created"],
        "updated": commit["updated"],
        "files": files,
        "links": jira_links(message),
    }
    if by := merges.get(sha):
        metadata["merged_by"] = by.sha
        metadata["pull_request"] = by.pull_request
    parts = [message, _file_list(files)]
    if diff is not None:
        patch, truncated_size = diff
        if patch:
            parts.append(fence(patch, "diff"))
        if truncated_size is not None:
            metadata["diff_truncated"] = True
            metadata["diff_bytes"] = truncated_size
    uri = f"{repo.web_url}/commit/{sha}" if repo.web_url else f"{repo.name}@{sha}"
    yield SourceRecord(
        id=f"git:{repo.name}@{sha}",
        source="git",
        uri=uri,
        title=message.split("\n", 1)[0].strip() or "(no message)",
        text="\n\n".join(part for part in parts if part),
        metadata={k: v for k, v in metadata.items() if v not in (None, "", [])},
    )


def _file_list(files: list[dict[str, Any]]) -> str:
    if not files:
        return ""
    lines = [FILES_HEADING]
    for entry in files[:MAX_LISTED_FILES]:
        counts = (
            "binary"
            if entry["additions"] is None
            else f"+{entry['additions']} -{entry['deletions']}"
        )
        if "old_path" in entry:
            counts = f"renamed from {entry['old_path']}, {counts}"
        lines.append(f"- {entry['path']} ({counts})")
    if len(files) > MAX_LISTED_FILES:
        lines.append(f"- {MORE_FILES.format(len(files) - MAX_LISTED_FILES)}")
    return "\n".join(lines)


def _parse_log(tokens: Iterator[str]) -> Iterator[dict[str, Any]]:
    """Parse ``git log -z --numstat`` output split on NUL bytes."""
    token = next(tokens, None)
    while token is not None:
        if not token.startswith("\x1e"):
            raise GitError(f"unexpected git log output near {token[:60]!r}")
        header = [token[1:], *(_take(tokens) for _ in range(len(_HEADER) - 1))]
        if _take(tokens):
            raise GitError(f"unexpected git log output after commit {header[0]}")
        files = []
        token = next(tokens, None)
        while token is not None and not token.startswith("\x1e"):
            added, deleted, path = token.lstrip("\n").split("\t", 2)
            entry: dict[str, Any] = {
                "path": path,
                "additions": None if added == "-" else int(added),
                "deletions": None if deleted == "-" else int(deleted),
            }
            if not path:
                entry["old_path"], entry["path"] = _take(tokens), _take(tokens)
            files.append(entry)
            token = next(tokens, None)
        sha, parents, author, email, created, committer, c_email, updated, message = header
        yield {
            "sha": sha,
            "parents": parents.split(),
            "author": author,
            "author_email": email,
            "created": created,
            "committer": committer,
            "committer_email": c_email,
            "updated": updated,
            "message": message,
            "files": files,
        }


def _parse_diffs(stream: IO[bytes], cap: int) -> Iterator[tuple[str, str, int | None]]:
    """Yield ``(sha, patch cut at a line end, full size if cut else None)`` per commit."""
    sha: str | None = None
    kept: list[bytes] = []
    total = 0
    truncated = False

    def done() -> tuple[str, str, int | None]:
        patch = b"".join(kept).decode("utf-8", "replace").strip("\n")
        return str(sha), patch, total if truncated else None

    for line in stream:
        start = _DIFF_START.match(line)
        if start:
            if sha is not None:
                yield done()
            sha, kept, total, truncated = start.group(1).decode(), [], 0, False
            continue
        total += len(line)
        truncated = truncated or total > cap
        if not truncated:
            kept.append(line)
    if sha is not None:
        yield done()


def _take(tokens: Iterator[str]) -> str:
    token = next(tokens, None)
    if token is None:
        raise GitError("git log output ended in the middle of a commit")
    return token


def _tokens(stream: IO[bytes]) -> Iterator[str]:
    """Split a byte stream on NUL and decode each piece (invalid UTF-8 replaced)."""
    pending = b""
    while chunk := stream.read(1 << 16):
        pieces = (pending + chunk).split(b"\0")
        pending = pieces.pop()
        for piece in pieces:
            yield piece.decode("utf-8", "replace")
    if pending:
        yield pending.decode("utf-8", "replace")


@contextmanager
def _stream(repo: Path, *args: str) -> Iterator[IO[bytes]]:
    """Run a git command and give its stdout; raise GitError if it fails."""
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            ["git", *_COMMON, "-C", str(repo), *args],
            stdout=subprocess.PIPE,
            stderr=errors,
            env=_env(),
        )
        assert proc.stdout is not None
        try:
            yield proc.stdout
            proc.stdout.read()
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stdout.close()
            code = proc.wait()
        if code:
            errors.seek(0)
            message = errors.read().decode("utf-8", "replace").strip()
            raise GitError(f"git {args[0]} failed ({code}): {message}")


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *_COMMON, "-C", str(repo), *args], capture_output=True, env=_env()
    )
    if result.returncode:
        message = result.stderr.decode("utf-8", "replace").strip()
        raise GitError(message.removeprefix("fatal: ") or f"git {args[0]} failed")
    return result.stdout.decode("utf-8", "replace").strip()


def _web_url(repo: Path) -> str | None:
    """``https://host/owner/repo`` from an http(s) origin remote, credentials removed."""
    try:
        remote = _git(repo, "config", "--get", "remote.origin.url")
    except GitError:
        return None
    parts = urlsplit(remote)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    path = parts.path.rstrip("/").removesuffix(".git")
    return urlunsplit((parts.scheme, host, path, "", ""))


def _env() -> dict[str, str]:
    return {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
