"""A scripted OpenAI-compatible HTTP server for tests (stands at the HTTP boundary).

It serves ``POST /v1/chat/completions`` (plain and streamed as Server-Sent Events) and
``GET /v1/models`` on 127.0.0.1, on a free port, from a background thread. Every request is
logged; each answer comes from a queue of scripted :class:`Reply` objects (consumed first)
or else from a responder callable.

Structured output: a :class:`Reply` built with :meth:`Reply.of_json` (or :meth:`Reply.malformed`)
lands where the client expects it: as the arguments of a tool call when the request carries
``tools`` (langchain-openai ``with_structured_output(method="function_calling")``), else as
the message content (``json_schema`` and ``json_mode`` methods).

Example:
    >>> with FakeOpenAIServer() as server:
    ...     server.push(Reply.http(429, retry_after=0.1), Reply.text("hello"))
    ...     llm = ChatOpenAI(base_url=server.base_url, api_key="k", model="fake-model")

In pytest, import the ``openai_server`` fixture into the test module (or list this module in
``pytest_plugins``) and call it: ``server = openai_server(responder)``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

DEFAULT_MODEL = "fake-model"


@dataclass
class Reply:
    """One scripted answer.

    Attributes:
        text: Plain assistant content.
        structured: A raw string delivered where structured output goes (tool-call arguments
            when the request has tools, else the content); need not be valid JSON.
        status: HTTP status; anything but 200 answers with an OpenAI-style error body.
        headers: Extra response headers (e.g. ``Retry-After``).
        delay: Seconds to wait before answering (to trip client timeouts).
        usage: Token usage to report; counted from words when ``None``.
    """

    text: str | None = None
    structured: str | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    usage: dict[str, int] | None = None

    @classmethod
    def of_json(cls, obj: Any, **kwargs: Any) -> Reply:
        """Answer with ``obj`` serialized as the structured output."""
        return cls(structured=json.dumps(obj), **kwargs)

    @classmethod
    def malformed(cls, raw: str = '{"pairs": [{"question": "unterminated', **kwargs: Any) -> Reply:
        """Answer with a broken JSON string in the structured-output slot."""
        return cls(structured=raw, **kwargs)

    @classmethod
    def http(cls, status: int, retry_after: float | None = None, **kwargs: Any) -> Reply:
        """Answer with an HTTP error such as 429 or 500, optionally with ``Retry-After``."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        return cls(status=status, headers=headers, **kwargs)

    @classmethod
    def slow(cls, seconds: float, then: Reply | None = None) -> Reply:
        """Wait ``seconds`` before giving ``then`` (default: a short text)."""
        base = then or cls(text="late")
        return cls(**{**base.__dict__, "delay": seconds})


Responder = Callable[[dict[str, Any]], "Reply | str"]


def _words(value: Any) -> int:
    """Rough token count: whitespace-separated words of everything in ``value``."""
    return len(json.dumps(value, ensure_ascii=False).split()) if value else 0


def _default_responder(body: dict[str, Any]) -> Reply:
    """Echo the last user message, so an unscripted server still answers something."""
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    content = users[-1]["content"] if users else ""
    return Reply(text=f"echo: {content if isinstance(content, str) else json.dumps(content)}")


def _tool_name(body: dict[str, Any]) -> str | None:
    """The function the client asked for (``tool_choice``), or the first tool offered."""
    tools = body.get("tools") or []
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        return choice.get("function", {}).get("name")
    return tools[0]["function"]["name"] if tools else None


