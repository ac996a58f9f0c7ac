"""Jira wiki markup to clean Markdown-like text (pure functions).

Code (``{code}``, ``{noformat}``) and monospace (``{{...}}``) are kept verbatim; headings,
quotes, lists and tables become their Markdown forms; emphasis markers are dropped (struck
text becomes ``~~text~~`` so withdrawn statements stay recognisable); links become
``text (url)``; decoration macros (``{color}``, ``{panel}``, ...) are removed and their
content kept. Markers only count where Jira itself would render them (a ``*`` or ``_``
next to a word character, a ``/`` or a ``.`` is literal), so ``snake_case`` names, globs
such as ``widgets/*/assets`` and paths are left alone. An unclosed ``{code}`` runs to the
end of the text, which keeps the code intact.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

_TOKEN = re.compile("\ue000(\\d+)\ue001")
_STRIP_PRIVATE = str.maketrans("", "", "\ue000\ue001")

_CODE = re.compile(r"\{(code|noformat)(?::([^}\n]*))?\}(.*?)\{\1\}", re.S)
_CODE_OPEN = re.compile(r"\{(code|noformat)(?::([^}\n]*))?\}")
_QUOTE = re.compile(r"\{quote\}(.*?)\{quote\}", re.S)
_BLOCK_MACRO = re.compile(
    r"\{(?:panel|section|column|info|note|tip|warning|div)"
    r"(?::((?:\w+=[^|}\n]*)(?:\|\w+=[^|}\n]*)*))?\}"
)
_INLINE_MACRO = re.compile(r"\{(?:color(?::\s*#?\w+)?|span|anchor:[^}\n]*|quote)\}")

_HEADING = re.compile(r"^\s*h([1-6])\.(?!\d)\s*(.*)$")
_BQ = re.compile(r"^\s*bq\.\s+(.*)$")
_LIST = re.compile(r"^\s*(?:([*#]+)|(-))\s+(\S.*)$")
_RULE = re.compile(r"^\s*-{4,}\s*$")
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")

_MONO = re.compile(r"\{\{(.+?)\}\}")
_IMAGE = re.compile(r"!((?:https?://)?[^\s!|]+\.[A-Za-z0-9]{2,5})(?:\|[^!\n]*)?!")
_LINK = re.compile(r"\[([^\[\]\n]+)\]")
_URL = re.compile(r"(?:https?|ftp|file)://[^\s\[\]<>\"'`]+")
_URL_TAIL = ".,;:!?)'\""
_LINK_TARGET = re.compile(r"^(?:(?:https?|ftp|file)://\S+|mailto:\S+|[#^~]\S+|[A-Z][A-Z0-9]+-\d+)$")
_ESCAPE = re.compile(r"\\([*_+\-{}\[\]!|^~?#])")

_BOLD = re.compile(r"(?<![\w*/\\])\*(?=[^\s*/.])([^*\n]*?[^\s*/\\])\*(?![\w*/])")
_EM = re.compile(r"(?<![\w_/\\.$])_(?=[^\s_.])([^_\n]*?[^\s_\\])_(?![\w_])")
_STRIKE = re.compile(r"(?<![^\s(])-(?=[^\s-])([^-\n]*?[^\s-])-(?=[\s.,;:!?)]|$)")
_INS = re.compile(r"(?<![\w+])\+(?=[^\s+])([^+\n]*?[^\s+])\+(?![\w+])")


def fence(body: str, language: str = "") -> str:
    """Wrap ``body`` in a Markdown code fence longer than any backtick run inside it."""
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    marks = "`" * max(3, longest + 1)
    return f"{marks}{language}\n{body}\n{marks}"


def jira_to_markdown(markup: str | None, users: Mapping[str, str] | None = None) -> str:
    """Convert Jira wiki markup to Markdown-like text.

    Args:
        markup: Jira wiki markup (``None`` gives ``""``).
        users: Optional user name or key to display name map for ``[~name]`` mentions.

    Returns:
        The text with code fenced, headings as ``#`` lines and markup removed.
    """
    if not markup:
        return ""
    return _Converter(users or {}).convert(markup)


class _Converter:
    """One conversion: protected spans are kept in ``self.kept`` behind private-use tokens."""

    def __init__(self, users: Mapping[str, str]) -> None:
        self.users = users
        self.kept: list[str] = []

    def convert(self, markup: str) -> str:
        text = markup.replace("\r\n", "\n").replace("\r", "\n").translate(_STRIP_PRIVATE)
        return self.restore(_tidy(self.blocks(self.extract_code(text))))

    def keep(self, value: str) -> str:
        self.kept.append(value)
        return f"\ue000{len(self.kept) - 1}\ue001"

    def restore(self, text: str) -> str:
        while _TOKEN.search(text):
            text = _TOKEN.sub(lambda m: self.kept[int(m.group(1))], text)
        return text

    def extract_code(self, text: str) -> str:
        """Replace code and noformat blocks by tokens (inline when within one line)."""

        def replace(match: re.Match[str]) -> str:
            body = match.group(3)
            line_start = text.rfind("\n", 0, match.start()) + 1
            line_end = text.find("\n", match.end())
            before = text[line_start : match.start()]
            after = text[match.end() : len(text) if line_end < 0 else line_end]
            if "\n" not in body and (before.strip() or after.strip()) and body.strip():
                return self.keep(_inline_code(body.strip()))
            return "\n\n" + self.keep(_code_block(body, match.group(1), match.group(2))) + "\n\n"

        text = _CODE.sub(replace, text)
        unclosed = _CODE_OPEN.search(text)
        if unclosed:
            block = _code_block(text[unclosed.end() :], unclosed.group(1), unclosed.group(2))
            text = text[: unclosed.start()] + "\n\n" + self.keep(block)
        return text

    def blocks(self, text: str) -> str:
        """Convert quotes, macros and line-level structure of text without code."""
        text = _QUOTE.sub(lambda m: "\n" + self.keep(self.quote(m.group(1))) + "\n", text)
        text = _BLOCK_MACRO.sub(lambda m: "\n" + _macro_title(m.group(1)) + "\n", text)
        text = _INLINE_MACRO.sub("", text)
        return "\n".join(self.lines(text.split("\n")))

    def quote(self, inner: str) -> str:
        body = self.restore(_tidy(self.blocks(inner)))
        return "\n".join(f"> {line}" if line else ">" for line in body.split("\n"))

    def lines(self, lines: list[str]) -> list[str]:
        out: list[str] = []
        numbers: dict[int, int] = {}
        for index, line in enumerate(lines):
            item = _LIST.match(line)
            if not item:
                numbers.clear()
            if _TOKEN.fullmatch(line.strip()):
                out.append(line.strip())
            elif _RULE.match(line):
                out.append("---")
            elif heading := _HEADING.match(line):
                title = self.inline(heading.group(2)).strip()
                if title:
                    out.append(f"{'#' * int(heading.group(1))} {title}")
            elif quote := _BQ.match(line):
                out.append("> " + self.inline(quote.group(1)))
            elif item:
                out.append(self.list_item(item, numbers))
            elif _TABLE_ROW.match(line):
                out.extend(self.table_row(line, lines[index + 1 : index + 2]))
            else:
                out.append(self.inline(line))
        return out

    def list_item(self, item: re.Match[str], numbers: dict[int, int]) -> str:
        marks = item.group(1) or item.group(2)
        depth = len(marks)
        for deeper in [d for d in numbers if d > depth]:
            del numbers[deeper]
        if marks[-1] == "#":
            numbers[depth] = numbers.get(depth, 0) + 1
            bullet = f"{numbers[depth]}."
        else:
            numbers.pop(depth, None)
            bullet = "-"
        return f"{'  ' * (depth - 1)}{bullet} {self.inline(item.group(3))}"

    def table_row(self, line: str, following: list[str]) -> list[str]:
        header = line.lstrip().startswith("||")
        cells = [_emphasize(cell).strip() for cell in _split_cells(self.protect(line))]
        rows = ["| " + " | ".join(cells) + " |"]
        next_is_header = bool(following) and following[0].lstrip().startswith("||")
        if header and not next_is_header:
            rows.append("|" + " --- |" * len(cells))
        return rows

    def inline(self, text: str) -> str:
        """Convert the inline markup of one line."""
        return _emphasize(self.protect(text))

    def protect(self, text: str) -> str:
        """Turn monospace, images, links, URLs and escapes into tokens."""
        text = _MONO.sub(lambda m: self.keep(_inline_code(m.group(1))), text)
        text = _IMAGE.sub(lambda m: self.keep(f"[image: {m.group(1)}]"), text)
        text = _LINK.sub(self.link, text)
        text = _URL.sub(self.url, text)
        return _ESCAPE.sub(lambda m: self.keep(m.group(1)), text)

    def link(self, match: re.Match[str]) -> str:
        alias, _, target = match.group(1).rpartition("|")
        target = target.strip()
        if not _LINK_TARGET.match(target):
            return match.group(0)
        alias = _emphasize(alias.strip())
        if target[0] == "~":
            shown = alias or "@" + self.users.get(target[1:], target[1:])
        elif target[0] in "#^":
            shown = alias or target[1:]
        else:
            address = target.removeprefix("mailto:")
            shown = f"{alias} ({address})" if alias and alias != address else address
        return self.keep(shown)

    def url(self, match: re.Match[str]) -> str:
        url = match.group(0)
        stripped = url.rstrip(_URL_TAIL)
        return self.keep(stripped) + url[len(stripped) :]


def _emphasize(text: str) -> str:
    """Drop bold, emphasis and insert markers; mark struck text ``~~...~~``.

    Two passes, so nested markers such as ``_*both*_`` are undone whatever their order.
    """
    for pattern, render in _EMPHASIS * 2:
        text = pattern.sub(render, text)
    return text


_EMPHASIS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (_BOLD, lambda m: m.group(1)),
    (_EM, lambda m: m.group(1)),
    (_STRIKE, lambda m: f"~~{m.group(1)}~~"),
    (_INS, lambda m: m.group(1)),
)


def _inline_code(body: str) -> str:
    ticks = "``" if "`" in body else "`"
    pad = " " if body.startswith("`") or body.endswith("`") else ""
    return f"{ticks}{pad}{body}{pad}{ticks}"


def _code_block(body: str, kind: str, params: str | None) -> str:
    lines = body.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return fence("\n".join(lines), _code_language(params) if kind == "code" else "")


def _code_language(params: str | None) -> str:
    """The language of ``{code:java}`` or ``{code:language=java|title=X}``, else ``""``."""
    for part in (params or "").split("|"):
        key, eq, value = (piece.strip() for piece in part.partition("="))
        candidate = value if key in ("language", "lang") else ("" if eq else key)
        if re.fullmatch(r"[\w+#.-]+", candidate):
            return candidate.lower()
    return ""


def _macro_title(params: str | None) -> str:
    for part in (params or "").split("|"):
        key, _, value = part.partition("=")
        if key.strip() == "title" and value.strip():
            return value.strip()
    return ""


def _split_cells(row: str) -> list[str]:
    """Split a protected table row on its ``|`` and ``||`` separators."""
    cells = row.strip().replace("||", "|").split("|")
    return cells[1:-1] if len(cells) > 2 else [cell for cell in cells if cell.strip()]


def _tidy(text: str) -> str:
    """Strip trailing spaces, squeeze blank-line runs and trim the ends."""
    lines = [line.rstrip() for line in text.split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip("\n")
