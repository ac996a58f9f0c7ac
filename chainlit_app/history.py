"""A signed-in user's past conversations in the UI, read from the chat graph's checkpointer.

Chainlit lists threads, reopens one and checks who may resume it through its data layer.
:class:`HistoryDataLayer` answers from the same store the API uses (SQLite or PostgreSQL):
a thread belongs to the owner kept in its checkpoints' metadata (``user:<name>``, as with the
API's ``X-User-Id``), so a user sees the conversations started in the UI and through the API
under that name, and nobody else's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chainlit.types import PageInfo, PaginatedResponse, Pagination, ThreadDict, ThreadFilter
from chainlit.user import PersistedUser, User

from chainlit_app.feedback_layer import FeedbackDataLayer
from tools.access import THREAD_OWNER, user_owner
from tools.files import now_iso

STEP_TYPES = {"human": "user_message", "ai": "assistant_message"}
NAME_CHARS = 80
MAX_THREADS = 100


@dataclass(frozen=True)
class ThreadSummary:
    """One past conversation: its id, first question and last update."""

    thread_id: str
    name: str
    updated: str


async def owner_threads(saver: Any, owner: str, limit: int = MAX_THREADS) -> list[ThreadSummary]:
    """The threads ``owner`` started, most recently updated first."""
    found: dict[str, ThreadSummary] = {}
    async for saved in saver.alist(None, filter={THREAD_OWNER: owner}):
        thread_id = saved.config["configurable"]["thread_id"]
        if thread_id in found:
            continue  # checkpoints come newest first: the first one seen is the latest
        messages = saved.checkpoint.get("channel_values", {}).get("messages") or []
        found[thread_id] = ThreadSummary(
            thread_id, first_question(messages), saved.checkpoint["ts"]
        )
        if len(found) >= limit:
            break
    return list(found.values())


def first_question(messages: list[Any]) -> str:
    """A thread's name: its first question, cut short."""
    return next((m.text for m in messages if m.type == "human"), "")[:NAME_CHARS]


def thread_dict(
    thread_id: str, owner: str, name: str, messages: list[Any], created: str
) -> ThreadDict:
    """A thread as Chainlit shows it: its messages as user and assistant steps."""
    steps = [
        {
            "id": f"{thread_id}:{n}",
            "threadId": thread_id,
            "name": "User" if m.type == "human" else "Data Alchemy",
            "type": STEP_TYPES.get(m.type, "assistant_message"),
            "output": m.text,
            "createdAt": created,
            "start": created,
            "end": created,
        }
        for n, m in enumerate(messages)
        if m.type in STEP_TYPES
    ]
    user = owner.removeprefix(user_owner(""))
    return ThreadDict(
        id=thread_id,
        createdAt=created,
        name=name,
        userId=user,
        userIdentifier=user,
        tags=None,
        metadata={},
        steps=steps,  # type: ignore[typeddict-item]
        elements=[],
    )


class HistoryDataLayer(FeedbackDataLayer):
    """Ratings in ``feedback.jsonl`` and, for signed-in users, their past threads.

    Args:
        data_dir: Where ``feedback.jsonl`` is written.
        graph: Gives the chat graph compiled with the store's checkpointer.
    """

    def __init__(self, data_dir: Path, graph: Callable[[], Awaitable[Any]]) -> None:
        super().__init__(data_dir)
        self._graph = graph

    async def get_user(self, identifier: str) -> PersistedUser:
        """Users are who they sign in as; nothing more is stored about them."""
        return PersistedUser(id=identifier, identifier=identifier, createdAt=now_iso())

    async def create_user(self, user: User) -> PersistedUser:
        """See :meth:`get_user`."""
        return await self.get_user(user.identifier)

    async def _latest(self, thread_id: str) -> Any:
        graph = await self._graph()
        return await graph.checkpointer.aget_tuple({"configurable": {"thread_id": thread_id}})

    async def get_thread_author(self, thread_id: str) -> str:
        """Who started the thread (Chainlit lets only them reopen or delete it)."""
        latest = await self._latest(thread_id)
        owner = str((latest.metadata if latest else {}).get(THREAD_OWNER, ""))
        return owner.removeprefix(user_owner(""))

    async def list_threads(
        self, pagination: Pagination, filters: ThreadFilter
    ) -> PaginatedResponse[ThreadDict]:
        """The signed-in user's threads, newest first (one page of ``pagination.first``)."""
        if not filters.userId:
            return _page([])
        graph = await self._graph()
        owner = user_owner(filters.userId)
        summaries = await owner_threads(graph.checkpointer, owner)
        if filters.search:
            summaries = [s for s in summaries if filters.search.lower() in s.name.lower()]
        threads = [thread_dict(s.thread_id, owner, s.name, [], s.updated) for s in summaries]
        return _page(threads[: pagination.first])

    async def get_thread(self, thread_id: str) -> ThreadDict | None:
        """A past thread with its questions and answers, or None when it holds none."""
        latest = await self._latest(thread_id)
        if latest is None:
            return None
        messages = latest.checkpoint.get("channel_values", {}).get("messages") or []
        owner = str(latest.metadata.get(THREAD_OWNER, ""))
        created = latest.checkpoint["ts"]
        return thread_dict(thread_id, owner, first_question(messages), messages, created)

    async def delete_thread(self, thread_id: str) -> None:
        """Forget a thread in the store."""
        graph = await self._graph()
        await graph.checkpointer.adelete_thread(thread_id)


def _page(threads: list[ThreadDict]) -> PaginatedResponse[ThreadDict]:
    return PaginatedResponse(
        pageInfo=PageInfo(hasNextPage=False, startCursor=None, endCursor=None), data=threads
    )
