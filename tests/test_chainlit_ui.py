"""The Chainlit UI, end to end in a real headless Chromium, plus its pure parts.

The browser test types questions, sees the streamed answer, its steps and a source, rates it
👍, and finds the row in ``feedback.jsonl``; a follow-up shows the thread's memory. The
finalist is an LLM behind a real local OpenAI-compatible server (the fake stands at the HTTP
boundary), so the answer streams word by word.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import pytest
import yaml
from chainlit.types import Feedback

from chainlit_app.feedback_layer import FeedbackDataLayer
from chainlit_app.render import (
    describe_result,
    source_names,
    source_text,
    sources_markdown,
    step_label,
)
from tests.conftest import copy_data_dir
from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.test_langgraph_dev import ROOT, LiveProcess, free_port, offline_env
from tools.feedback import read_feedback

CHROMIUM = Path("/usr/bin/chromium")
QUESTION = "How do I start the Appcelerator Daemon and check its status?"
FOLLOW_UP = "And how do I stop it?"
ANSWER = "Start the daemon with `appcd start` and check that it runs with `appcd status` [1]."
STANDALONE = "How do I stop the Appcelerator Daemon?"
CITES = [
    {"source": "jira", "id": "DAEMON-1", "title": "Start", "uri": "jira:DAEMON-1", "snippet": "s1"},
    {"source": "docs", "id": "guide.md", "title": "Guide", "uri": "file:///g.md", "snippet": "s2"},
    {"source": "jira", "id": "DAEMON-1", "title": "Start", "uri": "jira:DAEMON-1", "snippet": "s3"},
]


# pure parts


def test_source_names_are_unique_and_linked_from_the_text() -> None:
    names = source_names(CITES)
    assert names == ["DAEMON-1", "guide.md", "DAEMON-1 #2"]
    text = sources_markdown(names, CITES)
    assert all(name in text for name in names) and "**[3]**" in text
    assert sources_markdown([], []) == ""
    assert "[file:///g.md](file:///g.md)" in source_text(CITES[1])
    assert "`jira:DAEMON-1`" in source_text(CITES[0]) and "s1" in source_text(CITES[0])


def test_steps_describe_what_each_node_did() -> None:
    assert step_label("retrieve") == "Retrieve facts" and step_label("other") == "other"
    facts = [{"chunk_id": "jira:DAEMON-1#0", "score": 0.5, "title": "Start"}]
    assert "1 fact(s)" in describe_result("retrieve", {"facts": facts})
    assert "0.500" in describe_result("retrieve", {"facts": facts})
    assert describe_result("condense", {"standalone_question": "q"}) == "Standalone question: q"
    fused = {"citations": CITES, "finalist": "extractive", "used_lora": False}
    assert "3 source(s)" in describe_result("fuse", fused)
    assert describe_result("intuition", {"intuition_status": "off"}) == "off"


def test_feedback_layer_writes_changes_and_retracts(tmp_path: Path) -> None:
    layer = FeedbackDataLayer(tmp_path, max_turns=2)
    turn = {"thread_id": "t", "question": "q?", "answer": "a", "sources": CITES, "error": False}
    layer.remember("run-1", **turn)
    layer.remember("run-2", **{**turn, "error": True})
    first = asyncio.run(layer.upsert_feedback(Feedback(forId="run-1", value=1)))
    again = asyncio.run(layer.upsert_feedback(Feedback(forId="run-1", value=0, id=first)))
    assert again == first
    asyncio.run(layer.upsert_feedback(Feedback(forId="run-2", value=1)))
    rows = read_feedback(tmp_path)
    assert [(r["rating"], r["error"]) for r in rows] == [("down", False), ("down", True)]
    assert asyncio.run(layer.delete_feedback(first))
    assert len(read_feedback(tmp_path)) == 1
    layer.remember("run-3", **turn)  # evicts run-1 (max_turns=2)
    with pytest.raises(LookupError):
        asyncio.run(layer.upsert_feedback(Feedback(forId="run-1", value=1)))


# the real UI in a real browser


@pytest.fixture(scope="module")
def data_dir(built_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_data_dir(built_data_dir, tmp_path_factory.mktemp("ui") / "data")


def scripted_llm(body: dict) -> Reply:
    """Condense follow-ups; answer everything else with a cited sentence."""
    user = str(body["messages"][-1].get("content", ""))
    return Reply(text=STANDALONE if "Follow-up question:" in user else ANSWER)


@pytest.fixture(scope="module")
def llm_config(tmp_path_factory: pytest.TempPathFactory):
    """The project's models.yaml with the finalist pointed at a local LLM server."""
    settings = yaml.safe_load((ROOT / "models.yaml").read_text(encoding="utf-8"))
    with FakeOpenAIServer(scripted_llm) as llm:
        settings["model_d"] = {
            "provider": "openai",
            "model": "fake-model",
            "base_url": llm.base_url,
            "api_key": "test-key",
            "max_retries": 0,
        }
        path = tmp_path_factory.mktemp("config") / "models.yaml"
        path.write_text(yaml.safe_dump(settings), encoding="utf-8")
        yield path


