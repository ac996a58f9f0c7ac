"""Retrieval on an index of real ALOY issues and the commits that cite them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.test_finalist_extractive import _chunker, commit_record, doc_record, jira_record
from tests.test_index_build import corpus_chunks, write_chunks
from tools.config import Settings
from tools.index.build import run_index
from tools.index.rerank import WEIGHTS
from tools.index.search import MAX_CHUNKS_PER_RECORD, Retriever, filter_clause, rrf
from tools.index.store import IndexMismatchError, IndexNotFoundError, bm25_tokenize

FIELDS = {
    "chunk_id",
    "doc_id",
    "source",
    "uri",
    "title",
    "text",
    "position",
    "metadata",
    "score",
    "ranks",
    "scores",
}


@pytest.fixture(scope="module")
def chunks(corpus_dir: Path) -> list[dict[str, Any]]:
    return corpus_chunks(corpus_dir, limit=100, commits=12)


@pytest.fixture(scope="module")
def retriever(tmp_path_factory: pytest.TempPathFactory, chunks: list[dict[str, Any]]) -> Retriever:
    data_dir = tmp_path_factory.mktemp("data")
    write_chunks(data_dir, chunks)
    assert run_index(Settings(), data_dir).status == "ok"
    return Retriever(Settings(), data_dir)


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_every_mode_finds_a_paraphrased_issue(retriever: Retriever, mode: str) -> None:
    hits = retriever.search(
        "the HTML parser breaks on a <link> stylesheet tag that has no end tag", k=5, mode=mode
    )
    assert len(hits) == 5
    assert all(set(hit) >= FIELDS for hit in hits)
    assert "jira:ALOY-4" in [hit["doc_id"] for hit in hits[:3]]
    scores = [hit["score"] for hit in hits]
    assert scores == sorted(scores, reverse=True)
    assert [hit["ranks"]["bm25" if mode == "bm25" else "dense"] for hit in hits[:1]] != [None]


def test_hybrid_fuses_both_rankings(retriever: Retriever) -> None:
    query = "model binding calls the update function twice"
    hybrid = retriever.search(query, k=10, mode="hybrid")
    for hit in hybrid:
        ranks = [r for r in (hit["ranks"]["dense"], hit["ranks"]["bm25"]) if r]
        boost = sum(weight * hit["features"][name] for name, weight in WEIGHTS.items())
        fused = hit["score"] - boost  # its record's best ranks: at least this chunk's
        assert sum(1 / (60 + r) for r in ranks) - 1e-9 <= fused <= 2 / 61
        assert hit["scores"]["dense"] is not None  # cosine for every hybrid hit
    dense_only = {h["doc_id"] for h in retriever.search(query, k=10, mode="dense")}
    bm25_only = {h["doc_id"] for h in retriever.search(query, k=10, mode="bm25")}
    assert {h["doc_id"] for h in hybrid} <= dense_only | bm25_only | {
        h["doc_id"] for h in retriever.search(query, k=50, mode="dense")
    } | {h["doc_id"] for h in retriever.search(query, k=50, mode="bm25")}


def test_rrf_sums_reciprocal_ranks() -> None:
    fused = rrf([[1, 2, 3], [3, 1]], k=60)
    assert fused[1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[3] == pytest.approx(1 / 63 + 1 / 61)
    assert fused[2] == pytest.approx(1 / 62)


def test_source_project_and_date_filters(retriever: Retriever) -> None:
    query = "fix compile error"
    for mode in ("dense", "bm25", "hybrid"):
        git = retriever.search(query, k=5, mode=mode, filters={"source": "git"})
        assert git and all(hit["source"] == "git" for hit in git)
        jira = retriever.search(query, k=5, mode=mode, filters={"project": ["ALOY"]})
        assert jira and all(hit["metadata"]["project"] == "ALOY" for hit in jira)
    window = {"created_after": "2012-06-01", "created_before": "2012-07-01T00:00:00+00:00"}
    dated = retriever.search("alloy", k=20, mode="hybrid", filters=window)
    assert dated
    assert all(hit["metadata"]["created"][:7] == "2012-06" for hit in dated)
    assert retriever.search(query, filters={"source": "nothing-like-this"}) == []


def test_bad_filters_and_modes_are_clear_errors(retriever: Retriever) -> None:
    with pytest.raises(ValueError, match="unknown filter"):
        retriever.search("x", filters={"sauce": "git"})
    with pytest.raises(ValueError, match="ISO 8601"):
        retriever.search("x", filters={"created_after": "last tuesday"})
    with pytest.raises(ValueError, match="mode must be"):
        retriever.search("x", mode="fuzzy")  # type: ignore[arg-type]
    assert filter_clause(None) is None
    assert retriever.search("   ") == []


def test_named_records_come_first(retriever: Retriever, chunks: list[dict[str, Any]]) -> None:
    hits = retriever.search("what is the status of aloy-4?", k=3, mode="dense")
    assert hits[0]["doc_id"] == "jira:ALOY-4"
    assert hits[0]["ranks"]["named"] == 1
    commit = next(c for c in chunks if c["source"] == "git")
    sha = commit["doc_id"].rpartition("@")[2]
    hits = retriever.search(f"why was {sha[:10]} merged", k=3, mode="bm25")
    assert hits[0]["doc_id"] == commit["doc_id"]


def test_a_page_named_by_the_code_its_file_name_starts_with_comes_first(
    tmp_path: Path, corpus_dir: Path, chunks: list[dict[str, Any]]
) -> None:
    folder = "packages/appcd-response/messages/en/4xx"
    names = ["409.4-PLUGIN_ALREADY_STARTED.md", "409.5-PLUGIN_ALREADY_STOPPED.md"]
    pages = [
        c
        for name in names
        for c in _chunker().chunk(
            doc_record(corpus_dir, "appc-daemon", f"{folder}/{name}").to_dict()
        )
    ]
    write_chunks(tmp_path, [*chunks, *pages])
    assert run_index(Settings(), tmp_path).status == "ok"
    hits = Retriever(Settings(), tmp_path).search("stopping a plugin gave me 409.5, why?", k=3)
    assert hits[0]["doc_id"] == f"docs:{folder}/{names[1]}"
    assert hits[0]["ranks"]["named"] == 1


def test_expand_links_finds_the_commit_that_fixed_an_issue(
    retriever: Retriever, chunks: list[dict[str, Any]]
) -> None:
    commit = next(c for c in chunks if c["source"] == "git")
    key = commit["metadata"]["links"][0].split(":")[1]

    plain = retriever.search(f"what is {key} about?", k=1)
    expanded = retriever.search(f"what is {key} about?", k=1, expand_links=True)

    assert plain[0]["doc_id"] == f"jira:{key}"
    linked = [h for h in expanded[1:] if h["doc_id"] == commit["doc_id"]]
    assert linked, [h["doc_id"] for h in expanded]
    assert linked[0]["linked_from"] == f"jira:{key}"
    assert linked[0]["relation"] == "linked_from"
    assert linked[0]["ranks"] == {"dense": None, "bm25": None, "named": None}


def test_issue_links_expand_from_commits(
    retriever: Retriever, chunks: list[dict[str, Any]]
) -> None:
    commit = next(c for c in chunks if c["source"] == "git")
    sha = commit["doc_id"].rpartition("@")[2]
    expanded = retriever.search(sha, k=1, mode="bm25", expand_links=True)
    assert expanded[0]["doc_id"] == commit["doc_id"]
    assert {h["doc_id"] for h in expanded[1:]} == set(commit["metadata"]["links"])
    assert all(h["relation"] == "links_to" for h in expanded[1:])


def test_missing_index_and_model_mismatch(retriever: Retriever, tmp_path: Path) -> None:
    with pytest.raises(IndexNotFoundError, match="ingest"):
        Retriever(Settings(), tmp_path)
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        Retriever(Settings(model_b={"model": "sentence-transformers/other"}), retriever.data_dir)


def test_commits_are_found_by_author_month_and_what_they_did(
    retriever: Retriever, chunks: list[dict[str, Any]]
) -> None:
    by_brenton = [
        c for c in chunks if c["source"] == "git" and c["metadata"]["author"] == "Brenton House"
    ]
    assert len(by_brenton) >= 2  # two of his April 2020 commits are in the index
    question = "the April 2020 change by Brenton House that lets a widget be the primary control"
    wanted = next(c["doc_id"] for c in by_brenton if "primary control" in c["text"])

    hits = retriever.search(question, k=5)

    assert hits[0]["doc_id"] == wanted
    assert hits[0]["features"]["author"] == hits[0]["features"]["date"] == 1.0
    assert hits[0]["scores"]["rerank"] == hits[0]["score"]
    assert all(f["author"] == 0.0 for f in (h["features"] for h in hits if h["source"] != "git"))


def test_a_commit_found_by_its_files_comes_with_its_message(tmp_path: Path, corpus_dir: Path):
    commit = commit_record(corpus_dir, "appc-daemon", "aebd28f4", tmp_path)
    chunks = _chunker().chunk(commit.to_dict())
    assert len(chunks) > MAX_CHUNKS_PER_RECORD  # the message, then its changed files
    write_chunks(tmp_path / "data", chunks + corpus_chunks(corpus_dir, limit=20))
    assert run_index(Settings(), tmp_path / "data").status == "ok"

    hits = Retriever(Settings(), tmp_path / "data").search(
        "which commit touched machine-id.js, webserver.js, subprocess.js and bad.pkg?", k=5
    )

    mine = [h for h in hits if h["doc_id"] == commit.id]
    assert [h["position"] for h in mine].count(0) == 1
    assert mine[0]["position"] == 0  # first, as a reader meets it
    assert any("bad.pkg" in h["text"] for h in mine)  # and chunks that matched
    assert len(mine) <= MAX_CHUNKS_PER_RECORD


def test_the_first_issue_comes_with_the_end_of_its_thread(tmp_path: Path, corpus_dir: Path):
    issue = jira_record(corpus_dir, "DAEMON-161")
    chunks = _chunker().chunk(issue.to_dict())
    assert len(chunks) > MAX_CHUNKS_PER_RECORD
    write_chunks(tmp_path / "data", chunks + corpus_chunks(corpus_dir, limit=20))
    assert run_index(Settings(), tmp_path / "data").status == "ok"

    question = "Is the Windows Phone SDK path in the system-info wrong as well?"
    hits = Retriever(Settings(), tmp_path / "data").search(question, k=5)

    assert hits[0]["doc_id"] == issue.id
    mine = [h["position"] for h in hits if h["doc_id"] == issue.id]
    assert len(mine) == MAX_CHUNKS_PER_RECORD + 1
    assert mine[-1] == len(chunks) - 1  # "Problem is not with the VS path but with ..."


def test_a_long_record_does_not_crowd_the_hybrid_list(retriever: Retriever) -> None:
    hits = retriever.search("alloy compile error", k=30)
    per_record: dict[str, int] = {}
    for hit in hits:
        per_record[hit["doc_id"]] = per_record.get(hit["doc_id"], 0) + 1
    if hits[0]["source"] == "jira":  # an issue first also brings its last chunk
        assert per_record.pop(hits[0]["doc_id"]) <= MAX_CHUNKS_PER_RECORD + 1
    assert max(per_record.values()) <= MAX_CHUNKS_PER_RECORD
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)


def test_the_index_knows_other_forms_of_its_words(retriever: Retriever) -> None:
    version = retriever.version
    assert version.document_frequency(["breaking", "updates"])[0] == {"breaking": 0, "updates": 0}
    assert version.holds_a_form_of("breaking")  # "break", "breaks" are indexed
    assert version.holds_a_form_of("updates")
    assert not version.holds_a_form_of("kubernetes")
    found = version.document_frequency(["node", "nods"])[0]
    assert found["node"] and not found["nods"]
    assert not version.holds_a_form_of("nods")  # folds to "nod", as "node" does
    assert version.document_frequency(["went", "committed"])[0] == {"went": 0, "committed": 0}
    assert version.holds_a_form_of("went")  # "go": a past no suffix folds back
    assert version.holds_a_form_of("committed")  # "commit", its last letter doubled
    assert not version.holds_a_form_of("planned")  # no chunk says "plan"


def test_a_version_number_is_one_token(tmp_path: Path, corpus_dir: Path) -> None:
    assert bm25_tokenize(["Fixed in v2.0.1, not 2.0.10; vue v2 on node8.12"]) == [
        ["fixed", "2.0.1", "2.0.10", "vue", "v2", "node8", "12"]
    ]
    changelog = doc_record(corpus_dir, "alloy", "CHANGELOG.md")
    write_chunks(tmp_path, _chunker().chunk(changelog.to_dict()))
    assert run_index(Settings(), tmp_path).status == "ok"

    top = Retriever(Settings(), tmp_path).search("What was fixed in 1.16.2?", k=1, mode="bm25")

    assert "## [1.16.2]" in top[0]["text"]  # not any section that says "fixed"


def test_a_snake_case_name_is_also_its_words(tmp_path: Path, corpus_dir: Path) -> None:
    assert bm25_tokenize(["Honour HTTPS_PROXY, not __init__"]) == [
        ["honour", "https_proxy", "https", "proxy", "__init__"]
    ]
    pages = [f"docs/Release Notes/Appc Daemon {v}.md" for v in ("3.2.0", "3.1.0", "3.0.0")]
    chunker = _chunker()
    write_chunks(
        tmp_path,
        [
            c
            for p in pages
            for c in chunker.chunk(doc_record(corpus_dir, "appc-daemon", p).to_dict())
        ],
    )
    assert run_index(Settings(), tmp_path).status == "ok"

    top = Retriever(Settings(), tmp_path).search("proxy environment variables", k=1, mode="bm25")

    assert "`HTTPS_PROXY` environment variables" in top[0]["text"]


def test_an_index_tokenized_by_an_older_rule_says_so(tmp_path: Path, corpus_dir: Path, caplog):
    write_chunks(tmp_path, corpus_chunks(corpus_dir, limit=5))
    assert run_index(Settings(), tmp_path).status == "ok"
    manifest = next((tmp_path / "index" / "versions").glob("*/manifest.json"))
    data = json.loads(manifest.read_text())
    data["bm25"]["tokenizer"] = "(?u)\\b\\w\\w+\\b"
    manifest.write_text(json.dumps(data))

    Retriever(Settings(), tmp_path)

    assert "tokenized for BM25 by an older rule" in caplog.text


def test_a_page_is_found_by_its_file_name_as_written(tmp_path: Path, corpus_dir: Path) -> None:
    folder = "packages/appcd-response/messages/en/4xx"
    pages = ["409.4-PLUGIN_ALREADY_STARTED.md", "409.5-PLUGIN_ALREADY_STOPPED.md"]
    chunker = _chunker()
    write_chunks(
        tmp_path,
        [
            c
            for p in pages
            for c in chunker.chunk(doc_record(corpus_dir, "appc-daemon", f"{folder}/{p}").to_dict())
        ],
    )
    assert run_index(Settings(), tmp_path).status == "ok"
    retriever = Retriever(Settings(), tmp_path)

    for question, title in [
        ("What does 409.4 mean?", "Plugin already started"),
        ("When is PLUGIN_ALREADY_STARTED returned?", "Plugin already started"),
        ("What does 409.5 mean?", "Plugin already stopped"),
        ("When is PLUGIN_ALREADY_STOPPED returned?", "Plugin already stopped"),
    ]:
        top = retriever.search(question, k=1, mode="bm25")
        assert top[0]["title"] == title, question  # neither code nor constant is in its text


def test_hybrid_takes_as_deep_lists_for_chat_as_for_the_evaluation(
    retriever: Retriever, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tools.index.search as search

    depths: list[int] = []
    dense = search._dense
    monkeypatch.setattr(
        search,
        "_dense",
        lambda version, qvec, depth, *rest: (
            depths.append(depth) or dense(version, qvec, depth, *rest)
        ),
    )
    question = "model binding calls the update function twice"
    few = [h["doc_id"] for h in retriever.search(question, k=5, mode="hybrid")]
    many = [h["doc_id"] for h in retriever.search(question, k=50, mode="hybrid")]

    # records are fused by their chunks' ranks in these lists: the same lists, the same order
    assert depths[0] == depths[1] == search.HYBRID_DEPTH
    records = list(dict.fromkeys(few))
    assert list(dict.fromkeys(many))[: len(records)] == records
