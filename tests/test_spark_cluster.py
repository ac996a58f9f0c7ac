"""Spark mode on a real standalone cluster (master + worker from pyspark's own launcher)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pyspark
import pytest

from tests.test_wash_engines import build_inputs, comparable
from tools.config import Settings, WashSettings
from tools.datadir import DataDir
from tools.wash import run_wash

# artifact names, relative to a data dir
CLEANED_CORPUS = DataDir(Path()).cleaned_corpus.name
RAG_CHUNKS = DataDir(Path()).rag_chunks.name

SPARK_HOME = Path(pyspark.__file__).parent
READY_SECONDS = 90


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _alive_workers(web_port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/json/", timeout=2) as answer:
            return int(json.load(answer).get("aliveworkers", 0))
    except (OSError, ValueError):
        return 0


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


@pytest.fixture
def spark_cluster(tmp_path: Path) -> Iterator[str]:
    """A standalone master and one worker (1 core, 1g) on 127.0.0.1; yields the master URL."""
    port, web, worker_web = _free_port(), _free_port(), _free_port()
    env = {
        **os.environ,
        "SPARK_HOME": str(SPARK_HOME),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOCAL_DIRS": str(tmp_path / "local"),
        "SPARK_LOG_DIR": str(tmp_path / "logs"),
    }
    spark_class = str(SPARK_HOME / "bin" / "spark-class")
    master_url = f"spark://127.0.0.1:{port}"
    commands = {
        "master": [
            spark_class,
            "org.apache.spark.deploy.master.Master",
            "--host", "127.0.0.1", "--port", str(port), "--webui-port", str(web),
        ],
        "worker": [
            spark_class,
            "org.apache.spark.deploy.worker.Worker",
            "--host", "127.0.0.1", "--webui-port", str(worker_web),
            "--cores", "1", "--memory", "1g",
            "--work-dir", str(tmp_path / "work"),
            master_url,
        ],
    }  # fmt: skip
    processes: list[subprocess.Popen] = []
    try:
        for name, command in commands.items():
            log = (tmp_path / f"{name}.log").open("wb")
            processes.append(
                subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
            )
        deadline = time.monotonic() + READY_SECONDS
        while _alive_workers(web) < 1:
            dead = [p.args[1] for p in processes if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                logs = "\n".join(p.read_text()[-2000:] for p in sorted(tmp_path.glob("*.log")))
                pytest.fail(f"Spark cluster not ready (exited: {dead}):\n{logs}")
            time.sleep(0.5)
        yield master_url
    finally:
        for process in reversed(processes):
            _stop(process)


def test_spark_mode_on_a_standalone_cluster_matches_python(
    spark_cluster: str, tmp_path: Path, corpus_dir: Path
) -> None:
    sources = build_inputs(corpus_dir, tmp_path / "in", issues=4, commits=12, docs=3)
    settings = Settings(wash=WashSettings(spark_master=spark_cluster))
    python = run_wash(settings, tmp_path / "python", mode="python", sources=sources)
    spark = run_wash(settings, tmp_path / "spark", mode="spark", sources=sources)
    assert spark.reason == f"spark engine on {spark_cluster}"
    assert spark.status == "ok" and not spark.failed
    assert comparable(spark) == comparable(python)
    assert spark.counters["duplicates:exact"] >= 1 and spark.counters["redacted:email"] >= 1
    for name in (CLEANED_CORPUS, RAG_CHUNKS):
        expected = (tmp_path / "python" / name).read_bytes()
        assert expected and (tmp_path / "spark" / name).read_bytes() == expected, name
    # The job really ran on the cluster's executor: the worker launched an application.
    assert any((tmp_path / "work").glob("app-*/0/stderr"))
