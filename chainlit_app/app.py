"""The Chainlit UI: the chat graph with streamed tokens, one step per node, and cited sources.

Run ``chainlit run chainlit_app/app.py`` from the project root (its settings are in
``.chainlit/config.toml``), or set ``DATA_ALCHEMY_UI=1`` to serve it at ``/ui`` from
``server.py``. The data dir and config come from ``DATA_ALCHEMY_DATA_DIR`` and
``DATA_ALCHEMY_CONFIG``. Each chat session is one thread of the graph's checkpointer (the
config's ``store``: ``<data_dir>/checkpoints.sqlite`` or PostgreSQL), so follow-up questions
see the history; 👍/👎 go to ``<data_dir>/feedback.jsonl``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import re
from contextlib import AsyncExitStack
from typing import Any

import chainlit as cl
from chainlit.utils import utc_now
from langchain_core.messages import AIMessageChunk

from chainlit_app.history import HistoryDataLayer
from chainlit_app.render import (
    ANSWER_NODE,
    INTUITION_NODE,
    STEP_TYPES,
    describe_intuition,
    describe_result,
    marker_names,
    passage_markdown,
    sources_markdown,
    step_label,
    welcome_markdown,
)
from graph.chat import build_chat_graph
from graph.configuration import Context
from tools.access import API_KEY_ENV, THREAD_OWNER, USER_ID, user_owner
from tools.checkpoints import open_async_checkpointer
from tools.datadir import DataDir
from tools.examples import Overview, corpus_overview
from tools.lora import stop_generation
from tools.metrics import MetricsCallback

log = logging.getLogger("data_alchemy.ui")

STREAM_MODES = ["tasks", "messages", "updates", "custom"]
API_KEY = os.environ.get(API_KEY_ENV, "")
"""With a key, users sign in (any name, the key as password) and see their past threads."""
PRODUCT = "Data Alchemy"
ICON = "/public/favicon.svg"
SIDEBAR_TITLE = "Sources of the last answer"


class ChatResources:
    """The chat graph and its checkpointer, opened once on the running event loop.

    Opened lazily on first use as well as at start-up, because a Chainlit app mounted in
    another FastAPI app (``server.py``) does not get Chainlit's start-up hook.
    """

    def __init__(self) -> None:
        self.context = Context()
        self.feedback = HistoryDataLayer(self.context.data_path, self.graph)
        self._graph: Any = None
        self._stack = AsyncExitStack()
        self._lock = asyncio.Lock()
        self._overview: tuple[float, Overview] | None = None

    def overview(self) -> Overview:
        """The corpus overview, read again only when the cleaned corpus changed."""
        path = DataDir(self.context.data_path).cleaned_corpus
        stamp = path.stat().st_mtime if path.exists() else 0.0
        if self._overview is None or self._overview[0] != stamp:
            self._overview = (stamp, corpus_overview(self.context.data_path))
        return self._overview[1]

    async def graph(self) -> Any:
        """The chat graph compiled with the store's checkpointer (SQLite or PostgreSQL)."""
        async with self._lock:
            if self._graph is None:
                saver = await self._stack.enter_async_context(
                    open_async_checkpointer(self.context.settings.store, self.context.data_path)
                )
                self._graph = build_chat_graph(checkpointer=saver)
                log.info("chat UI on data dir %s", self.context.data_path)
            return self._graph

    async def close(self) -> None:
        """Close the checkpointer."""
        async with self._lock:
            await self._stack.aclose()
            self._graph = None


resources = ChatResources()


@cl.data_layer
def data_layer() -> HistoryDataLayer:
    """Enable Chainlit's 👍/👎 buttons (``feedback.jsonl``) and, signed in, past threads."""
    return resources.feedback


if API_KEY:
    # Chainlit signs its session cookies with this secret; derive one from the key if unset.
    secret = hmac.new(API_KEY.encode(), b"data-alchemy-ui", hashlib.sha256).hexdigest()
    os.environ.setdefault("CHAINLIT_AUTH_SECRET", secret)

    @cl.password_auth_callback
    def sign_in(username: str, password: str) -> cl.User | None:
        """Anyone holding the deployment's API key, under the name they give."""
        if re.fullmatch(USER_ID, username) and hmac.compare_digest(password, API_KEY):
            return cl.User(identifier=username)
        return None

    @cl.on_chat_resume
    async def resume(_thread: dict[str, Any]) -> None:
        """Reopen a past thread: the checkpointer already holds its history."""


@cl.set_chat_profiles
async def chat_profiles(_user: cl.User | None = None, _language: str | None = None):
    """One profile: the welcome (what is indexed) and example questions from the data."""
    overview = resources.overview()
    starters = [cl.Starter(label=e.label, message=e.question) for e in overview.examples]
    return [
        cl.ChatProfile(
            name=PRODUCT,
            markdown_description=welcome_markdown(overview.counts),
            icon=ICON,
            default=True,
            starters=starters,
        )
    ]


@cl.on_app_startup
async def open_resources() -> None:
    """Open the checkpointer before the first question."""
    await resources.graph()


