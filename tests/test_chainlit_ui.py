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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from chainlit.types import Feedback

from chainlit_app.feedback_layer import FeedbackDataLayer
from chainlit_app.render import (
    describe_intuition,
    describe_result,
    group_sources,
    highlight,
    marker_names,
    passage_markdown,
    sources_markdown,
    step_label,
    welcome_markdown,
)
from tests.conftest import copy_data_dir
from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.test_langgraph_dev import ROOT, LiveProcess, free_port, offline_env
from tools.examples import corpus_overview, example_questions
from tools.feedback import read_feedback

CHROMIUM = Path("/usr/bin/chromium")
API_KEY = "ui-test-key"
QUESTION = "How do I start the Appcelerator Daemon and check its status?"
FOLLOW_UP = "And how do I stop it?"
ANSWER = "Start the daemon with `appcd start` [1] and check that it runs with `appcd status` [2]."
STANDALONE = "How do I stop the Appcelerator Daemon?"
SHA = "5d7252ddfaac11ec855119a30d4200fd5caa6eaa"
CITES = [
    {"source": "jira", "id": "DAEMON-1", "title": "Start", "uri": "jira:DAEMON-1", "snippet": "s1"},
    {"source": "git", "id": SHA, "title": "Fix", "uri": "https://git/c", "snippet": "Fix it."},
    {"source": "jira", "id": "DAEMON-1", "title": "Start", "uri": "jira:DAEMON-1", "snippet": "s3"},
]
STEPS = ("Question in context", "Knowledge base search", "Adapter intuition", "Cited answer")


# pure parts


def test_sources_are_grouped_per_record_and_markers_name_the_passages() -> None:
    assert marker_names(CITES) == ["[1]", "[2]", "[3]"]
    assert [g.markers for g in group_sources(CITES)] == [[1, 3], [2]]
    text = sources_markdown(CITES)
    assert text.count("DAEMON-1") == 1 and "[1] [3] **DAEMON-1**" in text
    assert f"**{SHA[:10]}**" in text and SHA not in text
    assert sources_markdown([]) == ""


def test_a_passage_shows_where_it_comes_from_and_highlights_the_cited_sentence() -> None:
    fact = {
        "chunk_id": f"git:repo@{SHA}#0",
        "doc_id": f"git:repo@{SHA}",
        "text": "## Heading\nFirst line.\nFix it.\nLast line.",
        "metadata": {"created": "2018-01-12T10:00:00Z", "author": "Ewan Harris"},
    }
    panel = passage_markdown(CITES[1], fact)
    assert f"Commit **{SHA[:10]}** · 2018-01-12 · Ewan Harris" in panel
    assert "> **Fix it.**" in panel and "> **Heading**" in panel and "## Heading" not in panel
    assert "[Open the source](https://git/c)" in panel
    assert "`jira:DAEMON-1`" in passage_markdown(CITES[0], None)  # no fact: the snippet
    assert highlight("Run it.  Then\nstop.", "Then stop.") == "> Run it.  **Then\n> stop.**"


def test_steps_say_in_plain_words_what_each_agent_did() -> None:
    assert step_label("retrieve") == "Knowledge base search" and step_label("x") == "x"
    facts = [
        {
            "chunk_id": "jira:DAEMON-1#0",
            "doc_id": "jira:DAEMON-1",
            "source": "jira",
            "score": 0.5,
            "title": "Start",
        },
        {
            "chunk_id": "jira:DAEMON-1#1",
            "doc_id": "jira:DAEMON-1",
            "source": "jira",
            "score": 0.4,
            "title": "Start",
        },
    ]
    said = describe_result("retrieve", {"facts": facts})
    assert "2 passage(s) in 1 record(s)" in said and "DAEMON-1 · Start (score 0.500)" in said
    assert describe_result("retrieve", {"facts": []}) == "Nothing relevant was found."
    assert "“q”" in describe_result("condense", {"standalone_question": "q"})
    assert "2 cited source(s)" in describe_result("fuse", {"citations": CITES, "finalist": "x"})
    dropped = describe_intuition("dropped", "It restarts itself.")
    assert "not a source" in dropped and "not used" in dropped and "> It restarts" in dropped
    assert "confirmed" in describe_intuition("used", "It runs.")
    said = describe_intuition("skipped: adapter v1 is on the smoke-test base", None)
    assert said == "Not asked: adapter v1 is on the smoke-test base."


