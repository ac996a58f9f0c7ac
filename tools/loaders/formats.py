"""Which files the docs loader reads, by extension; free of the parsers it needs for them."""

from __future__ import annotations

from pathlib import Path

FORMATS = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".rst": "rst",
    ".rest": "rst",
    ".html": "html",
    ".htm": "html",
    ".txt": "text",
    ".text": "text",
    ".pdf": "pdf",
    ".docx": "docx",
}
BINARY_FORMATS = frozenset({"pdf", "docx"})


def doc_format(path: Path) -> str | None:
    """The format name for ``path``'s extension (case-insensitive), or None if unsupported."""
    return FORMATS.get(path.suffix.lower())
