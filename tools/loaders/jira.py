"""Jira loader: REST API v2 issue JSON to source records.

Accepts one issue per document, search result pages (``{"issues": [...]}``) and lists of
issues, either as one JSON document or as JSON Lines. The record text is the description
followed by one ``## Comment by <author> on <YYYY-MM-DD>`` section per comment, all
converted from wiki markup by :mod:`tools.loaders.jira_markup`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from tools.loaders.jira_markup import jira_to_markdown
from tools.records import SourceRecord, comment_heading
from tools.report import StageReport

_LIST_FIELDS = {"components": "components", "versions": "versions", "fixVersions": "fix_versions"}


class BadIssue(ValueError):
    """An issue object whose fields do not have the types of Jira's REST API."""


def load_jira_text(
    text: str, origin: str, report: StageReport, *, lines: bool
) -> Iterator[SourceRecord]:
    """Yield the issues of one Jira export.

    Malformed JSON, documents that hold no issue (such as a ``project.json``) and issues
    whose fields have the wrong type are skipped with a reason; an issue that cannot be
    converted otherwise is reported as failed.

    Args:
        text: The file's text.
        origin: Where it came from (a path), used in skip and failure reasons.
        report: Receives skips and failures.
        lines: Whether ``text`` is JSON Lines (one document per line).
    """
    documents = enumerate(text.split("\n"), start=1) if lines else [(0, text)]
    for number, chunk in documents:
        where = f"{origin}:{number}" if lines else origin
        if not chunk.strip():
            continue
        try:
            document = json.loads(chunk)
        except json.JSONDecodeError as exc:
            report.skip(where, f"malformed JSON: {exc}")
            continue
        issues = list(_issues(document))
        if not issues:
            report.skip(where, f"not a Jira issue or search page ({_describe(document)})")
        for issue in issues:
            key = issue.get("key")
            if not isinstance(key, str) or not key:
                report.skip(where, "Jira issue without a key")
                continue
            try:
                yield issue_to_record(issue)
            except BadIssue as exc:
                report.skip(f"{where}#{key}", str(exc))
            except Exception as exc:  # one bad issue must not stop the file
                report.fail(f"{where}#{key}", exc)


def issue_to_record(issue: dict[str, Any]) -> SourceRecord:
    """Convert one REST API v2 issue object into a source record."""
    key = _text(issue, "key")
    fields = issue.get("fields") or {}
    if not isinstance(fields, dict):
        raise BadIssue(f"`fields` must be an object, got {_kind(fields)}")
    users = _user_names(fields)
    comment_field = fields.get("comment") or {}
    comments = [c for c in comment_field.get("comments") or [] if isinstance(c, dict)]
    parts = [jira_to_markdown(_text(fields, "description"), users)]
    for comment in comments:
        author = _person(comment.get("author")) or "unknown"
        day = (_iso(comment.get("created")) or "")[:10] or "unknown date"
        body = jira_to_markdown(_text(comment, "body"), users)
        parts.append(comment_heading(author, day) + (f"\n\n{body}" if body else ""))
    metadata = _metadata(key, fields, len(comments), comment_field.get("total"))
    return SourceRecord(
        id=f"jira:{key}",
        source="jira",
        uri=browse_url(issue),
        title=_text(fields, "summary").strip() or key,
        text="\n\n".join(part for part in parts if part),
        metadata=metadata,
    )


def _kind(value: Any) -> str:
    """A JSON value's kind in words: ``a number``, ``a list``, ..."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    return {list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def _text(obj: dict[str, Any], name: str) -> str:
    """The text field ``name`` of a Jira object ("" when absent).

    Raises:
        BadIssue: The field holds something else than text (a number, a list, ...).
    """
    value = obj.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadIssue(f"field `{name}` must be text, got {_kind(value)}")
    return value


def browse_url(issue: dict[str, Any]) -> str:
    """``https://host/browse/KEY`` from the issue's ``self`` API URL, else ``jira:KEY``."""
    key = issue["key"]
    api = issue.get("self")
    if isinstance(api, str) and "/rest/api/" in api and api.startswith(("http://", "https://")):
        return f"{api.split('/rest/api/', 1)[0]}/browse/{key}"
    return f"jira:{key}"


