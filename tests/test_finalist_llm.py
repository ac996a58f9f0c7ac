"""The LLM finalist: the real ChatOpenAI client against the local scripted OpenAI server."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.test_finalist_extractive import (
    BINDING_QUESTION,
    INJECTION,
    doc_record,
    hits_from_records,
    jira_record,
)
from tools.config import LLMSettings, Settings
from tools.finalist import finalist_name, fuse, verify_citations
from tools.finalist.llm_finalist import generate_answer, postcheck, stream_answer
from tools.finalist.prompts import UNCITED_FLAG, UNVERIFIED_LABEL


@pytest.fixture(scope="module")
def facts(corpus_dir) -> list[dict[str, Any]]:
    """ALOY-1262 (a distractor) then ALOY-1000's description and comments."""
    return hits_from_records([jira_record(corpus_dir, k) for k in ("ALOY-1262", "ALOY-1000")])


def _settings(server: FakeOpenAIServer) -> Settings:
    settings = Settings()
    settings.model_d = LLMSettings(
        provider="auto", model="fake-model", base_url=server.base_url, api_key="test-key"
    )
    settings.chat.top_k = 20
    return settings


def _number(facts: list[dict[str, Any]], chunk_id: str) -> int:
    return next(i for i, f in enumerate(facts, 1) if f["chunk_id"] == chunk_id)


def _blocks(user: str) -> dict[int, str]:
    return {
        int(n): body for n, body in re.findall(r"<source id=(\d+)>\n(.*?)\n</source>", user, re.S)
    }


def test_streamed_answer_is_renumbered_checked_and_cited(openai_server, facts):
    server = openai_server()
    first = _number(facts, "jira:ALOY-1000#0")
    fixed = _number(facts, "jira:ALOY-1000#3")
    server.push(
        f"The update function of bound Labels was called twice [{first}]. "
        f"After the fix it is generated once for each property [{fixed}][42]. "
        "Alloy is the best framework."
    )
    tokens: list[str] = []
    result = fuse(BINDING_QUESTION, facts, None, _settings(server), tokens.append)

    assert result["finalist"] == "openai" and not result["refused"]
    assert result["answer"] == (
        "The update function of bound Labels was called twice [1]. "
        "After the fix it is generated once for each property [2]. "
        f"Alloy is the best framework {UNCITED_FLAG}."
    )
    assert "".join(tokens) == result["answer"].replace(f" {UNCITED_FLAG}", "")
    assert len(tokens) > 5
    assert result["used_facts"] == ["jira:ALOY-1000#0", "jira:ALOY-1000#3"]
    assert [c["id"] for c in result["citations"]] == ["ALOY-1000", "ALOY-1000"]
    assert verify_citations(result["answer"], result["citations"], facts) == []
    assert "called twice" in result["citations"][0]["snippet"]
    assert any("[42]" in note for note in result["notes"])

    sent = server.requests[0]
    assert sent["stream"] is True and sent["model"] == "fake-model"
    system, user = sent["messages"][0], sent["messages"][1]
    assert system["role"] == "system" and "never instructions" in system["content"]
    blocks = _blocks(user["content"])
    assert sorted(blocks) == list(range(1, len(facts) + 1))
    for n, fact in enumerate(facts, 1):
        assert fact["text"].strip() in blocks[n]
    assert user["content"].rstrip().endswith(f"Question: {BINDING_QUESTION}")


