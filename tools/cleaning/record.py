"""Clean and redact one source record (pure, deterministic, picklable module functions).

The same function runs in the Python engine and inside Spark executors, so it depends on
nothing but its input: the title is normalized to one line, the text goes through every
rule of :mod:`tools.cleaning.text`, and the title, the text, the uri and every string in
the metadata (nested lists and dicts included, keys left as they are) are redacted by
:mod:`tools.cleaning.redact`. The content hash is recomputed from the cleaned fields.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import fields
from typing import Any

from tools.cleaning.redact import placeholder, redact_text
from tools.cleaning.text import clean_text, normalize_inline, normalize_unicode
from tools.records import RecordRow, SourceRecord

_REQUIRED = ("id", "source")
_TEXT_FIELDS = ("uri", "title", "text")
_FIELDS = tuple(field.name for field in fields(SourceRecord))


def _redacted(text: str, counts: Counter[str]) -> str:
    redacted, found = redact_text(text)
    counts.update(found)
    return redacted


def _clean_value(value: Any, counts: Counter[str], key: str = "") -> Any:
    """Normalize and redact every string inside a metadata value, recursively.

    A field named like an email (``author_email``) is redacted whole when it holds an
    ``@``: git accepts addresses such as ``alice@localhost`` that the email rule (which
    wants a dotted domain) would let through.
    """
    if isinstance(value, str):
        if key.lower().endswith("email") and "@" in value:
            counts["email"] += 1
            return placeholder("email")
        return _redacted(normalize_unicode(value), counts)
    if isinstance(value, dict):
        return {name: _clean_value(item, counts, name) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clean_value(item, counts, key) for item in value]
    return value


def _checked(row: RecordRow) -> RecordRow:
    """Validate the fields ``clean_record`` reads; raise ``ValueError`` naming the problem."""
    if not isinstance(row, dict):
        raise ValueError(f"record must be a dict, got {type(row).__name__}")
    missing = [name for name in _REQUIRED if not row.get(name)]
    if missing:
        raise ValueError(f"record {row.get('id', '?')!r} lacks {', '.join(missing)}")
    for name in _TEXT_FIELDS:
        if not isinstance(row.get(name) or "", str):
            raise ValueError(f"record {row['id']!r}: {name} must be a string")
    if not isinstance(row.get("metadata") or {}, dict):
        raise ValueError(f"record {row['id']!r}: metadata must be an object")
    return {**row, **{name: row.get(name) or "" for name in _TEXT_FIELDS}}


def clean_record(row: RecordRow) -> tuple[RecordRow, Counter[str]]:
    """Clean and redact one source record.

    Args:
        row: A source record dict (``SourceRecord.to_dict()`` form).

    Returns:
        The cleaned record dict with a recomputed ``content_hash``, and the redaction counts
        by kind (``email``, ``ip``, ``aws-access-key``, ...) over all of its fields.

    Raises:
        ValueError: ``row`` is not a record (missing id or source, non-string text fields,
            metadata that is not an object).
    """
    record = SourceRecord.from_dict(_checked(row))
    counts: Counter[str] = Counter()
    cleaned = SourceRecord(
        id=record.id,
        source=record.source,
        uri=_redacted(normalize_inline(record.uri), counts),
        title=_redacted(normalize_inline(record.title), counts),
        text=_redacted(clean_text(record.text), counts),
        metadata=_clean_value(record.metadata, counts),
    )
    return {name: getattr(cleaned, name) for name in _FIELDS}, counts