def _issues(document: Any) -> Iterator[dict[str, Any]]:
    if isinstance(document, list):
        for item in document:
            yield from _issues(item)
    elif isinstance(document, dict):
        if isinstance(document.get("fields"), dict) and "key" in document:
            yield document
        elif isinstance(document.get("issues"), list):
            yield from _issues(document["issues"])


def _describe(document: Any) -> str:
    if isinstance(document, dict):
        return "object with keys " + ", ".join(sorted(document)[:8])
    return type(document).__name__


def _metadata(key: str, fields: dict[str, Any], kept: int, total: Any) -> dict[str, Any]:
    project = (fields.get("project") or {}).get("key") or key.rsplit("-", 1)[0]
    meta: dict[str, Any] = {
        "project": project,
        "type": _name(fields.get("issuetype")),
        "status": _name(fields.get("status")),
        "resolution": _name(fields.get("resolution")),
        "priority": _name(fields.get("priority")),
        "labels": sorted(str(label) for label in fields.get("labels") or []),
        "author": _person(fields.get("reporter")) or _person(fields.get("creator")),
        "assignee": _person(fields.get("assignee")),
        "created": _iso(fields.get("created")),
        "updated": _iso(fields.get("updated")),
        "resolved": _iso(fields.get("resolutiondate")),
        "environment": jira_to_markdown(fields.get("environment")),
        "links": _links(key, fields),
        "comments_count": kept,
    }
    for field, name in _LIST_FIELDS.items():
        meta[name] = [n for n in (_name(item) for item in fields.get(field) or []) if n]
    if isinstance(total, int) and total > kept:
        meta["comments_total"] = total
    return {k: v for k, v in meta.items() if v not in (None, "", [])}


def _links(key: str, fields: dict[str, Any]) -> list[str]:
    """Linked issues: issue links, parent, sub-tasks and epic, as ``jira:KEY`` ids."""
    keys: set[str] = set()
    for link in fields.get("issuelinks") or []:
        for side in ("inwardIssue", "outwardIssue"):
            keys.add((link.get(side) or {}).get("key") or "")
    for related in [fields.get("parent"), fields.get("epic"), *(fields.get("subtasks") or [])]:
        if isinstance(related, dict):
            keys.add(related.get("key") or "")
    keys.discard("")
    keys.discard(key)
    return [f"jira:{k}" for k in sorted(keys)]


def _name(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("name") or value.get("value")
    return value if isinstance(value, str) else None


def _person(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("displayName") or value.get("name") or value.get("key")
    return None


def _user_names(fields: dict[str, Any]) -> dict[str, str]:
    """User name and key to display name, for ``[~name]`` mentions."""
    people = [fields.get(f) for f in ("reporter", "assignee", "creator")]
    for comment in (fields.get("comment") or {}).get("comments") or []:
        if isinstance(comment, dict):
            people += [comment.get("author"), comment.get("updateAuthor")]
    names: dict[str, str] = {}
    for person in people:
        if isinstance(person, dict) and person.get("displayName"):
            for handle in (person.get("name"), person.get("key"), person.get("accountId")):
                if handle:
                    names[handle] = person["displayName"]
    return names


def _iso(value: Any) -> str | None:
    """Jira's ``2014-05-01T03:02:10.000+0000`` as ISO 8601 ``2014-05-01T03:02:10+00:00``."""
    if not isinstance(value, str) or not value:
        return None
    for parse in (lambda v: datetime.strptime(v, "%Y-%m-%dT%H:%M:%S.%f%z"), datetime.fromisoformat):
        try:
            return parse(value).isoformat(timespec="seconds")
        except ValueError:
            continue
    return value