def test_example_questions_and_welcome_come_from_the_corpus(built_data_dir: Path) -> None:
    overview = corpus_overview(built_data_dir)
    assert overview.counts["jira"] > 0 and overview.counts["git"] > 0
    questions = [e.question for e in overview.examples]
    assert len(questions) == 4 and len(set(questions)) == 4
    assert questions[0].startswith("What fixed DAEMON-")
    assert all(len(e.label) <= 48 for e in overview.examples)
    welcome = welcome_markdown(overview.counts)
    assert f"{overview.counts['jira']:,} Jira issues" in welcome
    assert "ingest" in welcome_markdown({}) and example_questions([]) == []


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


@contextmanager
def chainlit_ui(**env: str) -> Iterator[str]:
    """``chainlit run`` of the app on a free port with ``env``; yields its URL."""
    exe = Path(sys.executable).with_name("chainlit")
    port = free_port()
    args = ["run", "chainlit_app/app.py", "--headless", "--host", "127.0.0.1", "--port", str(port)]
    server = LiveProcess([str(exe), *args], offline_env(**env))
    try:
        server.wait_for(r"Your app is available at")
        url = f"http://127.0.0.1:{port}"
        server.wait_http(url)
        yield url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def ui_url(data_dir: Path, llm_config: Path) -> Iterator[str]:
    with chainlit_ui(
        DATA_ALCHEMY_DATA_DIR=str(data_dir), DATA_ALCHEMY_CONFIG=str(llm_config)
    ) as url:
        yield url


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


def shoot(page, name: str, tmp_path: Path, keep: Path | None) -> Path:
    """Screenshot the page; also into ``--ui-screenshots`` DIR (docs/ui) when asked."""
    path = tmp_path / f"{name}.png"
    page.wait_for_timeout(800)  # let panels finish sliding in
    page.screenshot(path=str(path))
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        (keep / path.name).write_bytes(path.read_bytes())
    assert path.stat().st_size > 10_000  # a blank page compresses to far less
    return path


