"""The fake OpenAI-compatible server speaks the protocol the real ChatOpenAI client expects."""

from __future__ import annotations

import openai
import pytest
from pydantic import BaseModel

from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tools.config import LLMSettings
from tools.llm import make_chat_model


class Answer(BaseModel):
    answer: str


def _settings(server: FakeOpenAIServer, **kw) -> LLMSettings:
    return LLMSettings(provider="openai", model="fake-model", base_url=server.base_url, **kw)


def test_text_and_models(openai_server):
    server = openai_server()
    server.push("hello there")
    message = make_chat_model(_settings(server)).invoke("hi")
    assert message.content == "hello there"
    assert message.usage_metadata["output_tokens"] > 0
    assert server.request_count == 1
    assert server.user_texts() == ["hi"]
    client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
    assert [m.id for m in client.models.list()] == ["fake-model"]


def test_streaming_chunks_and_usage(openai_server):
    server = openai_server(lambda body: Reply(text="streamed answer in pieces"))
    chunks = list(make_chat_model(_settings(server), streaming=True).stream("q"))
    assert len(chunks) > 3
    assert "".join(c.content for c in chunks) == "streamed answer in pieces"
    assert sum((c.usage_metadata or {}).get("output_tokens", 0) for c in chunks) > 0
    assert server.requests[0]["stream"] is True


@pytest.mark.parametrize("method", ["json_schema", "json_mode", "function_calling"])
def test_structured_output_shapes(openai_server, method):
    server = openai_server(lambda body: Reply.of_json({"answer": "42"}))
    model = make_chat_model(_settings(server)).with_structured_output(Answer, method=method)
    assert model.invoke("Answer in JSON: what is it?") == Answer(answer="42")
    sent = server.requests[0]
    assert ("tools" in sent) == (method == "function_calling")


def test_scripted_errors_and_delay(openai_server):
    server = openai_server()
    server.push(Reply.http(429, retry_after=2), Reply.http(500), Reply.slow(2.0))
    llm = make_chat_model(_settings(server, timeout=0.3))
    with pytest.raises(openai.RateLimitError) as rate:
        llm.invoke("a")
    assert rate.value.response.headers["retry-after"] == "2"
    with pytest.raises(openai.InternalServerError):
        llm.invoke("b")
    with pytest.raises(openai.APITimeoutError):
        llm.invoke("c")
    assert server.request_count == 3


def test_context_manager_stops():
    with FakeOpenAIServer() as server:
        url = server.base_url
        assert make_chat_model(_settings(server)).invoke("ping").content == "echo: ping"
    with pytest.raises(openai.APIConnectionError):
        openai.OpenAI(base_url=url, api_key="k", max_retries=0, timeout=2).models.list()