class FakeOpenAIServer:
    """An OpenAI-compatible server on 127.0.0.1 with scripted replies and a request log.

    Attributes:
        requests: JSON bodies of every chat-completion request received, in order.
        responder: Called with the request body when the scripted queue is empty.
        models: Model ids listed by ``GET /v1/models``.
    """

    def __init__(self, responder: Responder | None = None, models: tuple[str, ...] = ()) -> None:
        self.responder: Responder = responder or _default_responder
        self.models = models or (DEFAULT_MODEL,)
        self.requests: list[dict[str, Any]] = []
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.app = self._build_app()

    @property
    def base_url(self) -> str:
        """The ``base_url`` to give an OpenAI client (ends in ``/v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def request_count(self) -> int:
        """How many chat-completion requests arrived."""
        with self._lock:
            return len(self.requests)

    def push(self, *replies: Reply | str) -> None:
        """Queue replies; each request takes the next one before the responder is asked."""
        with self._lock:
            self._queue.extend(Reply(text=r) if isinstance(r, str) else r for r in replies)

    def reset(self) -> None:
        """Forget logged requests and queued replies."""
        with self._lock:
            self.requests.clear()
            self._queue.clear()

    def user_texts(self) -> list[str]:
        """The last user message of every logged request (handy for assertions)."""
        with self._lock:
            bodies = list(self.requests)
        out = []
        for body in bodies:
            users = [m.get("content") for m in body.get("messages", []) if m.get("role") == "user"]
            out.append(users[-1] if users and isinstance(users[-1], str) else "")
        return out

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(body)
            queued = self._queue.popleft() if self._queue else None
        reply = queued or self.responder(body)
        return Reply(text=reply) if isinstance(reply, str) else reply

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="fake OpenAI-compatible server")

        @app.get("/v1/models")
        async def list_models() -> dict[str, Any]:
            data = [
                {"id": m, "object": "model", "created": 0, "owned_by": "tests"} for m in self.models
            ]
            return {"object": "list", "data": data}

        @app.post("/v1/chat/completions")
        async def chat_completions(request: Request) -> Any:
            try:
                body = await request.json()
            except ValueError:
                return _error(400, "request body is not JSON")
            reply = await asyncio.to_thread(self._next_reply, body)
            await self._pause(reply.delay)
            if reply.status != 200:
                return _error(reply.status, f"scripted status {reply.status}", reply.headers)
            if body.get("stream"):
                return StreamingResponse(
                    _stream(body, reply), media_type="text/event-stream", headers=reply.headers
                )
            return JSONResponse(_completion(body, reply), headers=reply.headers)

        return app

    async def _pause(self, seconds: float) -> None:
        """Sleep ``seconds``, cut short when the server stops (so shutdown never waits)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end and not (self._server and self._server.should_exit):
            await asyncio.sleep(min(0.05, max(0.0, end - time.monotonic())))

    def start(self) -> FakeOpenAIServer:
        """Start serving on a free port in a background thread; return self when ready."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("fake OpenAI server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop the server and wait for its thread."""
        if self._server and self._thread:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    kind = "rate_limit_exceeded" if status == 429 else "server_error"
    payload = {"error": {"message": message, "type": kind, "param": None, "code": kind}}
    return JSONResponse(payload, status_code=status, headers=headers or {})


def _message(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    """The assistant message for ``reply``: content, or a tool call when tools were sent."""
    name = _tool_name(body)
    if reply.structured is not None and name:
        call = {
            "id": f"call_{uuid.uuid4().hex[:12]}",
            "type": "function",
            "function": {"name": name, "arguments": reply.structured},
        }
        return {"role": "assistant", "content": None, "tool_calls": [call]}
    content = reply.structured if reply.structured is not None else (reply.text or "")
    return {"role": "assistant", "content": content}


def _usage(body: dict[str, Any], message: dict[str, Any], reply: Reply) -> dict[str, int]:
    if reply.usage is not None:
        return reply.usage
    prompt = _words(body.get("messages"))
    completion = _words(message.get("content")) + _words(message.get("tool_calls"))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _envelope(body: dict[str, Any], kind: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:16]}",
        "object": kind,
        "created": int(time.time()),
        "model": body.get("model", DEFAULT_MODEL),
    }


def _completion(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    message = _message(body, reply)
    finish = "tool_calls" if message.get("tool_calls") else "stop"
    return _envelope(body, "chat.completion") | {
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": _usage(body, message, reply),
    }


def _sse(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload)}\n\n"


async def _stream(body: dict[str, Any], reply: Reply) -> AsyncIterator[str]:
    """Yield the reply as OpenAI ``chat.completion.chunk`` events, then ``[DONE]``."""
    message = _message(body, reply)
    head = _envelope(body, "chat.completion.chunk")

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return _sse(head | {"choices": [choice]})

    yield chunk({"role": "assistant", "content": ""})
    if message.get("tool_calls"):
        call = message["tool_calls"][0]
        yield chunk({"tool_calls": [{"index": 0, **call}]})
        finish = "tool_calls"
    else:
        for piece in _pieces(message["content"]):
            yield chunk({"content": piece})
        finish = "stop"
    yield chunk({}, finish)
    if (body.get("stream_options") or {}).get("include_usage"):
        yield _sse(head | {"choices": [], "usage": _usage(body, message, reply)})
    yield "data: [DONE]\n\n"


def _pieces(text: str) -> Iterator[str]:
    """Split text into word-sized pieces that join back to it exactly."""
    start = 0
    for i, char in enumerate(text):
        if char == " " and i > start:
            yield text[start:i]
            start = i
    if start < len(text):
        yield text[start:]


@pytest.fixture
def openai_server() -> Iterator[Callable[..., FakeOpenAIServer]]:
    """Factory fixture: ``openai_server(responder=None)`` starts a server, stopped at teardown."""
    started: list[FakeOpenAIServer] = []

    def start(responder: Responder | None = None, models: tuple[str, ...] = ()) -> FakeOpenAIServer:
        server = FakeOpenAIServer(responder, models).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
