"""A killed indexer leaves the previous index version answering."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.test_index_build import corpus_chunks, write_chunks
from tools.config import Settings
from tools.index.build import run_index
from tools.index.search import Retriever
from tools.index.store import PAUSE_ENV, current_version_dir, index_root

ROOT = Path(__file__).resolve().parents[1]
QUERY = "the HTML parser breaks on a <link> stylesheet tag that has no end tag"
INDEXER = (
    "from pathlib import Path; import sys; from tools.config import Settings; "
    "from tools.index.build import run_index; run_index(Settings(), Path(sys.argv[1]))"
)


def _wait_for_pause(data_dir: Path, proc: subprocess.Popen, timeout: float = 300) -> Path:
    deadline = time.monotonic() + timeout
    versions = index_root(data_dir) / "versions"
    while time.monotonic() < deadline:
        marks = list(versions.glob(".tmp-*/.paused"))
        if marks:
            return marks[0].parent
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    raise AssertionError("the indexer never reached the pause point")


def test_killed_indexer_leaves_the_old_index_answering(corpus_dir: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = corpus_chunks(corpus_dir, limit=40)
    write_chunks(data_dir, first)
    assert run_index(Settings(), data_dir).status == "ok"
    old_version = current_version_dir(data_dir)
    retriever = Retriever(Settings(), data_dir)
    before = [h["chunk_id"] for h in retriever.search(QUERY, k=5)]
    assert "jira:ALOY-4#0" in before

    write_chunks(data_dir, first + corpus_chunks(corpus_dir, keys=["ALOY-1500", "ALOY-1501"]))
    env = {**os.environ, PAUSE_ENV: "120", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", INDEXER, str(data_dir)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        partial = _wait_for_pause(data_dir, proc)
        assert (partial / "faiss.index").is_file()
        assert not (partial / "manifest.json").exists()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL

    assert current_version_dir(data_dir) == old_version
    assert [h["chunk_id"] for h in retriever.search(QUERY, k=5)] == before
    fresh = Retriever(Settings(), data_dir)
    assert [h["chunk_id"] for h in fresh.search(QUERY, k=5)] == before
    assert "jira:ALOY-1500" not in [h["doc_id"] for h in fresh.search("ALOY-1500", k=5)]

    report = run_index(Settings(), data_dir)
    assert report.status == "ok"
    assert report.counters["embedded"] == 2
    assert not partial.exists()  # the unfinished version was collected
    assert retriever.search("what about ALOY-1500?", k=1)[0]["doc_id"] == "jira:ALOY-1500"
    assert retriever.version.name == current_version_dir(data_dir).name