@pytest.mark.slow
def test_welcome_ask_read_sources_rate_and_follow_up(
    ui_url: str, data_dir: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: run scripts/setup.sh (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    keep = request.config.getoption("ui_screenshots")
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

        # the welcome: the product's name and logo, what it knows, questions from the data
        welcome = page.locator("#welcome-screen")
        welcome.wait_for(timeout=30_000)
        assert page.title() == "Data Alchemy"
        assert "Jira issues" in welcome.inner_text() and "cites its sources" in welcome.inner_text()
        starters = page.locator("#starters button")
        starters.first.wait_for(timeout=30_000)
        labels = [starters.nth(i).inner_text() for i in range(starters.count())]
        assert len(labels) == 4 and any(label.startswith("What fixed DAEMON-") for label in labels)
        assert page.request.get(f"{ui_url}/logo?theme=dark").text().count("Data Alchemy")
        page.wait_for_function(  # the welcome fades in
            "() => getComputedStyle(document.querySelector('#welcome-screen')).opacity === '1'"
        )
        shoot(page, "1-welcome", tmp_path, keep)

        ask(page, QUESTION, answers_before=0)
        # the answer was streamed token by token over the socket
        assert any('"stream_start"' in f for f in frames)
        assert sum('"stream_token"' in f for f in frames) > 3
        for label in STEPS:
            assert page.locator(f'[id="step-{label}"]').count() == 1
        answer = page.locator(".step").last.inner_text()
        assert answer.count("check that it runs with") == 1  # streamed once, not per stream mode
        sources = answer.split("Sources", 1)[1].strip().splitlines()
        assert len(sources) == len(set(sources)) >= 1  # one line per record
        shoot(page, "2-answer", tmp_path, keep)

        # a [n] marker in the text opens its passage, with the cited sentence highlighted
        marker = page.locator(".step").last.locator("a.element-link", has_text="[1]").first
        marker.click()
        side = page.locator("#side-view-content")
        side.locator("blockquote .font-bold").first.wait_for(timeout=10_000)  # the cited sentence
        panel = side.inner_text()
        assert any(kind in panel for kind in ("Jira issue", "Commit", "Document"))
        shoot(page, "3-source", tmp_path, keep)

        page.locator(".positive-feedback-off").first.click()
        page.click("#submit-feedback")
        page.locator(".positive-feedback-on").wait_for(timeout=10_000)
        rows = wait_rows(data_dir, 1)
        assert rows and rows[0]["question"] == QUESTION and rows[0]["rating"] == "up"
        assert rows[0]["answer"].strip() and not rows[0]["error"]

        ask(page, FOLLOW_UP, answers_before=1)
        second = page.locator(".step").last
        assert second.inner_text().count("Sources") == 1
        # the side panel holds this answer's passages, not the first answer's as well
        markers = {m.inner_text() for m in second.locator("a.element-link").all()}
        page.wait_for_timeout(1000)
        assert side.locator("h3").count() == len(markers) >= 1
        shoot(page, "4-follow-up", tmp_path, keep)
        page.locator(".negative-feedback-off").last.click()
        page.click("#submit-feedback")
        rows = wait_rows(data_dir, 2)
        browser.close()

    assert [r["rating"] for r in rows] == ["up", "down"]
    assert rows[0]["thread_id"] == rows[1]["thread_id"]  # one chat session, one thread
    history = thread_messages(data_dir, rows[0]["thread_id"])
    assert [m["content"] for m in history if m["type"] == "human"] == [QUESTION, FOLLOW_UP]


@pytest.fixture(scope="module")
def keyed_ui_url(data_dir: Path) -> Iterator[str]:
    """The UI of a deployment with an API key: users sign in and see their past threads."""
    with chainlit_ui(DATA_ALCHEMY_DATA_DIR=str(data_dir), DATA_ALCHEMY_API_KEY=API_KEY) as url:
        yield url


def sign_in(browser, url: str, user: str, password: str = API_KEY):
    """A new browser session signed in as ``user`` (each has its own cookies)."""
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(url)
    page.fill("#email", user)
    page.fill("#password", password)
    page.click("button:has-text('Sign In')")
    return page


@pytest.mark.slow
def test_signed_in_users_find_their_past_threads_and_only_theirs(keyed_ui_url: str) -> None:
    from playwright.sync_api import sync_playwright

    question = "Which command stops the daemon, and what does --force do?"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        wrong = sign_in(browser, keyed_ui_url, "ana", "not-the-key")
        wrong.wait_for_timeout(1500)
        assert wrong.locator("#chat-input").count() == 0  # the key is the password

        ana = sign_in(browser, keyed_ui_url, "ana")
        ana.wait_for_selector("#chat-input", timeout=60_000)
        ask(ana, question, answers_before=0)
        ana.goto(keyed_ui_url)  # a new chat: the last one is in the history
        past = ana.locator("a[href*='/thread/']", has_text=question)
        past.wait_for(timeout=30_000)
        past.click()
        ana.get_by_text(question).last.wait_for(timeout=30_000)
        ana.locator(".step").last.get_by_text("[1]").first.wait_for(timeout=30_000)

        bob = sign_in(browser, keyed_ui_url, "bob")
        bob.wait_for_selector("#chat-input", timeout=60_000)
        bob.wait_for_timeout(2000)
        assert bob.locator("a[href*='/thread/']").count() == 0
        browser.close()


def thread_messages(data_dir: Path, thread_id: str) -> list[dict]:
    """The thread's messages from the UI's checkpointer, read with the graph itself."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    from graph.chat import build_chat_graph

    with SqliteSaver.from_conn_string(str(data_dir / "checkpoints.sqlite")) as saver:
        state = build_chat_graph(checkpointer=saver).get_state(
            {"configurable": {"thread_id": thread_id}}
        )
    return [json.loads(m.model_dump_json()) for m in state.values.get("messages", [])]
