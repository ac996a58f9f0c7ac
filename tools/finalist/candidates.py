"""Candidate sentences: what of a fact's text the offline finalist may quote.

A fact's prose sentences, table rows, commands and code blocks (the one a sentence ending in
``:`` or a heading introduces, or any short block under a heading, or the short paragraphs
and commented lines of a long one), each with its content
terms (:func:`terms`) and where it sits (a list item, a Jira comment, under which heading).
"""

from __future__ import annotations

import re
import textwrap
from bisect import bisect
from collections.abc import Sequence
from dataclasses import dataclass, replace

from tools.finalist.chatter import without_address
from tools.finalist.citations import (
    MARKER,
    normalize_space,
    prose,
    sentence_spans,
    table_rows,
    tag_sentence,
)
from tools.index.fields import BM25_VERSION_PREFIX
from tools.records import COMMENT_HEADING, MORE_FILES, Hit
from tools.stemming import fold

MIN_WORDS = 4
MIN_COMMENT_WORDS = 2
"""Words a Jira comment's sentence needs: a thread often ends in a short one
("Published ioslib@2.5.0.", "Decided not to fix this.")."""
MAX_SENTENCE_CHARS = 600
MIN_CODE_INTRO_WORDS = 2
MAX_CODE_LINES = 8
MAX_CODE_CHARS = 400
MAX_INLINE_CODE = 120

