"""Periodic runs and the cross-process run lock (Agent S's clock)."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

log = logging.getLogger(__name__)


class RunInProgress(RuntimeError):
    """Another pipeline run holds the lock on this data dir."""


@contextmanager
def run_lock(data_dir: Path) -> Iterator[None]:
    """Hold the data dir's pipeline lock, or raise :class:`RunInProgress` at once."""
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(data_dir / ".pipeline.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise RunInProgress(f"another run holds {data_dir / '.pipeline.lock'}") from None
    try:
        yield
    finally:
        lock.release()


def run_periodically(
    job: Callable[[], int], interval_hours: float | None = None, cron: str | None = None
) -> None:
    """Run ``job`` now and then every ``interval_hours`` or on ``cron``, until SIGTERM/SIGINT.

    A failed run is logged and the schedule goes on; runs never overlap; on SIGTERM the
    current run finishes before the process exits.
    """
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    def guarded() -> None:
        try:
            status = job()
            log.info("scheduled run finished with status %s", status)
        except Exception:
            log.exception("scheduled run failed; the schedule goes on")

    trigger = CronTrigger.from_crontab(cron) if cron else IntervalTrigger(hours=interval_hours)
    scheduler = BlockingScheduler()
    scheduler.add_job(guarded, trigger, max_instances=1, coalesce=True)

    def stop(signum: int, _frame: object) -> None:
        log.info("signal %s: finishing the current run, then stopping", signum)
        scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    guarded()
    scheduler.start()