@pytest.fixture(scope="module")
def ui_url(data_dir: Path, llm_config: Path):
    exe = Path(sys.executable).with_name("chainlit")
    port = free_port()
    args = ["run", "chainlit_app/app.py", "--headless", "--host", "127.0.0.1", "--port", str(port)]
    env = offline_env(DATA_ALCHEMY_DATA_DIR=str(data_dir), DATA_ALCHEMY_CONFIG=str(llm_config))
    server = LiveProcess([str(exe), *args], env)
    try:
        server.wait_for(r"Your app is available at")
        url = f"http://127.0.0.1:{port}"
        server.wait_http(url)
        yield url
    finally:
        server.stop()


def wait_rows(data_dir: Path, n: int) -> list[dict]:
    for _ in range(100):
        rows = read_feedback(data_dir)
        if len(rows) >= n:
            return rows
        time.sleep(0.1)
    return read_feedback(data_dir)


def ask(page, question: str, answers_before: int) -> None:
    page.fill("#chat-input", question)
    page.wait_for_function("() => !document.querySelector('#chat-submit').disabled")
    page.click("#chat-submit")
    page.locator("[class*='negative-feedback-']").nth(answers_before).wait_for(timeout=120_000)


@pytest.mark.slow
def test_ask_see_stream_and_sources_rate_and_follow_up(
    ui_url: str, data_dir: Path, tmp_path: Path
) -> None:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: run scripts/setup.sh (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    frames: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(str(f))))
        page.goto(ui_url)
        page.wait_for_selector("#chat-input", timeout=60_000)

        ask(page, QUESTION, answers_before=0)
        # the answer was streamed token by token over the socket
        assert any('"stream_start"' in f for f in frames)
        assert sum('"stream_token"' in f for f in frames) > 3
        for label in ("Condense question", "Retrieve facts", "LoRA intuition", "Compose answer"):
            assert page.locator(f'[id="step-{label}"]').count() == 1
        answer = page.locator(".step").last.inner_text()
        assert answer.count("check that it runs with") == 1  # streamed once, not per stream mode
        source = page.locator("a.element-link").first
        name = source.inner_text()
        source.click()
        side = page.locator("#side-view-content")
        side.wait_for(timeout=10_000)
        assert side.inner_text().strip()
        page.screenshot(path=str(tmp_path / "ui.png"))

        page.locator(".positive-feedback-off").first.click()
        page.click("#submit-feedback")
        page.locator(".positive-feedback-on").wait_for(timeout=10_000)
        rows = wait_rows(data_dir, 1)
        assert rows and rows[0]["question"] == QUESTION and rows[0]["rating"] == "up"
        assert rows[0]["answer"].strip() and not rows[0]["error"]
        assert name.lower() in {s["id"].lower() for s in rows[0]["sources"]}

        ask(page, FOLLOW_UP, answers_before=1)
        page.locator(".negative-feedback-off").last.click()
        page.click("#submit-feedback")
        rows = wait_rows(data_dir, 2)
        browser.close()

    assert [r["rating"] for r in rows] == ["up", "down"]
    assert rows[0]["thread_id"] == rows[1]["thread_id"]  # one chat session, one thread
    assert (tmp_path / "ui.png").stat().st_size > 10_000
    history = thread_messages(data_dir, rows[0]["thread_id"])
    assert [m["content"] for m in history if m["type"] == "human"] == [QUESTION, FOLLOW_UP]


def thread_messages(data_dir: Path, thread_id: str) -> list[dict]:
    """The thread's messages from the UI's checkpointer, read with the graph itself."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    from graph.chat import build_chat_graph

    with SqliteSaver.from_conn_string(str(data_dir / "checkpoints.sqlite")) as saver:
        state = build_chat_graph(checkpointer=saver).get_state(
            {"configurable": {"thread_id": thread_id}}
        )
    return [json.loads(m.model_dump_json()) for m in state.values.get("messages", [])]