@cl.on_app_shutdown
async def close_resources() -> None:
    """End a running generation of the adapter and close the checkpointer."""
    stop_generation()
    await resources.close()


class Turn:
    """One question answered in the UI: steps per node, streamed tokens, final state."""

    def __init__(self, message: cl.Message, parent_id: str | None) -> None:
        self.answer = message
        self.parent_id = parent_id
        self.steps: dict[str, cl.Step] = {}
        self.token_source: str | None = None
        self.final: dict[str, Any] = {}
        self.intuition_step: cl.Step | None = None

    async def on_task(self, task: dict[str, Any]) -> None:
        """Open a step when a node starts, close it with a summary when it ends."""
        if "result" not in task and "error" not in task:
            step = cl.Step(
                name=step_label(task["name"]),
                type=STEP_TYPES.get(task["name"], "tool"),
                parent_id=self.parent_id,
                show_input=False,
            )
            step.start = utc_now()
            self.steps[task["id"]] = step
            await step.send()
            return
        step = self.steps.pop(task["id"], None)
        if step is None:
            return
        if task.get("error"):
            step.is_error = True
            step.output = str(task["error"])
        else:
            step.output = describe_result(task["name"], task.get("result"))
        if task["name"] == INTUITION_NODE:
            self.intuition_step = step
        step.end = utc_now()
        await step.update()

    async def settle_intuition(self) -> None:
        """Say in the adapter's step whether the answer used it (its text only then)."""
        if self.intuition_step is not None and not self.intuition_step.is_error:
            status = str(self.final.get("intuition_status", ""))
            self.intuition_step.output = describe_intuition(status, self.final.get("intuition"))
            await self.intuition_step.update()

    async def on_token(self, token: str, source: str) -> None:
        """Stream a token of the answer.

        The finalist's own stream (``custom``: citations already checked) wins over raw LLM
        chunks (``messages``): when it starts, it replaces what the chunks showed so far.
        """
        if not token or (source == "messages" and self.token_source == "custom"):
            return
        replace = source == "custom" and self.token_source == "messages"
        self.token_source = source
        await self.answer.stream_token(token, is_sequence=replace)

    async def on_event(self, mode: str, chunk: Any) -> None:
        """Dispatch one ``astream`` event."""
        if mode == "tasks":
            await self.on_task(chunk)
        elif mode == "custom" and isinstance(chunk, dict) and "token" in chunk:
            await self.on_token(str(chunk["token"]), "custom")
        elif mode == "messages":
            message, meta = chunk
            if isinstance(message, AIMessageChunk) and meta.get("langgraph_node") == ANSWER_NODE:
                await self.on_token(message.text, "messages")
        elif mode == "updates":
            for update in chunk.values():
                if isinstance(update, dict):
                    self.final.update(update)

    async def fail_open_steps(self, error: BaseException) -> None:
        """Mark the steps still running as failed."""
        for step in self.steps.values():
            step.is_error = True
            step.output = f"{type(error).__name__}: {error}"
            step.end = utc_now()
            await step.update()
        self.steps.clear()


@cl.on_message
async def answer(message: cl.Message) -> None:
    """Answer one question through the chat graph, streaming as it goes."""
    graph = await resources.graph()
    thread_id = cl.context.session.thread_id
    run = cl.context.current_run
    reply = cl.Message(content="")
    turn = Turn(reply, parent_id=run.id if run else None)
    configurable = {"thread_id": thread_id}
    if user := cl.user_session.get("user"):
        configurable[THREAD_OWNER] = user_owner(user.identifier)
    config = {"configurable": configurable, "callbacks": [MetricsCallback("chat")]}
    error = False
    try:
        async for mode, chunk in graph.astream(
            {"question": message.content},
            config,
            context=resources.context,
            stream_mode=STREAM_MODES,
        ):
            await turn.on_event(mode, chunk)
        citations = turn.final.get("citations") or []
        facts = {fact["chunk_id"]: fact for fact in turn.final.get("facts") or []}
        reply.content = str(turn.final.get("answer", "")) + sources_markdown(citations)
        reply.elements = [
            cl.Text(
                name=name,
                content=passage_markdown(cite, facts.get(cite.get("chunk_id", ""))),
                display="side",
            )
            for name, cite in zip(marker_names(citations), citations, strict=True)
        ]
        await turn.settle_intuition()
    except Exception as exc:
        log.exception("chat turn failed")
        await turn.fail_open_steps(exc)
        error, citations = True, []
        reply.content = f"Sorry, answering failed: {type(exc).__name__}: {exc}"
    await reply.send()
    # Chainlit's side panel lists every side element of the session; show this answer's only.
    await cl.ElementSidebar.set_elements(reply.elements or [])
    if reply.elements:
        await cl.ElementSidebar.set_title(SIDEBAR_TITLE)
    if run is not None:
        resources.feedback.remember(
            run.id,
            thread_id=thread_id,
            question=message.content,
            answer=str(turn.final.get("answer", reply.content)),
            sources=citations,
            error=error,
        )
