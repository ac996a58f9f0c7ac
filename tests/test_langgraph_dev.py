"""`langgraph dev` serves both graphs from langgraph.json, offline, over its HTTP API.

Also home of :class:`LiveProcess`, the server-subprocess helper the UI test shares.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import copy_data_dir

ROOT = Path(__file__).resolve().parents[1]
ANSI = re.compile(r"\x1b\[[0-9;]*m")
QUESTION = "How do I start the Appcelerator Daemon and check its status?"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveProcess:
    """A server started as a subprocess (own session), its output kept for its port and errors."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path = ROOT) -> None:
        self.proc = subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(ANSI.sub("", line))

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 120) -> re.Match:
        """The first match of ``pattern`` in the output (fails if the process exits first)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.output)
            if found:
                return found
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        pytest.fail(f"{pattern!r} never appeared; output:\n{self.output[-4000:]}")

    def wait_http(self, url: str, timeout: float = 120, verify: bool = True) -> None:
        """Until ``url`` answers 200 (fails if the process exits first)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if httpx.get(url, timeout=2, verify=verify).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        pytest.fail(f"{url} never answered; output:\n{self.output[-4000:]}")

    def stop(self) -> None:
        """SIGTERM the process group we started, then SIGKILL if it lingers."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


def offline_env(**extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "LANGGRAPH_NO_VERSION_CHECK": "true",
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    env.pop("DATA_ALCHEMY_DATA_DIR", None)
    return {**env, **extra}


@pytest.fixture(scope="module")
def data_dir(built_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_data_dir(built_data_dir, tmp_path_factory.mktemp("lgdev") / "data")


@pytest.fixture(scope="module")
def api() -> Iterator[httpx.Client]:
    exe = Path(sys.executable).with_name("langgraph")
    port = free_port()
    server = LiveProcess(
        [str(exe), "dev", "--no-browser", "--no-reload", "--port", str(port)], offline_env()
    )
    try:
        # the port moves silently when taken: read the real one
        real = server.wait_for(r"API: http://127\.0\.0\.1:(\d+)").group(1)
        base = f"http://127.0.0.1:{real}"
        server.wait_http(f"{base}/ok")
        with httpx.Client(base_url=base, timeout=300) as client:
            yield client
    finally:
        server.stop()


def test_both_graphs_are_assistants(api: httpx.Client) -> None:
    found = api.post("/assistants/search", json={"limit": 20}).json()
    assert {"chat", "pipeline"} <= {a["graph_id"] for a in found}


def test_chat_runs_on_a_thread_with_context(api: httpx.Client, data_dir: Path) -> None:
    thread = api.post("/threads", json={}).json()["thread_id"]
    body = {
        "assistant_id": "chat",
        "input": {"question": QUESTION},
        "context": {"data_dir": str(data_dir)},
    }
    first = api.post(f"/threads/{thread}/runs/wait", json=body)
    assert first.status_code == 200, first.text
    out = first.json()
    assert "answer" in out, out
    assert out["answer"] and out["citations"] and not out["refused"]
    body["input"] = {"question": "And how do I stop it?"}
    second = api.post(f"/threads/{thread}/runs/wait", json=body).json()
    assert len(second["messages"]) == 4  # the platform's checkpointer kept the thread


def test_pipeline_runs_with_context(api: httpx.Client, data_dir: Path) -> None:
    body = {
        "assistant_id": "pipeline",
        "input": {"stages": ["index"]},
        "context": {"data_dir": str(data_dir)},
    }
    response = api.post("/runs/wait", json=body)
    assert response.status_code == 200, response.text
    out = response.json()
    assert out["status"] == "ok"
    assert out["reports"]["index"]["status"] == "skipped"  # unchanged since the build
