"""Text normalization and boilerplate removal (pure functions, shared by both engines).

Input is the Markdown-like record text of DESIGN.md: ``#`` headings, fenced code blocks and,
for Jira, one ``## Comment by <author> on <YYYY-MM-DD>`` section per comment. Every rule is
deliberately conservative, because the corpus is technical: most ``<tags>`` in it are Alloy
XML or HTML *examples*, ``>`` lines are quotes and shell prompts, and a lone ``--`` line may
separate two parts of a description. Fenced code is never rewritten beyond what keeps it
readable (line ends, control characters, invisible characters, trailing blanks).

Rules, in the order :func:`clean_text` applies them:

1. :func:`normalize_unicode`: CR LF, CR, U+2028 and U+2029 become LF; ANSI colour
   sequences, C0/C1 control characters (not tab or newline) and the invisible characters
   ZWSP, word joiner, BOM and soft hyphen are removed; prose gets NFKC (full-width letters,
   ligatures, non-breaking spaces), code gets NFC plus plain spaces, so a literal such as
   ``"x²"`` in code keeps its meaning.
2. :func:`strip_html`: outside code and inline code only. A line that is only ``<pre>`` or
   ``<code>`` and the later line that closes it become a code fence; ``<br>`` a line break; ``<p>``
   and ``<div>`` paragraph breaks; ``<li>`` a bullet; ``<a href=U>T</a>`` ``[T](U)``;
   ``<img alt=A>`` its alt text; inline formatting tags (``b``, ``i``, ``em``, ``strong``,
   ``span``, ``font``, ``kbd``, ...) vanish. Only lower- or upper-case tag names with no
   attributes beyond presentational ones count, so ``<Label>`` or
   ``<div data-ti-api="Window">`` stay. Entities are decoded except ``&amp;``, which
   technical text uses literally ("renders as ``&`` and not as ``&amp;``").
3. :func:`remove_boilerplate`: whole comment sections written by bots (by author name, or
   by a Jenkins/CI/"Pull request #N merged by" body), quoted reply chains (an
   ``On <date>, <person> wrote:`` line and the ``>`` lines under it, or an
   ``-----Original Message-----`` block), e-mail signatures (a ``--`` line followed by at
   most six short lines up to the section end) and "Sent from my iPhone" lines. A ``>``
   block without such an attribution is a quote and stays.
4. :func:`normalize_whitespace`: trailing blanks go everywhere; outside code, runs of blank
   lines collapse to one and runs of spaces inside unindented lines to one space; indented
   lines (nested lists, unfenced code) and fenced code keep their indentation.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable

from tools.records import COMMENT_HEADING

# --- fences -------------------------------------------------------------------------------

_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}(?=[^`]*$)|~{3,})")
_FENCE_CLOSE = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*$")


def code_flags(lines: list[str]) -> list[bool]:
    """Tell, for each line, whether it belongs to a fenced code block (fence lines included).

    Follows CommonMark: a fence is 3+ backticks or tildes indented at most 3 spaces; it
    closes on a line of the same character at least as long; an unclosed fence runs to the
    end.
    """
    if not any("```" in line or "~~~" in line for line in lines):
        return [False] * len(lines)
    flags: list[bool] = []
    opener = ""
    for line in lines:
        if opener:
            flags.append(True)
            close = _FENCE_CLOSE.match(line)
            if close and close.group(1)[0] == opener[0] and len(close.group(1)) >= len(opener):
                opener = ""
            continue
        start = _FENCE_OPEN.match(line)
        if start:
            opener = start.group(1)
        flags.append(bool(start))
    return flags


def split_fenced(text: str) -> list[tuple[bool, str]]:
    """Split ``text`` into ``(is_code, segment)`` runs of whole lines.

    Joining the segments gives ``text`` back exactly.
    """
    if "```" not in text and "~~~" not in text:
        return [(False, text)] if text else []
    lines = text.split("\n")
    flags = code_flags(lines)
    segments: list[tuple[bool, str]] = []
    current: list[str] = []
    for index, (line, is_code) in enumerate(zip(lines, flags, strict=True)):
        if current and is_code != flags[index - 1]:
            segments.append((flags[index - 1], "".join(current)))
            current = []
        current.append(line if index == len(lines) - 1 else line + "\n")
    segments.append((flags[-1], "".join(current)))
    return segments


def map_prose(
    text: str, prose: Callable[[str], str], code: Callable[[str], str] | None = None
) -> str:
    """Apply ``prose`` to the text outside code fences and ``code`` (if given) to the rest."""
    return "".join(
        (code(part) if code else part) if is_code else prose(part)
        for is_code, part in split_fenced(text)
    )


# --- 1. unicode ---------------------------------------------------------------------------

_NEWLINES = re.compile(r"\r\n?|[\u2028\u2029\x85\x0b\x0c]")
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
_INVISIBLE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u200b\u2060\ufeff\u00ad]")
_UNICODE_SPACE = re.compile(r"[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")


def _nfkc(text: str) -> str:
    return text if text.isascii() else unicodedata.normalize("NFKC", text)


def _nfc_code(text: str) -> str:
    if text.isascii():
        return text
    return _UNICODE_SPACE.sub(" ", unicodedata.normalize("NFC", text))


def normalize_unicode(text: str) -> str:
    """Unify line ends, drop control and invisible characters, NFKC prose and NFC code."""
    text = _NEWLINES.sub("\n", text)
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    text = _INVISIBLE.sub("", text)
    if text.isascii():
        return text
    return map_prose(text, _nfkc, _nfc_code)


def normalize_inline(text: str) -> str:
    """Normalize a one-line value such as a title: unicode rules, then single spaces."""
    return " ".join(normalize_unicode(text).split())


# --- 2. HTML ------------------------------------------------------------------------------

_INLINE_TAGS = (
    "b|i|u|s|em|strong|span|font|small|big|tt|strike|del|ins|sup|sub|kbd|mark|center|nobr|abbr|cite"
)
_PRESENTATIONAL = {"style", "class", "color", "face", "size", "align", "dir", "lang", "title"}
_ATTRS = r"""(?:\s+[\w-]+(?:\s*=\s*(?:"[^"<>]*"|'[^'<>]*'|[^\s"'<>=]+))?)*\s*"""
_TAG = re.compile(rf"<(/?)(br|p|div|li|ul|ol|{_INLINE_TAGS})\b({_ATTRS})/?>([ \t]*)", re.I)
_ANCHOR = re.compile(rf"<a\b({_ATTRS})>([^<]*)</a>", re.I)
_IMG = re.compile(rf"<img\b({_ATTRS})/?>", re.I)
_ATTR = re.compile(r"""([\w-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'<>=]+)))?""")
_PSEUDO_FENCE = re.compile(r"^[ \t]*(</?)(?:pre|code|pre><code|code></pre)>[ \t]*$", re.I)
_INLINE_CODE = re.compile(r"(``[^\n]*?``|`[^`\n]*`)")
_ENTITY = re.compile(r"&(?!amp;)(?:#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


def _attributes(raw: str) -> dict[str, str]:
    return {
        m.group(1).lower(): next((g for g in m.groups()[1:] if g is not None), "")
        for m in _ATTR.finditer(raw)
    }


def _plain_name(name: str) -> bool:
    """HTML tags are written all lower or all upper case; PascalCase is Alloy markup."""
    return name.islower() or name.isupper()


def _tag(match: re.Match[str]) -> str:
    """Replace a tag; a block tag also swallows the blanks after it (HTML ignores them)."""
    closing, name, attrs, blanks = match.groups()
    if not _plain_name(name) or not set(_attributes(attrs)) <= _PRESENTATIONAL:
        return match.group(0)
    name = name.lower()
    if name in ("br", "ul", "ol"):
        return "\n"
    if name in ("p", "div"):
        return "\n\n"
    if name == "li":
        return "" if closing else "\n- "
    return blanks


def _anchor(match: re.Match[str]) -> str:
    attrs = _attributes(match.group(1))
    href, label = attrs.get("href", ""), match.group(2).strip()
    if not href or not set(attrs) <= _PRESENTATIONAL | {"href", "target", "rel"}:
        return match.group(0)
    if not label or label == href:
        return href
    return f"[{label}]({href})"


def _img(match: re.Match[str]) -> str:
    attrs = _attributes(match.group(1))
    if not set(attrs) <= _PRESENTATIONAL | {"src", "alt", "width", "height", "border"}:
        return match.group(0)
    return attrs.get("alt", "")


def _entity(match: re.Match[str]) -> str:
    return html.unescape(match.group(0)).replace("\u00a0", " ")


def _strip_html_span(text: str) -> str:
    if "<" in text:
        text = _IMG.sub(_img, text)
        text = _TAG.sub(_tag, text)
        text = _ANCHOR.sub(_anchor, text)
    if "&" in text:
        text = _ENTITY.sub(_entity, text)
    return text


def _strip_html_prose(text: str) -> str:
    parts = _INLINE_CODE.split(text)
    return "".join(part if i % 2 else _strip_html_span(part) for i, part in enumerate(parts))


def _pseudo_fences(text: str) -> str:
    """Turn paired lines that are only ``<pre>``/``<code>`` and their closing tags into fences."""
    lines = text.split("\n")
    flags = code_flags(lines)
    opening = None
    for index, (line, is_code) in enumerate(zip(lines, flags, strict=True)):
        match = None if is_code else _PSEUDO_FENCE.match(line)
        if not match:
            continue
        if match.group(1) == "</" and opening is not None:
            lines[opening] = lines[index] = "```"
            opening = None
        elif match.group(1) == "<":
            opening = index
    return "\n".join(lines)


def strip_html(text: str) -> str:
    """Remove stray HTML from prose; leave code, inline code and XML-like markup alone."""
    if "<" not in text and "&" not in text:
        return text
    if "<" in text:
        text = _pseudo_fences(text)
    return map_prose(text, _strip_html_prose)


# --- 3. boilerplate -----------------------------------------------------------------------

_HEADING = re.compile(r"^#{1,6}[ \t]")
_BOT_AUTHOR = re.compile(
    r"(?i)^(?:.*\[bot\]|(?:asf[ _-])?(?:github|gitlab|bitbucket|jira|ci|build|jenkins|travis)"
    r"[ _-]?bot|jenkins(?:[ _-]ci)?|hudson|travis(?:[ _-]ci)?|circleci|github[ _-]actions"
    r"|dependabot(?:-preview)?|renovate|greenkeeper|codecov|sonarcloud"
    r"|automation for jira)$"
)
_BOT_BODY = re.compile(
    r"(?i)^(?:"
    r"(?:success|failure|unstable|aborted|fixed|still failing)\s*:\s*integrated in\b"
    r"|integrated in \S+ #\d+"
    r"|(?:jenkins|travis(?: ci)?|circleci|ci)\s+build\s+#?\d+\b.*\b(?:succeeded|passed|failed"
    r"|fixed|broken|successful|success|failure)\b"
    r"|build #\d+\b.*\b(?:succeeded|passed|failed|fixed|broken|successful)\b"
    r"|(?:pull request|pr) #\d+\b.*\b(?:merged|opened|closed|declined) by\b"
    r"|github user \S+ (?:opened|closed) a pull request\b"
    r")"
)
_ATTRIBUTION = re.compile(r"^On\b.{4,300}\bwrote:[ \t]*$")
_ATTRIBUTION_START = re.compile(r"^On\b.{4,300}$")
_ATTRIBUTION_END = re.compile(r"^.{0,200}\bwrote:[ \t]*$")
_ORIGINAL_MESSAGE = re.compile(r"^[ \t]*-{3,}[ \t]*Original Message[ \t]*-{3,}[ \t]*$", re.I)
_SIGNATURE = re.compile(r"^--[ \t]?$")
_SENT_FROM = re.compile(
    r"(?i)^[ \t]*(?:sent from my [\w -]{2,40}|sent from (?:mail|outlook|yahoo mail|gmail)"
    r"(?: for [\w -]{2,30})?|get outlook for [\w -]{2,30})[.!]?[ \t]*$"
)
_SIGNATURE_MAX_LINES = 6
_SIGNATURE_MAX_CHARS = 100
_BOILERPLATE_HINTS = ("Comment by", "wrote:", "Original Message", "--", "ent from", "Outlook")


def _section_end(lines: list[str], flags: list[bool], start: int, comments_only: bool) -> int:
    """Index of the next heading after ``start`` (a comment heading if ``comments_only``)."""
    pattern = COMMENT_HEADING if comments_only else _HEADING
    for index in range(start + 1, len(lines)):
        if not flags[index] and pattern.match(lines[index]):
            return index
    return len(lines)


def _content_end(lines: list[str], start: int, end: int) -> int:
    """``end`` moved back over blank lines, so the blank line before a heading survives."""
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    return end


def _is_bot_section(lines: list[str], flags: list[bool], start: int, end: int) -> bool:
    heading = COMMENT_HEADING.match(lines[start])
    if heading and _BOT_AUTHOR.match(heading.group("author").strip()):
        return True
    body = next((i for i in range(start + 1, end) if lines[i].strip()), None)
    return body is not None and not flags[body] and bool(_BOT_BODY.match(lines[body].strip()))


def _quoted_reply_end(lines: list[str], flags: list[bool], index: int) -> int:
    """End (exclusive) of the reply chain whose attribution starts at ``index``, or ``index``."""
    first = index
    if _ATTRIBUTION.match(lines[index]):
        index += 1
    elif (
        _ATTRIBUTION_START.match(lines[index])
        and index + 1 < len(lines)
        and _ATTRIBUTION_END.match(lines[index + 1])
    ):
        index += 2
    else:
        return first
    end = index
    while index < len(lines) and not flags[index]:
        if lines[index].startswith(">"):
            end = index + 1
        elif lines[index].strip():
            break
        index += 1
    return end if any(lines[i].startswith(">") for i in range(first, end)) else first


def _signature_end(lines: list[str], flags: list[bool], index: int) -> int:
    """End (exclusive) of a signature starting at ``index``, or ``index`` when it is none."""
    end = _section_end(lines, flags, index, comments_only=False)
    body = [line for line in lines[index + 1 : end] if line.strip()]
    if (
        not body
        or len(body) > _SIGNATURE_MAX_LINES
        or any(flags[index + 1 : end])
        or any(len(line) > _SIGNATURE_MAX_CHARS for line in body)
    ):
        return index
    return _content_end(lines, index, end)


def _boilerplate_end(lines: list[str], flags: list[bool], index: int) -> int:
    """End (exclusive) of the boilerplate block starting at line ``index``, or ``index``."""
    line = lines[index]
    if COMMENT_HEADING.match(line):
        end = _section_end(lines, flags, index, comments_only=True)
        return end if _is_bot_section(lines, flags, index, end) else index
    if _ORIGINAL_MESSAGE.match(line):
        return _content_end(lines, index, _section_end(lines, flags, index, comments_only=False))
    if _SENT_FROM.match(line):
        return index + 1
    if _SIGNATURE.match(line):
        return _signature_end(lines, flags, index)
    if line.startswith("On"):
        return _quoted_reply_end(lines, flags, index)
    return index


def remove_boilerplate(text: str) -> str:
    """Drop bot comments, quoted reply chains, e-mail signatures and "Sent from" lines."""
    if not any(hint in text for hint in _BOILERPLATE_HINTS):
        return text
    lines = text.split("\n")
    flags = code_flags(lines)
    kept: list[str] = []
    index = 0
    while index < len(lines):
        end = index if flags[index] else _boilerplate_end(lines, flags, index)
        if end > index:
            index = end
        else:
            kept.append(lines[index])
            index += 1
    return "\n".join(kept)


# --- 4. whitespace ------------------------------------------------------------------------

_SPACE_RUN = re.compile(r"[ \t]{2,}|\t")


def normalize_whitespace(text: str) -> str:
    """Strip trailing blanks, collapse blank-line runs and spaces in prose, keep indentation."""
    lines = text.split("\n")
    out: list[str] = []
    for line, is_code in zip(lines, code_flags(lines), strict=True):
        line = line.rstrip()
        if not is_code:
            if line and line[0] not in " \t":
                line = _SPACE_RUN.sub(" ", line)
            if not line and (not out or not out[-1]):
                continue
        out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


def clean_text(text: str) -> str:
    """Apply unicode, HTML, boilerplate and whitespace rules, in that order (no redaction)."""
    return normalize_whitespace(remove_boilerplate(strip_html(normalize_unicode(text))))
