"""Exact and near-duplicate detection on real corpus texts."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tools.cleaning.dedup import (
    DEFAULT_THRESHOLD,
    apply_drops,
    features,
    find_duplicates,
    jaccard,
    lsh_params,
    normalize,
    shingles,
)


def _doc(corpus: Path, rel: str, record_id: str | None = None) -> dict:
    text = (corpus / "docs" / rel).read_text(encoding="utf-8")
    return {
        "id": record_id or f"docs:{rel}",
        "source": "docs",
        "uri": rel,
        "title": Path(rel).stem,
        "text": text,
        "metadata": {"project": rel.split("/")[0]},
    }


def _issue(corpus: Path, key: str) -> dict:
    issue = json.loads((corpus / "jira" / key.split("-")[0] / f"{key}.json").read_text("utf-8"))
    fields = issue["fields"]
    return {
        "id": f"jira:{key}",
        "source": "jira",
        "uri": key,
        "title": fields["summary"],
        "text": fields.get("description") or "",
        "metadata": {"status": fields["status"]["name"], "type": fields["issuetype"]["name"]},
    }


def _edit_words(text: str, every: int, seed: int) -> str:
    """Delete one word in ``every`` (a light edit that leaves the original the longest)."""
    rng = random.Random(seed)
    words = text.split(" ")
    gone = set(range(rng.randrange(every), len(words), every))
    return " ".join(word for i, word in enumerate(words) if i not in gone)


def _run(rows: list[dict], threshold: float = DEFAULT_THRESHOLD):
    return find_duplicates(rows, [features(r) for r in rows], threshold)


def test_normalize_and_shingles() -> None:
    assert normalize("Hello  World", "A\tb\n\nC") == "hello world a b c"
    assert shingles("a b c d e f") == {"a b c d e", "b c d e f"}
    assert shingles("a b") == {"a b"}
    assert shingles("") == set()
    assert jaccard({"x"}, {"x", "y"}) == 0.5


def test_lsh_bands_keep_recall_at_the_threshold() -> None:
    for threshold in (0.5, 0.85, 0.95):
        bands, rows = lsh_params(threshold)
        assert bands * rows <= 128
        assert 1 - (1 - threshold**rows) ** bands >= 0.99


def test_exact_duplicate_across_sources_keeps_the_richer_record(corpus_dir: Path) -> None:
    issue = _issue(corpus_dir, "DAEMON-100")
    copy = {
        **issue,
        "id": "docs:copy-of-daemon-100.md",
        "source": "docs",
        "title": issue["title"].upper(),
        "text": "  " + issue["text"].replace(" ", "\n  ") + "\n",
        "metadata": {},
    }
    other = _issue(corpus_dir, "DAEMON-101")
    drops = _run([copy, issue, other])
    assert [(d.id, d.survivor, d.kind) for d in drops] == [
        ("docs:copy-of-daemon-100.md", "jira:DAEMON-100", "exact")
    ]
    assert drops[0].reason.startswith("duplicate of jira:DAEMON-100")
    survivors = apply_drops([copy, issue, other], drops)
    assert [r["id"] for r in survivors] == ["jira:DAEMON-100", "jira:DAEMON-101"]
    assert survivors[0]["metadata"]["duplicates"] == ["docs:copy-of-daemon-100.md"]
    assert "duplicates" not in issue["metadata"], "input rows must not be changed"


def test_exact_tie_is_won_by_the_smallest_id(corpus_dir: Path) -> None:
    a = _doc(corpus_dir, "appc-daemon/README.md", "docs:b.md")
    b = {**a, "id": "docs:a.md"}
    assert [(d.id, d.survivor) for d in _run([a, b])] == [("docs:b.md", "docs:a.md")]


def test_near_duplicates_are_found_and_verified(corpus_dir: Path) -> None:
    base = _doc(corpus_dir, "appc-daemon/docs/Getting Started.md")
    base_shingles = shingles(normalize(base["title"], base["text"]))
    variants = {
        f"docs:variant-{n}.md": {
            **base,
            "id": f"docs:variant-{n}.md",
            "text": _edit_words(base["text"], 60 if n % 2 else 120, n),
        }
        for n in range(30)
    }
    similar = {
        key: round(jaccard(base_shingles, shingles(normalize(v["title"], v["text"]))), 4)
        for key, v in variants.items()
    }
    above = {key for key, value in similar.items() if value >= DEFAULT_THRESHOLD}
    assert len(above) >= 25 and min(similar.values()) > 0.8
    rewritten = {**base, "id": "docs:rewritten.md", "text": _edit_words(base["text"], 3, 99)}
    unrelated = _doc(corpus_dir, "appc-daemon/README.md")
    drops = _run([base, *variants.values(), rewritten, unrelated])
    assert {d.id for d in drops} == above  # every variant at or above the threshold, no other
    for drop in drops:
        assert drop.kind == "near"
        assert drop.survivor == base["id"]  # the unedited text is the longest
        assert drop.similarity == similar[drop.id]


def test_threshold_is_a_parameter(corpus_dir: Path) -> None:
    base = _doc(corpus_dir, "appc-daemon/docs/Getting Started.md")
    edited = {**base, "id": "docs:edited.md", "text": _edit_words(base["text"], 20, 1)}
    similarity = jaccard(
        shingles(normalize(base["title"], base["text"])),
        shingles(normalize(edited["title"], edited["text"])),
    )
    assert 0.5 < similarity < DEFAULT_THRESHOLD
    assert _run([base, edited]) == []
    assert [d.id for d in _run([base, edited], threshold=similarity - 0.01)] == ["docs:edited.md"]
    with pytest.raises(ValueError):
        _run([base], threshold=0)


def test_result_does_not_depend_on_input_order(corpus_dir: Path) -> None:
    keys = [f"ALOY-{n}" for n in range(1, 60)]
    rows = [
        _issue(corpus_dir, key)
        for key in keys
        if (corpus_dir / "jira/ALOY" / f"{key}.json").exists()
    ]
    rows += [{**row, "id": row["id"] + "-copy", "metadata": {}} for row in rows[:10]]
    rows += [
        {**row, "id": row["id"] + "-edit", "text": _edit_words(row["text"], 200, 3)}
        for row in rows[10:20]
    ]
    expected = _run(rows)
    shuffled = rows[:]
    random.Random(7).shuffle(shuffled)
    assert _run(shuffled) == expected
    assert len([d for d in expected if d.kind == "exact"]) >= 10


def test_duplicate_ids_are_refused(corpus_dir: Path) -> None:
    row = _doc(corpus_dir, "appc-daemon/README.md")
    with pytest.raises(ValueError, match="unique"):
        _run([row, dict(row)])


def test_earlier_duplicates_lists_are_merged(corpus_dir: Path) -> None:
    a = _doc(corpus_dir, "appc-daemon/README.md", "docs:a.md")
    a["metadata"]["duplicates"] = ["docs:old.md"]
    b = {**a, "id": "docs:b.md", "metadata": {"duplicates": ["docs:older.md"]}}
    survivors = apply_drops([a, b], _run([a, b]))
    assert survivors[0]["metadata"]["duplicates"] == ["docs:b.md", "docs:old.md", "docs:older.md"]
