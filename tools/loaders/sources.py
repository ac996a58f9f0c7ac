"""Resolve the configured sources and run the loaders over them.

Config entries are resolved with :meth:`tools.config.Settings.resolve_path`. Jira and docs
entries may be files, directories (walked recursively; hidden files and folders are
ignored and counted as ``ignored:hidden``) or glob patterns (``**`` allowed); git entries
are repository roots or globs matching them. Bad input is skipped with a reason, a loader
error on one item is reported as failed, and the run goes on.
"""

from __future__ import annotations

import glob
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from tools.config import Settings, SourcesSettings
from tools.loaders.formats import BINARY_FORMATS, doc_format
from tools.loaders.git import load_git_repo, repository_state
from tools.loaders.jira import load_jira_text
from tools.records import SourceRecord, stable_hash
from tools.report import StageReport

JIRA_SUFFIXES = {".json": False, ".jsonl": True, ".ndjson": True}
_GLOB_CHARS = frozenset("*?[")


def load_sources(
    sources: SourcesSettings, settings: Settings, report: StageReport
) -> Iterator[SourceRecord]:
    """Yield the source records of every configured input, sorted by id.

    ``report.items_in`` counts the files and commits seen; ``report.counters`` gets
    ``loaded:<source>`` per record kept. When two inputs give the same record id the first
    (in config order) is kept and the other skipped with a reason.

    Args:
        sources: What to load (``settings.sources`` or the CLI's replacement).
        settings: Resolves relative paths; ``wash.max_file_bytes`` caps file sizes.
        report: Receives counts, skips and failures.
    """
    records: dict[str, tuple[str, SourceRecord]] = {}
    for origin, record in _load_all(sources, settings, report):
        if record.id in records:
            first = records[record.id][0]
            report.skip(origin, f"duplicate record id {record.id} (first loaded from {first})")
            continue
        records[record.id] = (origin, record)
    for record_id in sorted(records):
        record = records[record_id][1]
        report.count(f"loaded:{record.source}")
        yield record


def source_fingerprint(sources: SourcesSettings, settings: Settings) -> str:
    """A cheap hash of what :func:`load_sources` would read.

    Files contribute path, size and modification time; repositories their ``HEAD`` and
    ref list; missing paths and unmatched globs their skip reason.
    """
    probe = StageReport("fingerprint")
    parts: list[object] = [settings.wash.max_file_bytes]
    for kind, entries in (("jira", sources.jira), ("docs", sources.docs)):
        for path, root in _files(entries, settings, probe):
            try:
                stat = path.stat()
            except OSError as exc:  # a dangling link or a file removed meanwhile
                parts.append([kind, str(path), f"unreadable: {exc.strerror}"])
                continue
            parts.append([kind, str(path), str(root), stat.st_size, stat.st_mtime_ns])
    for path in _paths(sources.git, settings, probe):
        parts.append(["git", str(path), repository_state(path)])
    parts.append(probe.skipped)
    return stable_hash(parts)


def read_input(
    path: Path, max_bytes: int, report: StageReport, *, binary: bool
) -> str | bytes | None:
    """Read one input file, or skip it with a reason and return None.

    Empty and oversized files are skipped; text files must also be UTF-8 (a BOM is
    dropped) without NUL bytes and not only whitespace.
    """
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            report.skip(str(path), f"not a regular file ({_file_kind(info.st_mode)})")
            return None
        size = info.st_size
        if size == 0:
            report.skip(str(path), "empty file")
            return None
        if size > max_bytes:
            report.skip(str(path), f"file larger than wash.max_file_bytes ({size} > {max_bytes})")
            return None
        data = path.read_bytes()
    except OSError as exc:
        report.skip(str(path), f"unreadable: {exc.strerror or exc}")
        return None
    if binary:
        return data
    if b"\0" in data:
        report.skip(str(path), "binary file (contains NUL bytes)")
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        report.skip(str(path), f"invalid UTF-8 at byte {exc.start}")
        return None
    if not text.strip():
        report.skip(str(path), "empty file (only whitespace)")
        return None
    return text


