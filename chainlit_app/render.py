"""What the UI shows for graph events: step labels, step outputs, and the sources list.

Pure functions (no Chainlit), so they are tested without a browser.
"""

from __future__ import annotations

from typing import Any

STEP_LABELS = {
    "condense": "Condense question",
    "retrieve": "Retrieve facts",
    "intuition": "LoRA intuition",
    "fuse": "Compose answer",
}
STEP_TYPES = {"condense": "llm", "retrieve": "retrieval", "intuition": "llm", "fuse": "llm"}
ANSWER_NODE = "fuse"
LINKABLE = ("http://", "https://", "file://")


def step_label(node: str) -> str:
    """The title of a node's step."""
    return STEP_LABELS.get(node, node)


def describe_result(node: str, result: Any) -> str:
    """A short Markdown summary of what a node returned (its step's output)."""
    if not isinstance(result, dict):
        return str(result)
    if node == "condense":
        return f"Standalone question: {result.get('standalone_question', '')}"
    if node == "retrieve":
        facts = result.get("facts") or []
        lines = [f"{len(facts)} fact(s) retrieved"]
        lines += [
            f"- `{f.get('chunk_id', '?')}` score {_score(f)}: {f.get('title', '')}" for f in facts
        ]
        return "\n".join(lines)
    if node == "intuition":
        text = result.get("intuition")
        status = result.get("intuition_status", "")
        return f"{status}: {text}" if text else status
    if node == ANSWER_NODE:
        cited = len(result.get("citations") or [])
        return (
            f"finalist {result.get('finalist', '?')}, {cited} source(s) cited, "
            f"LoRA intuition used: {bool(result.get('used_lora'))}"
        )
    keys = sorted(k for k in result if k not in {"messages", "timings"})
    return ", ".join(keys)


def _score(fact: dict[str, Any]) -> str:
    score = fact.get("score")
    return f"{score:.3f}" if isinstance(score, int | float) else "?"


def source_names(citations: list[dict[str, Any]]) -> list[str]:
    """One unique element name per citation (its display id; repeats get ``#n``)."""
    names: list[str] = []
    for cite in citations:
        base = str(cite.get("id") or cite.get("title") or "source")
        name, n = base, 2
        while name in names:
            name, n = f"{base} #{n}", n + 1
        names.append(name)
    return names


def source_text(cite: dict[str, Any]) -> str:
    """The side panel of one source: title, snippet, and where it comes from."""
    parts = [f"### {cite.get('title') or cite.get('id', '')}"]
    if cite.get("snippet"):
        parts.append(str(cite["snippet"]))
    uri = str(cite.get("uri") or "")
    where = f"[{uri}]({uri})" if uri.startswith(LINKABLE) else f"`{uri}`"
    parts.append(f"{cite.get('source', '')} · {where}")
    return "\n\n".join(parts)


def sources_markdown(names: list[str], citations: list[dict[str, Any]]) -> str:
    """The "Sources" list appended to the answer; each name links to its side element."""
    if not citations:
        return ""
    lines = [
        f"- **[{n}]** {name}: {cite.get('title', '')}"
        for n, (name, cite) in enumerate(zip(names, citations, strict=True), 1)
    ]
    return "\n\n**Sources**\n\n" + "\n".join(lines)