KEY = re.compile(r"\b[A-Z][A-Z0-9]+-\d+\b")
_CODE_AFTER = re.compile(
    r"[ \t]*\r?\n(?:[ \t]*\r?\n)+((?:(?:\t| {4})[^\n]*(?:\n|$))+)"
    r"|[ \t]*\r?\n(?:[ \t]*\r?\n)*[ \t]*```[^\n]*\n(.*?)(?m:^)[ \t]*```"
    r"|[ \t]*\r?\n(?:[ \t]*\r?\n)*((?:[ \t]*(?:`[^`\n]+`|https?://\S+)[ \t]*(?:\r?\n|$))+)",
    re.DOTALL,
)
_HEADING = re.compile(r"^[ \t]*#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_FENCED = re.compile(r"^[ \t]*```[^\n]*\n(.*?)^[ \t]*```", re.DOTALL | re.MULTILINE)
_ITEM_HEADING = re.compile(r"^[ \t]*(?:[-*+]|\d+[.)])[ \t]+#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_MARK = re.compile(
    r"^[ \t]*(?:(#{1,6})[ \t]+(.+?)[ \t#]*"
    r"|(?:[-*+][ \t]+)?\*\*([^*\n]+)\*\*"
    r"(?:[ \t]+[-\u2013][ \t]+\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4})?)[ \t]*$",
    re.MULTILINE,
)
_PACKAGE = re.compile(r"@?[a-z0-9][a-z0-9._/-]*")
"""A heading that names a package (``appcd-core``): the versions listed under it are its."""
_RELEASE_NUMBER = re.compile(r"\[?(v?\d+\.\d+\.\d+[\w.-]*)(?:\]|\s|$)")
_RELEASE_DATE = re.compile(
    r"\(([A-Z][a-z]{2,8}\.? \d{1,2}, \d{4}|\d{4}-\d{2}-\d{2})\)[ \t#]*$"
    r"|[-\u2013][ \t]+(\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4})[ \t]*$"
)
"""The date a version mark gives: ``(Dec 1, 2020)``, ``(2024-01-09)``, `` - 3/3/2021``."""
_DATED = re.compile(r" \([^)]*\)$")
"""The date a version label ends with (``v2.0.1 (Dec 1, 2020)``)."""
_CODE_HEADING = re.compile(r"`[^`]+`(?:\s*,\s*`[^`]+`)*")
_NAME_HEADING = re.compile(r"(?=\S*(?:[._/]\w|\d))[\w$@-]+(?:[._/][\w$@-]+)*")
_VERSION_V = re.compile(BM25_VERSION_PREFIX)
_MORE_FILES = re.compile(re.escape(MORE_FILES).replace(re.escape("{}"), r"\d+"))
_CODE_PARAGRAPH = re.compile(r"\n[ \t]*\n")
_COMMENTED_LINE = re.compile(
    r"^[^\n]*?\S[ \t]+(?://|#(?=[ \t]))[ \t]*(?:\S+[ \t]+){3,}\S[^\n]*$", re.MULTILINE
)
"""A line of code with a comment of four words or more after it."""
_IMPORT = re.compile(r"\s*(?:import\b|(?:const|let|var)\s+(?:\{[^}]*\}|\S+)\s*=\s*require\()")
"""A line of code that imports a name: code of nothing else answers nothing."""
_TOKEN = re.compile(r"[A-Za-z0-9]+(?:[-_./][A-Za-z0-9]+)*")
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_ANCHOR_LINK = re.compile(r"\[[^\]]*\]\(#[^)]*\)\.?")
_ITEM_START = re.compile(r"[ \t]*(?:[-*+]|\d+[.)])[ \t]+")
_LIST_AFTER = re.compile(r"[ \t]*\r?\n(?:[ \t]*\r?\n)*[ \t]*(?:[-*+]|\d+[.)])[ \t]+")
"""A list starting on the lines after a sentence (that ends in ``:`` to introduce it)."""
_STOPWORD_TEXT = """
a about above after again against all also am an and any are as at be because been before
being below between both but by can could did do does doing done down during each few for
from further get got had has have having he her here hers him his how i if in into is it its
itself just let me more most my no nor not now of off on once only or other our out over own
please same she should so some such than that the their them then there these they this
those through to too under until up us very was we were what when where which while who whom
why will with would you your tell know explain describe show give happen happened
still though even yet already anymore
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def terms(text: str, parts: bool = True) -> list[str]:
    """Lower-cased content terms of ``text``: stopwords out, suffixes folded.

    Compound tokens such as ``ALOY-1000``, ``index.js`` or ``1.4.0`` stay whole (``v1.4.0``
    is ``1.4.0``, as a question writes it); their
    word parts are added too (except for Jira keys, or when ``parts`` is false) so
    ``model-binding`` matches ``model binding``.
    """
    out = []
    for token in _TOKEN.findall(text):
        word = _VERSION_V.sub("", token.lower())
        if word in STOPWORDS or (len(word) < 2 and not word.isdigit()):
            continue
        out.append(fold(word))
        if parts and not KEY.fullmatch(token) and re.search(r"[-_./]", word):
            out.extend(
                fold(part)
                for part in re.split(r"[-_./]", word)
                if len(part) > 2 and part not in STOPWORDS
            )
    return out


@dataclass(frozen=True)
class Candidate:
    """A sentence of a fact that may go into the answer.

    Attributes:
        fact: Index of the fact in the list given to the finalist.
        position: Order of the sentence in its fact.
        text: The sentence, whitespace normalized (a substring of the normalized fact text).
        terms: Its content terms (and its code's).
        code: The code block it introduces (it ends with ``:``), lines kept.
        item: It starts a list item.
        listed: It is on a list item's line (an item's first or a later sentence).
        row: It is a table row (its cells joined by `` | ``).
        headed: Its text is the heading its code sits under (``Usage``), not a sentence.
        comment: Which of its chunk's Jira comments it is in, counted from 1 (0: the
            issue's description).
        under: The terms of the document heading it sits under ("checkmap.js" for the
            sentence that says what that script does).
        label: The heading it is the first sentence under, when that heading names what it
            describes: a list item's (`` `--debug` `` in a CLI page's options, ``* ####
            `--debug` ``), a section's that is a name (``### checkmap.js``) or a short
            page's title alone (``# Plugin Path Not Registered``); else, in a changelog,
            the version it is listed under with its date (``v2.0.1 (Dec 1, 2020)`` of ``#
            v2.0.1 (Dec 1, 2020)``; ``1.16.2`` of ``## [1.16.2](...)``).
    """

    fact: int
    position: int
    text: str
    terms: tuple[str, ...]
    code: str = ""
    item: bool = False
    listed: bool = False
    row: bool = False
    headed: bool = False
    comment: int = 0
    under: tuple[str, ...] = ()
    label: str = ""

    @property
    def quotes(self) -> tuple[str, str]:
        """What it quotes, by which two candidates are one quote.

        Code under a heading is its code alone (the same code under two headings is one
        quote); a sentence is itself with its code (two that run one command are two).
        """
        return ("", self.code) if self.headed else (self.text, self.code)

    def render(self, marker: str) -> str:
        """The sentence with its marker, and its code: inline when one short line, else fenced.

        A table row is a line of its own: ``- 5 | Server was run as root [1].``; a sentence
        describing a labelled list item follows its label: ``--debug``: Starts ...
        """
        if self.label:
            return f"{self.label}: {replace(self, label='').render(marker)}"
        if self.row:
            return f"- {tag_sentence(self.text, marker)}"
        if not self.code and self.text.endswith(":"):  # it introduces what follows it
            return f"{self.text[:-1].rstrip()} {marker}:"
        if not self.code:
            return tag_sentence(self.text, marker)
        head = self.text.removesuffix(":").rstrip().rstrip(".")  # nor a paragraph
        colon = "" if head.endswith(("?", "!")) else ":"
        if "\n" not in self.code and len(self.code) <= MAX_INLINE_CODE:
            return f"{head}{colon} `{self.code}` {marker}"
        return f"{head} {marker}{colon}\n\n```\n{self.code}\n```\n"


def candidates(facts: Sequence[Hit]) -> list[Candidate]:
    """The prose sentences, table rows and commands of every fact that can state something.

    Sentences that contain text shaped like a citation marker (``[3]``) are left out so
    that quoted text never forges a citation. A sentence ending in ``:`` introduces what
    follows: it carries the code block that follows it ("run the following:" and
    ``npm i -g appcd``), is kept as a list item without one (the first of the steps it
    introduces) or when a list follows it (the finalist quotes the list under it), and is
    left out otherwise. In a document, a heading right above a code block introduces it
    the same way ("Examples" and ``appcd exec /appcd/status``), any other short code
    block is quoted under its nearest heading (a longer one by its short paragraphs and
    commented lines, imports left out), and the first sentence of a list item headed
    by a heading (an option of a CLI page), or of a section headed by a name
    (``### checkmap.js``, ``##### `appcd.inactivityTimeout` ``), or of a short page under
    its title alone ("# Plugin Path Not Registered"), carries that heading as its label;
    any other sentence under a changelog's version carries the version.
    """
    return [c for i, fact in enumerate(facts) for c in _fact_candidates(i, fact)]


def _fact_candidates(i: int, fact: Hit) -> list[Candidate]:
    text = str(fact.get("text", ""))
    docs = fact.get("source") == "docs"
    pieces = _pieces(text, docs=docs)
    headings = [(at, said) for at, _, kind, said in pieces if kind == "heading"]
    comments = [m.start() for m in COMMENT_HEADING.finditer(text)]
    versions = _versions(text) if docs else []
    titled = docs and _titles_a_short_page(fact, text, headings)
    out: list[Candidate] = []
    quoted: set[str] = set()  # code a heading or a sentence carries, whitespace normalized
    label = ""
    for position, (start, end, kind, said) in enumerate(pieces):
        above = [heading for at, heading in headings if at < start]
        if kind == "sentence":
            if any(at <= start < stop for at, stop, _ in versions):
                continue  # the version mark itself ("* **v4.0.2** - 3/3/2021")
            version = next((v for at, _, v in reversed(versions) if at < start), "")
            comment = bisect(comments, start)
            found = _sentence(
                i, position, fact, text, (start, end), label or version, above, quoted, comment
            )
            if found:  # the label goes to the item's first sentence that can be quoted
                out.append(replace(found, comment=comment))
                label = ""
            continue
        named = kind == "heading" and (titled or _names_a_thing(said))
        label = said if kind == "label" or named else ""
        if MARKER.search(said):
            continue
        if kind == "row":
            out.append(Candidate(i, position, said, tuple(terms(said)), row=True))
        code = _code_after(text, end) if kind == "heading" else ""
        if code:
            said_terms = tuple(terms(f"{said} {code}"))
            out.append(Candidate(i, position, said, said_terms, code, headed=True))
            quoted.add(normalize_space(code))
        if kind != "code" or not above or _imports(said):
            continue
        whole = _quotable(said)
        for code in [whole] if whole else _code_parts(said):
            if normalize_space(code) not in quoted:
                heading = above[-1]
                heading_terms = tuple(terms(f"{heading} {code}"))
                out.append(Candidate(i, position, heading, heading_terms, code, headed=True))
    return out


def _titles_a_short_page(fact: Hit, text: str, headings: list[tuple[int, str]]) -> bool:
    """Whether a page is one chunk under one heading: its title, which names what it says.

    "# Plugin Path Not Registered" over what a 404.2 response means.
    """
    whole = fact.get("position") == 0 and bool(fact.get("last_chunk"))
    return whole and len(headings) == 1 and not text[: headings[0][0]].strip()


def _imports(code: str) -> bool:
    """Whether every line of ``code`` imports a name (``import x from 'y'``)."""
    lines = [line for line in code.splitlines() if line.strip()]
    return bool(lines) and all(_IMPORT.match(line) for line in lines)


def _code_parts(block: str) -> list[str]:
    """A long code block's quotable parts: its short paragraphs, and commented lines.

    An example too long to quote whole often shows the answer in one paragraph of it
    (``conf.watch(obj => ...)``) or documents an option in a line's comment (``v8mem:
    'auto', // 'auto' sets the Node's v8 max memory limit to 50% ...``). A paragraph that
    starts indented is the inside of a statement, not a part.
    """
    parts = []
    for paragraph in _CODE_PARAGRAPH.split(textwrap.dedent(block)):
        if _imports(paragraph) or paragraph.lstrip("\n")[:1].isspace():
            continue  # an import, or a piece of the statement above it (indented)
        if code := _quotable(paragraph):
            parts.append(code)
        else:
            parts += [m.group(0).strip() for m in _COMMENTED_LINE.finditer(paragraph)]
    return parts


def _pieces(text: str, docs: bool) -> list[tuple[int, int, str, str]]:
    """A fact's pieces that may be quoted, ``(start, end, kind, text)`` in reading order.

    Sentences and table rows; in a document also headings, list-item headings (labels)
    and fenced code blocks.
    """
    pieces = [(start, end, "sentence", "") for start, end in sentence_spans(text)]
    pieces += [(start, start, "row", cells) for start, cells in table_rows(text)]
    if docs:
        blocks = [(m.start(), m.end(), "code", m.group(1)) for m in _FENCED.finditer(text)]
        for pattern, kind in ((_HEADING, "heading"), (_ITEM_HEADING, "label")):
            pieces += [
                (m.start(), m.end(), kind, normalize_space(m.group(1)))
                for m in pattern.finditer(text)
                if not any(start < m.start() < end for start, end, _, _ in blocks)
            ]  # a "# comment" line in a code block is no heading
        pieces += blocks
    return sorted(pieces)


def _sentence(
    i: int,
    position: int,
    fact: Hit,
    text: str,
    span: tuple[int, int],
    label: str,
    above: list[str],
    quoted: set[str],
    comment: int,
) -> Candidate | None:
    """The candidate of one prose sentence, or None when it cannot state anything.

    ``comment`` says which Jira comment of the fact it is in (0: none).

    The code it carries (it ends with ``:``, or ends a page's paragraph right above a code
    block) is added to ``quoted`` when the sentence is kept.
    """
    start, end = span
    sentence = without_address(prose(text[start:end]))
    line_start = text[text.rfind("\n", 0, start) + 1 : start]
    item = bool(_ITEM_START.fullmatch(line_start))
    listed = bool(_ITEM_START.match(line_start))
    if sentence.endswith(":"):
        code = _code_after(text, end)
    else:  # a page's paragraph that ends right above a code block shows it
        code = _block_after(text, end) if fact.get("source") == "docs" and not listed else ""
    short_item = item and fact.get("source") != "git"
    if code:
        words = MIN_CODE_INTRO_WORDS
    else:
        words = 1 if short_item else MIN_COMMENT_WORDS if comment else MIN_WORDS
    if len(_visible(sentence).split()) < words or len(sentence) > MAX_SENTENCE_CHARS:
        return None
    intro = sentence.endswith(":") and bool(_LIST_AFTER.match(text, end))
    if _MORE_FILES.fullmatch(sentence):
        return None  # how many changed files a commit's list leaves out
    if MARKER.search(sentence) or (sentence.endswith(":") and not (code or item or intro)):
        return None
    if sentence.startswith("`") and sentence.replace("`", "") in quoted:
        return None  # inline code a sentence before it carries
    if _ANCHOR_LINK.fullmatch(sentence):
        return None  # a table of contents' entry: a link to a section of the page
    if code:
        quoted.add(normalize_space(code))
    return Candidate(
        i,
        position,
        sentence,
        tuple(terms(f"{_DATED.sub('', label)} {sentence} {code}")),  # a date is no topic
        code,
        item,
        listed,
        under=tuple(terms(above[-1])) if above else (),
        label=label,
    )


def _versions(text: str) -> list[tuple[int, int, str]]:
    """Where each changelog version comes into force and where it stops, in order.

    ``(start, end, version)`` of a version mark: a heading that starts with a version
    number (``# v2.0.1 (Dec 1, 2020)``, ``## [1.16.2](...)``), or a ``**1.0.0**`` line or
    list item (``* **v4.0.2** - 3/3/2021``), which under a heading that names a package
    (``### appcd-core``) is that package's version, with the date the mark gives
    (``appcd-core v4.0.2 (3/3/2021)``, ``v2.0.1 (Dec 1, 2020)``); ``(start, end,
    "")`` at a heading outside that version (one of its level or above; any, after a bold
    line). Marks in code blocks do not count.
    """
    code = [m.span() for m in _FENCED.finditer(text)]
    marks: list[tuple[int, int, str]] = []
    level = 0  # of the version in force; 7 for a bold line, 0 for none
    heading = ""  # the last heading seen
    for m in _MARK.finditer(text):
        if any(start < m.start() < end for start, end in code):
            continue
        depth = len(m.group(1)) if m.group(1) else 7
        number = _RELEASE_NUMBER.match(m.group(2) or m.group(3))
        if number:
            package = heading if depth == 7 and _PACKAGE.fullmatch(heading) else ""
            dated = _RELEASE_DATE.search(m.group(0))
            day = f"({dated.group(1) or dated.group(2)})" if dated else ""
            marks.append((m.start(), m.end(), " ".join(filter(None, (package, number[1], day)))))
            level = depth
        elif m.group(1) and level and depth <= level:
            marks.append((m.start(), m.end(), ""))
            level = 0
        if m.group(1):
            heading = m.group(2)
    return marks


def _names_a_thing(heading: str) -> bool:
    """Whether a heading names what its section describes, not a topic ("Quick Start").

    A name is code (`` `core.port` ``) or one name-shaped word (``checkmap.js``).
    """
    return bool(_CODE_HEADING.fullmatch(heading) or _NAME_HEADING.fullmatch(heading))


def _visible(sentence: str) -> str:
    """What a reader sees of Markdown: no images (badges), a link's text without its URL."""
    return _LINK.sub(r"\1", _IMAGE.sub("", sentence))


def _code_after(text: str, end: int) -> str:
    """The code block right after offset ``end`` when it is short enough to quote."""
    match = _CODE_AFTER.match(text, end)
    if not match:
        return ""
    if match.group(3):  # lines of inline code or a URL: the code without its backticks
        return _quotable(re.sub(r"^([ \t]*)`(.*)`[ \t]*$", r"\1\2", match.group(3), flags=re.M))
    return _quotable(match.group(1) or match.group(2))


def _block_after(text: str, end: int) -> str:
    """The code block (indented or fenced, not lines of inline code) right after ``end``."""
    match = _CODE_AFTER.match(text, end)
    return _quotable(match.group(1) or match.group(2)) if match and not match.group(3) else ""


def _quotable(block: str) -> str:
    """A code block's lines, dedented, when it is short enough to quote (else empty)."""
    lines = [ln.rstrip() for ln in block.splitlines() if ln.strip()]
    code = textwrap.dedent("\n".join(lines))
    return code if len(lines) <= MAX_CODE_LINES and len(code) <= MAX_CODE_CHARS else ""
