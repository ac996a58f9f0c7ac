"""Docs loader: Markdown, reStructuredText, HTML, plain text, PDF and DOCX to source records.

Every format becomes Markdown-like text: headings as ``#`` lines, code as fenced blocks.
Parsing uses maintained libraries (markdown-it-py, docutils, beautifulsoup4, pypdf,
python-docx). The title is the first heading (``<title>``, document properties or YAML
front matter when present), else the file name; a changelog whose first heading is a
version is titled by its folder and file name. Record ids are ``docs:<path relative to
the docs root>``.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import docx
import yaml
from bs4 import BeautifulSoup, Comment, NavigableString, Tag
from bs4.element import PreformattedString
from docutils import nodes
from docutils.core import publish_doctree
from docx.opc.exceptions import PackageNotFoundError
from docx.table import Table
from markdown_it import MarkdownIt
from markdown_it.common.utils import normalizeReference
from pypdf import PdfReader
from pypdf.errors import PyPdfError

from tools.loaders.formats import BINARY_FORMATS, doc_format
from tools.loaders.jira_markup import fence
from tools.records import SourceRecord
from tools.report import StageReport

_Converted = tuple[str | None, str, dict[str, Any]]
_VERSION_ENTRY = re.compile(r"^\W*v?\d+(?:\.\d+)+\b")
_CHANGELOG = re.compile(r"change(?:s|log)|history|news|releases?", re.IGNORECASE)


def _title(heading: str | None, path: Path) -> str:
    """A document's title: its first heading, else its file name.

    A changelog's first heading is its latest entry ("v2.0.7 (Apr 26, 2021)"), which names
    no page: such a document is titled by its folder (the project at the docs root) and
    file name, ``appcd-fswatcher CHANGELOG``. A numbered section ("1.1 Overview") of any
    other file stays its title.
    """
    heading = (heading or "").strip()
    if not heading:
        return path.name
    if _VERSION_ENTRY.match(heading) and _CHANGELOG.fullmatch(path.stem):
        return f"{path.parent.name} {path.stem}"
    return heading


def load_document(
    path: Path, root: Path, content: str | bytes, report: StageReport, base_url: str = ""
) -> Iterator[SourceRecord]:
    """Yield the record of one document (nothing, with a skip reason, when it has no text).

    Args:
        path: The file.
        root: The docs root the record id is relative to.
        content: Decoded text for text formats, raw bytes for PDF and DOCX.
        report: Receives skips.
        base_url: Where people read the docs; the record's ``uri`` is this URL plus the
            relative path, or the relative path alone (never a path on this machine).
    """
    kind = doc_format(path)
    if kind is None:
        report.skip(str(path), f"unsupported extension {path.suffix!r}")
        return
    try:
        title, text, extra = _CONVERTERS[kind](content)
    except _UNREADABLE as exc:
        if kind not in BINARY_FORMATS:
            raise
        report.skip(str(path), f"unreadable {kind.upper()}: {type(exc).__name__}: {exc}")
        return
    text = _squeeze(text)
    if not text:
        report.skip(str(path), "no text content")
        return
    relative = path.relative_to(root).as_posix()
    metadata = {"project": root.name, "format": kind, "path": relative, **extra}
    yield SourceRecord(
        id=f"docs:{relative}",
        source="docs",
        uri=f"{base_url.rstrip('/')}/{quote(relative)}" if base_url else relative,
        title=_title(title, path),
        text=text,
        metadata={k: v for k, v in metadata.items() if v not in (None, "")},
    )


# Markdown ---------------------------------------------------------------------------------

_MARKDOWN = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)


def markdown_to_text(source: str) -> _Converted:
    """Markdown kept as Markdown, normalized for the chunker.

    Setext headings become ``#`` lines, indented code becomes fenced, reference links
    become inline links (``[docs][11]`` and ``[11]: https://...`` read as ``[docs](https://...)``,
    the definitions dropped: a page of them chunked into runs of bare URLs), HTML comments
    and YAML front matter are dropped (its ``title`` is used).
    """
    title, body = _front_matter(source)
    lines = body.split("\n")
    env: dict[str, Any] = {}
    tokens = _MARKDOWN.parse(body, env)
    references = env.get("references") or {}
    replaced: dict[int, tuple[int, list[str]]] = {
        ref["map"][0]: (ref["map"][1], []) for ref in references.values() if ref.get("map")
    }
    code: set[int] = set()
    for index, token in enumerate(tokens):
        if token.map is None:
            continue
        start, end = token.map
        if token.type == "heading_open":
            inline = tokens[index + 1]
            title = title or _inline_plain(inline)
            if token.markup in ("=", "-"):
                heading = _inline_references(inline.content.strip(), references)
                replaced[start] = (end, [f"{'#' * int(token.tag[1])} {heading}"])
        elif token.type == "code_block" and token.level == 0:
            replaced[start] = (end, fence(token.content.rstrip("\n")).split("\n"))
        elif token.type in ("fence", "code_block"):
            code.update(range(start, end))
    out: list[str] = []
    prose: list[str] = []

    def flush() -> None:
        if prose:
            text = _HTML_COMMENT.sub("", "\n".join(prose))
            out.extend(_inline_references(text, references).split("\n"))
            prose.clear()

    index = 0
    while index < len(lines):
        if index in replaced:
            flush()
            index, new = replaced[index]
            out.extend(new)
            continue
        if index in code:
            flush()
            out.append(lines[index])
        else:
            prose.append(lines[index])
        index += 1
    flush()
    return title, "\n".join(out), {}


_REFERENCE_LINK = re.compile(
    r"(`+)[^`]*?\1|(?<!\])\[((?:[^\[\]]|\[[^\[\]]*\])*)\](?:\[([^\[\]]*)\]|(?![(:]))"
)
"""Inline code (kept as is), or a full, collapsed or shortcut reference link (its text may
hold one bracketed level: a badge ``[![Build][img]][url]``)."""


def _inline_references(text: str, references: dict[str, Any]) -> str:
    """``text`` with each reference link to a defined label written as an inline link."""

    def inline(match: re.Match[str]) -> str:
        if match.group(1):
            return match.group(0)
        words = match.group(2)
        label = match.group(3) or words
        found = references.get(normalizeReference(label)) if label else None
        inner = _inline_references(words, references)
        tail = match.group(0)[len(words) + 2 :]
        return f"[{inner}]({found['href']})" if found else f"[{inner}]{tail}"

    return _REFERENCE_LINK.sub(inline, text)


def _front_matter(source: str) -> tuple[str | None, str]:
    match = _FRONT_MATTER.match(source)
    if not match:
        return None, source
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        return None, source
    if not isinstance(data, dict):
        return None, source
    title = data.get("title")
    return (str(title) if title else None), source[match.end() :]


def _inline_plain(inline: Any) -> str:
    return "".join(
        child.content if child.type in ("text", "code_inline") else " "
        for child in inline.children or []
        if child.type in ("text", "code_inline", "softbreak")
    ).strip()


# reStructuredText -------------------------------------------------------------------------

_RST_SETTINGS = {
    "report_level": 5,
    "halt_level": 5,
    "file_insertion_enabled": False,
    "raw_enabled": False,
    "syntax_highlight": "none",
    "input_encoding": "unicode",
    "_disable_config": True,
}
_RST_SKIP = (
    nodes.system_message,
    nodes.comment,
    nodes.substitution_definition,
    nodes.target,
    nodes.raw,
    nodes.title,
    nodes.subtitle,
)


def rst_to_text(source: str) -> _Converted:
    """Convert reStructuredText through docutils.

    Section titles become ``#`` headings, literal blocks are fenced, lists and tables take
    their Markdown form. File inclusion and raw output are disabled.
    """
    document = publish_doctree(source, settings_overrides=dict(_RST_SETTINGS))
    title_node = next(iter(document.findall(nodes.title)), None)
    blocks = _rst_blocks(document, 0)
    return (title_node.astext() if title_node else None), "\n\n".join(blocks), {}


def _rst_blocks(node: nodes.Element, depth: int) -> list[str]:
    blocks: list[str] = []
    if isinstance(node, (nodes.document, nodes.section)):
        title = next((c for c in node.children if isinstance(c, nodes.title)), None)
        if title is not None:
            depth += 1
            blocks.append(f"{'#' * min(depth, 6)} {_rst_inline(title)}")
    for child in node.children:
        blocks.extend(_rst_block(child, depth))
    return blocks


def _rst_block(node: nodes.Node, depth: int) -> list[str]:
    if isinstance(node, _RST_SKIP):
        return []
    if isinstance(node, nodes.section):
        return _rst_blocks(node, depth)
    if isinstance(node, (nodes.paragraph, nodes.rubric)):
        return [_rst_inline(node)]
    if isinstance(node, nodes.line_block):
        return ["\n".join(_rst_inline(line) for line in node.children)]
    if isinstance(node, (nodes.literal_block, nodes.doctest_block)):
        language = next((c for c in node.get("classes", []) if c != "code"), "")
        return [fence(node.astext(), language)]
    if isinstance(node, (nodes.bullet_list, nodes.enumerated_list)):
        numbered = isinstance(node, nodes.enumerated_list)
        return ["\n".join(_rst_item(item, numbered, n) for n, item in enumerate(node.children, 1))]
    if isinstance(node, nodes.definition_list):
        return [
            f"{_rst_inline(item.children[0])}\n"
            + _indent("\n\n".join(_rst_blocks(item.children[-1], depth)))
            for item in node.children
        ]
    if isinstance(node, nodes.table):
        return [
            _pipe_table([[_rst_inline(e) for e in row.children] for row in node.findall(nodes.row)])
        ]
    if isinstance(node, nodes.block_quote):
        return [_quote("\n\n".join(_rst_blocks(node, depth)))]
    if isinstance(node, nodes.Admonition):
        label = node.tagname.capitalize() if node.tagname != "admonition" else "Note"
        return [f"{label}: " + "\n\n".join(_rst_blocks(node, depth))]
    if isinstance(node, nodes.field):
        name, body = node.children
        return [f"{name.astext()}: " + " ".join(_rst_blocks(body, depth))]
    if isinstance(node, nodes.Element):
        return _rst_blocks(node, depth)
    text = node.astext().strip()
    return [text] if text else []


def _rst_item(item: nodes.Element, numbered: bool, number: int) -> str:
    bullet = f"{number}." if numbered else "-"
    body = "\n\n".join(_rst_blocks(item, 0))
    first, _, rest = body.partition("\n")
    return f"{bullet} {first}" + (("\n" + _indent(rest)) if rest else "")


def _rst_inline(node: nodes.Node) -> str:
    if isinstance(node, nodes.Text):
        return node.astext()
    if isinstance(node, nodes.literal):
        return f"`{node.astext()}`"
    if isinstance(node, (nodes.system_message, nodes.target)):
        return ""
    text = "".join(_rst_inline(child) for child in node.children)
    if isinstance(node, nodes.reference) and node.get("refuri") and node["refuri"] != text:
        return f"{text} ({node['refuri']})"
    return text


# HTML -------------------------------------------------------------------------------------

_HTML_DROP = ("script", "style", "nav", "noscript", "template", "svg", "iframe", "head")
_HTML_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_HTML_BLOCKS = frozenset(
    {
        *("address", "article", "aside", "body", "dd", "details", "div", "dl", "dt"),
        *("fieldset", "figcaption", "figure", "footer", "form", "header", "hr", "html"),
        *("li", "main", "ol", "p", "section", "summary", "table", "tbody", "thead", "tfoot"),
        *("tr", "ul"),
    }
)


def html_to_text(source: str) -> _Converted:
    """Convert HTML through beautifulsoup4.

    ``<title>``, headings, ``pre`` and ``code`` are kept; scripts, styles, navigation and
    comments are dropped.
    """
    soup = BeautifulSoup(source, "html.parser")
    title_tag = soup.find("title")
    title = title_tag.get_text(" ", strip=True) if title_tag else None
    for comment in soup.find_all(string=lambda s: isinstance(s, Comment)):
        comment.extract()
    for tag in soup.find_all(_HTML_DROP):
        tag.decompose()
    blocks = _html_blocks(soup)
    if not title:
        heading = next((b for b in blocks if b.startswith("#")), None)
        title = heading.lstrip("#").strip() if heading else None
    return title, "\n\n".join(blocks), {}


def _html_blocks(node: Tag) -> list[str]:
    blocks: list[str] = []
    inline: list[str] = []

    def flush() -> None:
        text = re.sub(r"[ \t\r\f\v]*\n[ \t\r\f\v]*", "\n", "".join(inline)).strip()
        if text:
            blocks.append(text)
        inline.clear()

    for child in node.children:
        if isinstance(child, PreformattedString):  # doctype, CDATA, processing instruction
            continue
        if isinstance(child, NavigableString):
            inline.append(re.sub(r"\s+", " ", str(child)))
            continue
        if not isinstance(child, Tag):
            continue
        name = child.name
        if name == "br":
            inline.append("\n")
        elif name in _HTML_HEADINGS or name in ("pre", "ul", "ol", "table", "blockquote"):
            flush()
            blocks.append(_html_block(child))
        elif name in _HTML_BLOCKS:
            flush()
            blocks.extend(_html_blocks(child))
        else:
            inline.append(_html_inline(child))
    flush()
    return [block for block in blocks if block]


def _html_block(tag: Tag) -> str:
    name = tag.name
    if name in _HTML_HEADINGS:
        text = _html_inline(tag).strip()
        return f"{'#' * _HTML_HEADINGS[name]} {text}" if text else ""
    if name == "pre":
        classes = [*tag.get("class", []), *(tag.code.get("class", []) if tag.code else [])]
        language = next((c.split("-", 1)[1] for c in classes if c.startswith("language-")), "")
        return fence(tag.get_text().strip("\n"), language)
    if name in ("ul", "ol"):
        items = tag.find_all("li", recursive=False)
        return "\n".join(
            f"{f'{n}.' if name == 'ol' else '-'} " + _indent("\n".join(_html_blocks(li))).strip()
            for n, li in enumerate(items, 1)
        )
    if name == "table":
        rows = [
            [_html_inline(cell).strip() for cell in row.find_all(("td", "th"), recursive=False)]
            for row in tag.find_all("tr")
        ]
        return _pipe_table(rows)
    return _quote("\n\n".join(_html_blocks(tag)))


def _html_inline(tag: Tag) -> str:
    if tag.name == "code":
        return f"`{tag.get_text()}`"
    if tag.name == "img":
        alt = tag.get("alt")
        return f"[image: {alt}]" if alt else ""
    text = "".join(
        re.sub(r"\s+", " ", str(c)) if isinstance(c, NavigableString) else _html_inline(c)
        for c in tag.children
        if isinstance(c, (NavigableString, Tag))
    )
    href = tag.get("href") if tag.name == "a" else None
    if isinstance(href, str) and href.startswith(("http://", "https://")) and href != text.strip():
        return f"{text} ({href})"
    return text


# Plain text, PDF, DOCX --------------------------------------------------------------------


def plain_to_text(source: str) -> _Converted:
    """Plain text as it is (the title falls back to the file name)."""
    return None, source, {}


def pdf_to_text(data: bytes) -> _Converted:
    """Extract the text of every page with pypdf, pages separated by blank lines.

    Title, author and creation date come from the document information.
    """
    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted and not reader.decrypt(""):
        raise PyPdfError("encrypted PDF")
    pages = [(page.extract_text() or "").strip() for page in reader.pages]
    info = reader.metadata
    extra = {
        "author": info.author if info else None,
        "created": _iso(info.creation_date if info else None),
        "pages": len(pages),
    }
    return (info.title if info else None), "\n\n".join(p for p in pages if p), extra


def docx_to_text(data: bytes) -> _Converted:
    """Read the paragraphs and tables of a DOCX in order with python-docx.

    ``Title`` and ``Heading N`` styles become ``#`` headings, list styles list items.
    """
    document = docx.Document(io.BytesIO(data))
    blocks: list[str] = []
    first_heading = None
    number = 0
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            blocks.append(_pipe_table([[c.text.strip() for c in row.cells] for row in block.rows]))
            continue
        text = block.text.strip()
        style = block.style.name if block.style is not None else ""
        number = number + 1 if style.startswith("List Number") and text else 0
        if not text:
            continue
        level = 1 if style == "Title" else _heading_level(style)
        if level:
            first_heading = first_heading or text
            blocks.append(f"{'#' * level} {text}")
        elif number:
            blocks.append(f"{number}. {text}")
        elif style.startswith("List"):
            blocks.append(f"- {text}")
        else:
            blocks.append(text)
    props = document.core_properties
    extra = {"author": props.author or None, "created": _iso(props.created)}
    return (props.title or first_heading), "\n\n".join(blocks), extra


def _heading_level(style: str) -> int:
    match = re.fullmatch(r"Heading ([1-9])", style)
    return min(int(match.group(1)), 6) if match else 0


# Shared helpers ---------------------------------------------------------------------------


def _pipe_table(rows: list[list[str]]) -> str:
    rows = [[cell.replace("\n", " ").replace("|", "\\|") for cell in row] for row in rows if row]
    if not rows:
        return ""
    lines = ["| " + " | ".join(row) + " |" for row in rows]
    lines.insert(1, "|" + " --- |" * len(rows[0]))
    return "\n".join(lines)


def _indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line if line else line for line in text.split("\n"))


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.split("\n"))


def _squeeze(text: str) -> str:
    """Normalize newlines, strip trailing spaces and runs of blank lines outside fences."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    out: list[str] = []
    fence_mark = ""
    for line in text.split("\n"):
        stripped = line.strip()
        if fence_mark:
            out.append(line)
            if stripped.startswith(fence_mark) and not stripped.strip("`~"):
                fence_mark = ""
            continue
        opening = re.match(r"(`{3,}|~{3,})", stripped)
        if opening:
            fence_mark = opening.group(1)
        line = line.rstrip()
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip("\n")


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


_CONVERTERS: dict[str, Callable[[Any], _Converted]] = {
    "markdown": markdown_to_text,
    "rst": rst_to_text,
    "html": html_to_text,
    "text": plain_to_text,
    "pdf": pdf_to_text,
    "docx": docx_to_text,
}
_UNREADABLE = (PyPdfError, PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError)
