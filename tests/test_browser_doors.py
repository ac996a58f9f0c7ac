"""The API's pages as a person opens them in Chromium: both playgrounds answer, /docs renders.

A 200 proves nothing here: the playgrounds once rendered blank (a JSON schema with a
``null`` type) and /docs loaded Swagger UI from a CDN, blank offline.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import copy_data_dir
from tests.test_chainlit_ui import CHROMIUM
from tests.test_langgraph_dev import LiveProcess, free_port, offline_env
from tools.sample_data import SAMPLE_RAW

QUESTION = "How do I stop the daemon?"


@pytest.fixture(scope="module")
def api_url(built_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``data-alchemy serve`` on a copy of the demo's data, ingesting the sample Jira and docs."""
    work = tmp_path_factory.mktemp("doors")
    data = copy_data_dir(built_data_dir, work / "data")
    config = work / "models.yaml"
    jira, docs = SAMPLE_RAW / "jira", SAMPLE_RAW / "docs"
    config.write_text(f"sources:\n  jira: ['{jira}']\n  docs: ['{docs}']\n", encoding="utf-8")
    port = free_port()
    args = ["serve", "--port", str(port), "--data-dir", str(data), "--config", str(config)]
    server = LiveProcess(
        [str(Path(sys.executable).with_name("data-alchemy")), *args], offline_env()
    )
    try:
        server.wait_http(f"http://127.0.0.1:{port}/healthz")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: run scripts/setup.sh (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


def open_page(browser, url: str):
    """A page at ``url`` that records script errors and requests that left this machine."""
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    page.errors, page.remote = [], []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on(
        "request",
        lambda request: (
            None
            if request.url.startswith(("http://127.0.0.1", "data:", "blob:"))
            else page.remote.append(request.url)
        ),
    )
    page.goto(url, wait_until="networkidle")
    return page


@pytest.mark.slow
@pytest.mark.parametrize("graph", ["chat", "pipeline"])
def test_each_playground_answers_a_question(api_url: str, browser, graph: str) -> None:
    page = open_page(browser, f"{api_url}/{graph}/playground/")
    question = page.locator("[id='#/properties/question-input']")
    question.wait_for(timeout=30_000)  # the form rendered (it was a blank page)
    question.fill(QUESTION)
    page.get_by_role("button", name="Start").click()
    page.get_by_text("Stops the Appc Daemon if running [1]").first.wait_for(timeout=120_000)
    assert page.errors == [] and page.remote == []
    page.close()


@pytest.mark.slow
def test_api_docs_render_offline(api_url: str, browser) -> None:
    page = open_page(browser, f"{api_url}/docs")
    page.get_by_text("/chat/invoke").first.wait_for(timeout=30_000)
    assert "Data Alchemy" in page.inner_text("body")
    assert page.errors == [] and page.remote == []  # every asset came from the app
    page.close()
