"""A minimal Chainlit data layer that stores only 👍/👎 ratings, in ``feedback.jsonl``.

Chainlit shows its feedback buttons only when a data layer is configured and sends each
rating to ``upsert_feedback`` with the id of the rated run. The app registers every answered
turn here (:meth:`FeedbackDataLayer.remember`) so a rating can be written with its question,
answer, sources and thread. Threads, steps and elements are not persisted (thread memory
lives in the graph's checkpointer).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from pathlib import Path
from typing import Any

from chainlit.data.base import BaseDataLayer
from chainlit.types import Feedback, PageInfo, PaginatedResponse, Pagination, ThreadFilter

from tools.feedback import delete_feedback, make_row, save_feedback


class FeedbackDataLayer(BaseDataLayer):
    """Writes ratings through :mod:`tools.feedback`; everything else is a no-op.

    Args:
        data_dir: Where ``feedback.jsonl`` is written.
        max_turns: How many recent turns can still be rated.
    """

    def __init__(self, data_dir: Path, max_turns: int = 2000) -> None:
        self.data_dir = data_dir
        self.max_turns = max_turns
        self._turns: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def remember(
        self,
        run_id: str,
        *,
        thread_id: str,
        question: str,
        answer: str,
        sources: list[dict[str, Any]],
        error: bool,
    ) -> None:
        """Keep what a rating of run ``run_id`` must record."""
        self._turns[run_id] = {
            "thread_id": thread_id,
            "question": question,
            "answer": answer,
            "sources": sources,
            "error": error,
        }
        while len(self._turns) > self.max_turns:
            self._turns.popitem(last=False)

    async def upsert_feedback(self, feedback: Feedback) -> str:
        """Write (or rewrite, when the vote changed) the rating of a remembered turn.

        Raises:
            LookupError: The rated run is unknown (answered before a restart, or too old).
        """
        turn = self._turns.get(feedback.forId)
        if turn is None:
            raise LookupError(f"answer {feedback.forId} is no longer known; ask again to rate")
        row = make_row(
            **turn, rating="up" if feedback.value == 1 else "down", feedback_id=feedback.id
        )
        await asyncio.to_thread(save_feedback, self.data_dir, row)
        return row["id"]

    async def delete_feedback(self, feedback_id: str) -> bool:
        """Remove a retracted rating."""
        return await asyncio.to_thread(delete_feedback, self.data_dir, feedback_id)

    async def get_user(self, identifier: str) -> None:
        """No users are stored."""
        return None

    async def create_user(self, user: Any) -> None:
        """No users are stored."""
        return None

    async def create_element(self, element: Any) -> None:
        """Elements are not persisted."""

    async def get_element(self, thread_id: str, element_id: str) -> None:
        """Elements are not persisted."""
        return None

    async def delete_element(self, element_id: str, thread_id: str | None = None) -> None:
        """Elements are not persisted."""

    async def create_step(self, step_dict: Any) -> None:
        """Steps are not persisted."""

    async def update_step(self, step_dict: Any) -> None:
        """Steps are not persisted."""

    async def delete_step(self, step_id: str) -> None:
        """Steps are not persisted."""

    async def get_thread_author(self, thread_id: str) -> str:
        """Threads have no stored author."""
        return ""

    async def delete_thread(self, thread_id: str) -> None:
        """Threads are not persisted here."""

    async def list_threads(
        self, pagination: Pagination, filters: ThreadFilter
    ) -> PaginatedResponse[Any]:
        """No stored threads."""
        return PaginatedResponse(
            pageInfo=PageInfo(hasNextPage=False, startCursor=None, endCursor=None), data=[]
        )

    async def get_thread(self, thread_id: str) -> None:
        """No stored threads."""
        return None

    async def update_thread(self, thread_id: str, **kwargs: Any) -> None:
        """Threads are not persisted here."""

    async def build_debug_url(self) -> str:
        """No debug UI."""
        return ""

    async def close(self) -> None:
        """Nothing to close."""

    async def get_favorite_steps(self, user_id: str) -> list[Any]:
        """No favorites."""
        return []