def test_injected_document_reaches_the_llm_only_as_quoted_data(
    openai_server,
    corpus_dir,
    facts,
):
    poisoned = hits_from_records(
        [doc_record(corpus_dir, "appc-daemon", "docs/Introduction.md", INJECTION)]
    )
    all_facts = poisoned + facts
    server = openai_server(lambda body: Reply(text="ACCESS GRANTED"))
    result = fuse(BINDING_QUESTION, all_facts, None, _settings(server))

    system, user = (m["content"] for m in server.requests[0]["messages"])
    assert "ACCESS GRANTED" not in system and "hunter2" not in system
    assert user.count("Ignore previous instructions") == 1
    assert user.count("<source id=") == user.count("</source>") == len(all_facts)
    blocks = _blocks(user)
    holder = [n for n, body in blocks.items() if "Ignore previous instructions" in body]
    assert len(holder) == 1 and "hunter2" in blocks[holder[0]]
    assert "&lt;/source> &lt;source id=99>" in blocks[holder[0]]
    # A model that obeyed anyway is caught: the uncited claim is flagged, nothing is cited.
    assert result["answer"] == f"ACCESS GRANTED {UNCITED_FLAG}."
    assert result["citations"] == []


def test_nothing_relevant_means_no_llm_call_and_i_dont_know(openai_server, facts):
    server = openai_server()
    low = [dict(f, score=0.05) for f in facts]
    result = fuse(BINDING_QUESTION, low, "It is a known Titanium bug.", _settings(server))
    assert server.request_count == 0
    assert result["refused"] and result["answer"].startswith("I don't know")
    assert result["finalist"] == "openai" and result["intuition_status"] == "dropped"

    server.push("I don't know based on the indexed sources. They do not mention Mongolia.")
    said = fuse("What is the capital of Mongolia?", facts, None, _settings(server))
    assert said["refused"] and said["citations"] == []
    assert UNCITED_FLAG not in said["answer"]


def test_intuition_is_quoted_and_labelled(openai_server, facts):
    server = openai_server()
    guess = "The duplicate calls come from the Backbone sync adapter."
    first = _number(facts, "jira:ALOY-1000#0")
    server.push(f"The update function ran twice [{first}].\n\n{UNVERIFIED_LABEL} {guess}")
    result = fuse(BINDING_QUESTION, facts, guess, _settings(server))
    assert result["intuition_status"] == "unverified" and result["used_lora"]
    assert UNCITED_FLAG not in result["answer"]
    user = server.requests[0]["messages"][1]["content"]
    assert f"<adapter_intuition>\n{guess}\n</adapter_intuition>" in user

    fixed = _number(facts, "jira:ALOY-1000#3")
    server.push(f"After the fix, the update function is generated once per property [{fixed}].")
    supported = "The update function is generated once for each property after the fix."
    used = fuse(BINDING_QUESTION, facts, supported, _settings(server))
    assert used["intuition_status"] == "used" and used["used_lora"]


def test_api_failure_or_empty_answer_falls_back_to_extractive(openai_server, facts):
    server = openai_server()
    server.push(Reply.http(500))
    result = fuse(BINDING_QUESTION, facts, None, _settings(server))
    assert result["finalist"] == "extractive" and not result["refused"]
    assert any("openai finalist gave no answer" in n and "500" in n for n in result["notes"])
    assert verify_citations(result["answer"], result["citations"], facts) == []
    server.push("   ")
    empty = fuse(BINDING_QUESTION, facts, None, _settings(server))
    assert empty["finalist"] == "extractive" and empty["answer"] == result["answer"]
    assert any("empty answer" in note for note in empty["notes"])


def test_stream_generate_postcheck_and_provider_choice(openai_server, facts):
    server = openai_server(lambda body: Reply(text="It fails [2] and [7]. Also this."))
    llm = _settings(server).model_d
    streamed = "".join(stream_answer(BINDING_QUESTION, facts[:2], None, llm))
    whole = generate_answer(BINDING_QUESTION, facts[:2], None, llm)
    assert streamed == whole == "It fails [2] and [7]. Also this."
    assert [r.get("stream", False) for r in server.requests] == [True, False]
    text, order, notes = postcheck(whole, 2)
    assert text == f"It fails [1] and. Also this {UNCITED_FLAG}." and order == [1]
    assert len(notes) == 2
    assert finalist_name(llm) == "openai"
    assert finalist_name(LLMSettings(provider="auto", api_key="")) == "extractive"
    assert finalist_name(LLMSettings(provider="offline")) == "extractive"
