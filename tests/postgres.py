"""A throwaway PostgreSQL server for tests: Debian's ``postgresql`` package, a fresh cluster.

``initdb`` refuses to run as root, so as root the cluster belongs to the ``postgres`` user
(``runuser``). The server listens on 127.0.0.1 at a free port and on a socket in its own
folder; it is stopped and removed at the end.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.test_langgraph_dev import free_port

SUPERUSER = "da"


def _bin_dir() -> Path:
    """The newest installed PostgreSQL's programs (``scripts/setup.sh`` installs one)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run `make setup` (apt-get postgresql)")
    return Path(found[-1]).parent


@dataclass(frozen=True)
class PostgresServer:
    """A running throwaway server; :meth:`database` makes a fresh database on it."""

    port: int

    def url(self, database: str = "postgres") -> str:
        """The connection URL of ``database``."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def database(self, name: str) -> str:
        """Create an empty database ``name`` and return its URL."""
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Start a fresh cluster; stop it and delete its files afterwards."""
    bin_dir = _bin_dir()
    root = Path(tempfile.mkdtemp(prefix="da-pg-"))
    as_owner: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", free_port()

    def run(*args: str) -> None:
        subprocess.run([*as_owner, *args], check=True, capture_output=True, timeout=120)

    run(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", SUPERUSER)
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "log")]
    run(*pg_ctl, "-o", options, "-w", "start")
    try:
        yield PostgresServer(port)
    finally:
        run(*pg_ctl, "-m", "fast", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)
