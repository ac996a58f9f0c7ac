"""What the UI shows for graph events: steps in plain words, sources and their passages.

Pure functions (no Chainlit), so they are tested without a browser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tools.records import Citation, Hit, display_id

STEP_LABELS = {
    "condense": "Question in context",
    "retrieve": "Knowledge base search",
    "intuition": "Adapter intuition",
    "fuse": "Cited answer",
}
"""Step titles: Chainlit shows them as "Using <title>", then "Used <title>"."""
STEP_TYPES = {"condense": "llm", "retrieve": "retrieval", "intuition": "llm", "fuse": "llm"}
ANSWER_NODE = "fuse"
INTUITION_NODE = "intuition"
LINKABLE = ("http://", "https://")
KIND_NAMES = {"jira": "Jira issue", "git": "Commit", "docs": "Document"}
COUNT_NOUNS = {"jira": "Jira issues", "git": "commits", "docs": "documents"}
VERDICTS = {
    "used": "confirmed by the retrieved facts",
    "unverified": "shown in the answer as unverified",
    "dropped": "not used: the facts do not support it",
    "generated": "the finalist decides whether to use it",
}
SHORT_SHA = 10
PASSAGE_CHARS = 1500


def step_label(node: str) -> str:
    """The title of a node's step."""
    return STEP_LABELS.get(node, node)


def describe_result(node: str, result: Any) -> str:
    """What a node did, in plain words (its step's output)."""
    if not isinstance(result, dict):
        return str(result)
    if node == "condense":
        return f"Searching for: “{result.get('standalone_question', '')}”"
    if node == "retrieve":
        return describe_hits(result.get("facts") or [])
    if node == INTUITION_NODE:
        return describe_intuition(result.get("intuition_status", ""), None)
    if node == ANSWER_NODE:
        cited = len(group_sources(result.get("citations") or []))
        finalist = result.get("finalist", "?")
        return f"Answer written by the {finalist} finalist from {cited} cited source(s)."
    keys = sorted(k for k in result if k not in {"messages", "timings"})
    return ", ".join(keys)


def describe_hits(facts: list[Hit]) -> str:
    """The retrieval step: how many passages from which records, with their scores."""
    if not facts:
        return "Nothing relevant was found."
    best: dict[str, Hit] = {}
    for fact in facts:
        best.setdefault(fact["doc_id"], fact)
    lines = [f"Found {len(facts)} passage(s) in {len(best)} record(s):"]
    lines += [
        f"- {short_id(hit)} · {hit.get('title', '')} (score {_score(hit)})" for hit in best.values()
    ]
    return "\n".join(lines)


def describe_intuition(status: str, text: str | None) -> str:
    """The adapter's step: its answer, labelled as not a source, with the finalist's verdict."""
    if text:
        verdict = VERDICTS.get(status, status)
        return f"The trained adapter said ({verdict}; not a source):\n\n> {text}"
    reasons = {
        "off": "Adapter intuition is off for this deployment.",
        "no adapter": "No adapter has been trained yet.",
        "none": "The adapter gave no answer.",
    }
    if status.startswith("skipped: "):
        return f"Not asked: {status.removeprefix('skipped: ')}."
    return reasons.get(status, f"Adapter: {status}.")


def _score(hit: Hit) -> str:
    score = hit.get("score")
    return f"{score:.3f}" if isinstance(score, int | float) else "?"


def short_id(record: Hit | Citation) -> str:
    """The id people recognise: a Jira key, a short commit sha, a doc path."""
    ident = str(record.get("id") or display_id(str(record.get("doc_id", ""))))
    return ident[:SHORT_SHA] if record.get("source") == "git" else ident


@dataclass
class SourceGroup:
    """One cited record and the answer's markers that point to it."""

    citation: Citation
    markers: list[int] = field(default_factory=list)


def group_sources(citations: list[Citation]) -> list[SourceGroup]:
    """Citations grouped by record, in order of first citation (marker ``n`` is index+1)."""
    groups: dict[tuple[str, str], SourceGroup] = {}
    for n, cite in enumerate(citations, 1):
        key = (str(cite.get("source", "")), str(cite.get("id", "")))
        groups.setdefault(key, SourceGroup(cite)).markers.append(n)
    return list(groups.values())


def marker_names(citations: list[Citation]) -> list[str]:
    """The element name of each citation: its marker as the answer writes it, ``[n]``."""
    return [f"[{n}]" for n in range(1, len(citations) + 1)]


def sources_markdown(citations: list[Citation]) -> str:
    """The "Sources" list under the answer: one line per record, with its markers."""
    groups = group_sources(citations)
    if not groups:
        return ""
    lines = [
        f"- {' '.join(f'[{n}]' for n in g.markers)} **{short_id(g.citation)}** · "
        f"{g.citation.get('title', '')}"
        for g in groups
    ]
    return "\n\n**Sources**\n\n" + "\n".join(lines)


def passage_markdown(cite: Citation, fact: Hit | None) -> str:
    """The side panel of one marker: title, id, date, author, link and the passage.

    The sentence the answer rests on (the citation's snippet) is highlighted in the passage.
    """
    kind = KIND_NAMES.get(str(cite.get("source", "")), str(cite.get("source", "")))
    meta = (fact or {}).get("metadata") or {}
    facts_line = [f"{kind} **{short_id(cite)}**"]
    facts_line += [str(meta[k])[:10] for k in ("created",) if meta.get(k)]
    facts_line += [str(meta[k]) for k in ("author",) if meta.get(k)]
    parts = [f"### {cite.get('title') or short_id(cite)}", " · ".join(facts_line)]
    parts.append(highlight(_passage(fact, cite), str(cite.get("snippet", ""))))
    uri = str(cite.get("uri") or "")
    parts.append(f"[Open the source]({uri})" if uri.startswith(LINKABLE) else f"`{uri}`")
    return "\n\n".join(p for p in parts if p)


def _passage(fact: Hit | None, cite: Citation) -> str:
    text = str((fact or {}).get("text") or cite.get("snippet") or "")
    return text if len(text) <= PASSAGE_CHARS else text[:PASSAGE_CHARS].rstrip() + " …"


def highlight(passage: str, snippet: str) -> str:
    """``passage`` as a quote with ``snippet`` in bold where it occurs (whitespace-insensitive)."""
    body = passage
    words = snippet.split()
    if words:
        pattern = r"\s+".join(re.escape(w) for w in words)
        found = re.search(pattern, passage)
        if found:
            body = f"{passage[: found.start()]}**{found.group(0)}**{passage[found.end() :]}"
        else:
            body = f"**{snippet}**\n\n{passage}" if snippet not in passage else passage
    return "\n".join(_quoted(line) for line in body.splitlines())


def _quoted(line: str) -> str:
    """One passage line as a quote line; a Markdown heading becomes bold text."""
    heading = re.match(r"\s*#{1,6}\s+(.*)", line)
    if heading:
        line = f"**{heading.group(1).strip('*')}**"
    return f"> {line}" if line.strip() else ">"


def welcome_markdown(counts: dict[str, int]) -> str:
    """The empty chat's welcome: what the assistant knows and how it answers."""
    known = ", ".join(f"{counts[s]:,} {noun}" for s, noun in COUNT_NOUNS.items() if counts.get(s))
    if not known:
        return "Nothing is indexed yet: run `data-alchemy ingest`, then come back."
    return (
        f"Ask about your team's work: I know {known}. Every answer cites its sources; "
        "click a `[n]` marker to read the passage it rests on."
    )
