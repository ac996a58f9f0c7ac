"""Thread memory of the chat graph: the checkpointer that the config's ``store`` names.

An empty ``store.database_url`` keeps threads in ``<data_dir>/checkpoints.sqlite`` (one
machine; several processes share the file). A PostgreSQL URL uses LangGraph's own Postgres
checkpointer, so every server worker and machine reads and continues any thread. The API and
the UI open the async saver on their event loop; the CLI opens the sync one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from psycopg import AsyncConnection, Connection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from tools.config import StoreSettings
from tools.datadir import DataDir

CONNECTION_KWARGS: dict[str, Any] = {
    "autocommit": True,
    "prepare_threshold": 0,
    "row_factory": dict_row,
}
"""What LangGraph's Postgres savers expect of their connections."""
SETUP_LOCK = 15_000_002
"""Advisory lock key: one process runs the checkpointer's migrations at a time."""


def describe(store: StoreSettings, data_dir: Path) -> str:
    """Where threads live, for the log (the URL without its password)."""
    if not store.database_url:
        return str(DataDir(data_dir).checkpoints)
    scheme, _, rest = store.database_url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}"


@asynccontextmanager
async def open_async_checkpointer(
    store: StoreSettings, data_dir: Path
) -> AsyncIterator[BaseCheckpointSaver]:
    """The async saver for a server or UI process (a connection pool for PostgreSQL).

    Args:
        store: The config's ``store`` section.
        data_dir: Holds ``checkpoints.sqlite`` when no database is configured.
    """
    if not store.database_url:
        data_dir.mkdir(parents=True, exist_ok=True)
        async with AsyncSqliteSaver.from_conn_string(str(DataDir(data_dir).checkpoints)) as saver:
            yield saver
        return
    async with await AsyncConnection.connect(store.database_url, **CONNECTION_KWARGS) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (SETUP_LOCK,))
        await AsyncPostgresSaver(conn).setup()  # idempotent; the lock ends with the connection
    pool = AsyncConnectionPool(
        store.database_url, max_size=store.pool_size, kwargs=CONNECTION_KWARGS, open=False
    )
    async with pool:
        yield AsyncPostgresSaver(pool)


@contextmanager
def open_checkpointer(store: StoreSettings, data_dir: Path) -> Iterator[BaseCheckpointSaver]:
    """The sync saver for one-thread callers (the CLI's chat); arguments as the async one."""
    if not store.database_url:
        with SqliteSaver.from_conn_string(str(DataDir(data_dir).checkpoints)) as saver:
            yield saver
        return
    with Connection.connect(store.database_url, **CONNECTION_KWARGS) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (SETUP_LOCK,))
        saver = PostgresSaver(conn)
        saver.setup()
        conn.execute("SELECT pg_advisory_unlock(%s)", (SETUP_LOCK,))
        yield saver
