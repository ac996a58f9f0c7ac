"""Follow-up questions become standalone, offline and with the real ChatOpenAI client."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from tests.fakes.openai_server import Reply
from tests.test_finalist_extractive import hits_from_records, jira_record
from tools.config import LLMSettings, Settings
from tools.finalist import fuse
from tools.finalist.condense import condense_question, conversation, salient_terms

FIRST_QUESTION = "Why is the update function for bound labels called twice in ALOY-1000?"


@pytest.fixture(scope="module")
def thread(corpus_dir) -> list:
    """A real first turn: the question and the extractive answer over ALOY-1000."""
    facts = hits_from_records([jira_record(corpus_dir, "ALOY-1000")])
    settings = Settings()
    settings.model_d.provider = "extractive"
    answer = fuse(FIRST_QUESTION, facts, None, settings)["answer"]
    return [SystemMessage(content="be brief"), HumanMessage(FIRST_QUESTION), AIMessage(answer)]


def _offline() -> Settings:
    settings = Settings()
    settings.model_d.provider = "extractive"
    return settings


def test_no_history_leaves_the_question_alone():
    assert condense_question("Was it fixed?", [], _offline()) == "Was it fixed?"


def test_offline_follow_up_gets_the_last_turns_subject(thread):
    standalone = condense_question("Was it fixed in a later release?", thread, _offline())
    assert standalone.startswith("Regarding ALOY-1000, ")
    assert standalone.endswith(": Was it fixed in a later release?")
    assert "label" in standalone
    what_about = condense_question("What about Android?", thread, _offline())
    assert "ALOY-1000" in what_about and what_about.endswith("What about Android?")
    standalone_already = "Why does a directory ending with .js break ALOY-1262?"
    assert condense_question(standalone_already, thread, _offline()) == standalone_already
    unrelated = "How do I install the default plugins of the Appc Daemon?"
    assert condense_question(unrelated, thread, _offline()) == unrelated


def test_history_forms_are_equivalent(thread):
    dicts = [
        {"role": "user", "content": FIRST_QUESTION},
        {"type": "ai", "content": thread[2].content},
    ]
    follow_up = "Is this still happening?"
    expected = condense_question(follow_up, thread, _offline())
    assert condense_question(follow_up, dicts, _offline()) == expected
    whole_thread = [*thread, HumanMessage(follow_up)]
    assert condense_question(follow_up, whole_thread, _offline()) == expected
    assert conversation(thread)[0] == ("user", FIRST_QUESTION)
    with pytest.raises(TypeError, match="history item 1"):
        condense_question(follow_up, [thread[1], 42], _offline())
    with pytest.raises(TypeError, match="history item 0 has no role"):
        condense_question(follow_up, [{"content": "hi"}], _offline())


def test_refusals_and_unverified_parts_give_no_context():
    refused = (
        "I don't know based on the indexed sources: nothing about ALOY-7. Unverified (from "
        "the adapter, not found in the sources): Backbone did it."
    )
    assert salient_terms([("user", "Is ALOY-1000 fixed?"), ("assistant", refused)]) == [
        "ALOY-1000",
        "fixed",
    ]


def test_subject_named_turns_ago_carries_over(thread):
    later = [*thread, HumanMessage("Was it verified on iOS?"), AIMessage("It was [1].")]
    standalone = condense_question("And on Android?", later, _offline())
    assert standalone.startswith("Regarding ALOY-1000, verified, iOS")


def test_llm_condenses_with_the_thread_it_was_sent(openai_server, thread):
    server = openai_server()
    server.push("Standalone question: Was the duplicate update call of ALOY-1000 fixed?")
    settings = Settings()
    settings.model_d = LLMSettings(provider="openai", model="fake-model", base_url=server.base_url)
    standalone = condense_question("Was it fixed?", thread, settings)
    assert standalone == "Was the duplicate update call of ALOY-1000 fixed?"
    sent = server.requests[0]
    assert not sent.get("stream")
    system, user = (m["content"] for m in sent["messages"])
    assert "standalone question" in system
    assert f"User: {FIRST_QUESTION}" in user
    assert "Assistant: " + thread[2].content[:100] in user
    assert user.rstrip().endswith("Follow-up question: Was it fixed?")
    assert "be brief" not in user

    server.push(Reply.http(500))
    fallback = condense_question("Was it fixed?", thread, settings)
    assert fallback.startswith("Regarding ALOY-1000")


def test_condensed_follow_up_finds_the_same_issue(corpus_dir, thread):
    facts = hits_from_records(
        [jira_record(corpus_dir, k) for k in ("ALOY-1262", "ALOY-800", "ALOY-1000")]
    )
    settings = _offline()
    settings.chat.top_k = 20
    follow_up = "Was it verified on iOS?"
    standalone = condense_question(follow_up, thread, settings)
    raw = fuse(follow_up, facts, None, settings)
    condensed = fuse(standalone, facts, None, settings)
    assert raw["citations"][0]["id"] == "ALOY-800"  # the bare follow-up finds another issue
    assert {c["id"] for c in condensed["citations"]} == {"ALOY-1000"}