def _load_all(
    sources: SourcesSettings, settings: Settings, report: StageReport
) -> Iterator[tuple[str, SourceRecord]]:
    limit = settings.wash.max_file_bytes
    for path, _root in _files(sources.jira, settings, report):
        report.items_in += 1
        lines = JIRA_SUFFIXES.get(path.suffix.lower())
        if lines is None:
            report.skip(str(path), f"unsupported extension {path.suffix!r} for Jira")
            continue
        text = read_input(path, limit, report, binary=False)
        if isinstance(text, str):
            yield from _guard(
                str(path), load_jira_text(text, str(path), report, lines=lines), report
            )
    for path in _paths(sources.git, settings, report):
        diff_bytes = settings.wash.git_diff_bytes
        commits = load_git_repo(
            path, report, include_diff=diff_bytes > 0, max_diff_bytes=diff_bytes
        )
        yield from _guard(str(path), commits, report)
    from tools.loaders.docs import load_document  # its parsers load only when docs are read

    for path, root in _files(sources.docs, settings, report):
        report.items_in += 1
        kind = doc_format(path)
        if kind is None:
            report.skip(str(path), f"unsupported extension {path.suffix!r}")
            continue
        content = read_input(path, limit, report, binary=kind in BINARY_FORMATS)
        if content is not None:
            records = load_document(path, root, content, report, sources.docs_base_url)
            yield from _guard(str(path), records, report)


def _guard(
    origin: str, records: Iterable[SourceRecord], report: StageReport
) -> Iterator[tuple[str, SourceRecord]]:
    """Pair records with their origin; an exception fails that origin, not the run."""
    try:
        for record in records:
            yield origin, record
    except Exception as exc:  # a loader bug or a broken input must not stop the run
        report.fail(origin, exc)


def _paths(entries: Iterable[str], settings: Settings, report: StageReport) -> Iterator[Path]:
    """Each entry resolved; a glob expanded (sorted). Missing ones are skipped."""
    for entry in entries:
        for path, _root in _expand(entry, settings, report):
            yield path


def _files(
    entries: Iterable[str], settings: Settings, report: StageReport
) -> Iterator[tuple[Path, Path]]:
    """``(file, root)`` for every file an entry names, folders walked in sorted order.

    A file reached twice (``docs/**`` matches it and its folders) is given once.
    """
    seen: set[Path] = set()
    for entry in entries:
        for path, root in _expand(entry, settings, report):
            found = [path] if not path.is_dir() else _walk(path, report)
            for file in found:
                if file in seen:
                    continue
                seen.add(file)
                if _utf8_name(file):
                    yield file, root
                else:
                    report.items_in += 1
                    report.skip(_printable(file), "file name is not valid UTF-8: rename it")


def _file_kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    kinds = (
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((word for test, word in kinds if test(mode)), "a special file")


def _utf8_name(path: Path) -> bool:
    """Whether ``path`` decodes as UTF-8 (undecodable bytes become lone surrogates)."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(path: Path) -> str:
    """``path`` with each undecodable byte escaped (backslash, x, two hex digits)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _walk(folder: Path, report: StageReport) -> Iterator[Path]:
    """Files under ``folder`` in sorted order, hidden ones ignored (and counted)."""
    for parent, dirs, names in os.walk(folder, onerror=lambda e: _unreadable(e, report)):
        hidden = [d for d in dirs if d.startswith(".")]
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        shown = sorted(n for n in names if not n.startswith("."))
        if ignored := len(hidden) + len(names) - len(shown):
            report.count("ignored:hidden", ignored)
        for name in shown:
            yield Path(parent) / name


def _unreadable(error: OSError, report: StageReport) -> None:
    report.skip(str(error.filename), f"unreadable folder: {error.strerror or error}")


def _expand(entry: str, settings: Settings, report: StageReport) -> list[tuple[Path, Path]]:
    """``(path, root)`` pairs for one config entry; the root is where ids are relative to."""
    target = settings.resolve_path(entry)
    if _GLOB_CHARS & set(str(target)):
        matches = sorted(Path(p) for p in glob.glob(str(target), recursive=True))
        if not matches:
            report.skip(entry, "no path matches this pattern")
        return [(match, _glob_root(target)) for match in matches]
    if not target.exists():
        report.skip(entry, f"path not found: {target}")
        return []
    return [(target, target if target.is_dir() else target.parent)]


def _glob_root(pattern: Path) -> Path:
    """The longest leading part of a glob pattern without wildcards."""
    fixed = []
    for part in pattern.parts:
        if _GLOB_CHARS & set(part):
            break
        fixed.append(part)
    return Path(*fixed)
