"""Agent S's clock: the cross-process run lock, graceful stops and periodic runs.

- :func:`run_lock` lets one pipeline run at a time work on a data dir, across processes.
- :func:`stop_on_signals` turns the first SIGTERM/SIGINT into a *stop request*: the stage
  that is running finishes (artifacts are replaced atomically, so it never leaves half a
  file), later stages do not start (``tools.planning.run_if_changed`` checks
  :func:`stop_reason`), and the run is recorded as ``interrupted``. A second signal
  terminates at once.
- :func:`run_periodically` runs a job now and then on an APScheduler trigger, one run at a
  time, logging each; a failed run is logged and the schedule goes on; a stop request
  ends the schedule after the current run.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from tools.datadir import DataDir

log = logging.getLogger(__name__)

_STOP = threading.Event()
_STOP_REASON: list[str] = []
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_POLL_S = 1.0


class RunInProgress(RuntimeError):
    """Another pipeline run holds the lock on this data dir."""


@contextmanager
def run_lock(data_dir: Path) -> Iterator[None]:
    """Hold the data dir's pipeline lock, or raise :class:`RunInProgress` at once."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = DataDir(data_dir).run_lock
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise RunInProgress(f"another run holds {path}") from None
    try:
        yield
    finally:
        lock.release()


def request_stop(reason: str) -> None:
    """Ask this process's pipeline runs (and schedule) to stop before their next stage."""
    if not _STOP.is_set():
        _STOP_REASON[:] = [reason]
        _STOP.set()


def stop_reason() -> str | None:
    """Why a stop was asked for, or None when none was."""
    return _STOP_REASON[0] if _STOP.is_set() else None


def _on_signal(signum: int, _frame: Any) -> None:
    name = signal.Signals(signum).name
    if _STOP.is_set():
        log.warning("%s again: stopping now", name)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    request_stop(f"{name} received")
    log.warning("%s: the running stage finishes, then the run stops (send again to abort)", name)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGTERM/SIGINT request a graceful stop instead of killing.

    Signal handlers can only be set from the main thread; elsewhere the block only clears
    and scopes the stop request. The previous handlers come back on exit.
    """
    _STOP.clear()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, _on_signal) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _STOP.clear()


def make_trigger(interval_hours: float | None = None, cron: str | None = None) -> Any:
    """The APScheduler trigger for ``--interval HOURS`` or ``--cron "m h dom mon dow"``.

    Raises:
        ValueError: Neither or both are given, the interval is not positive, or the cron
            expression is invalid (the message says which).
    """
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    if (interval_hours is None) == (cron is None):
        raise ValueError("give either --interval HOURS or --cron EXPR")
    if cron is not None:
        try:
            return CronTrigger.from_crontab(cron)
        except ValueError as exc:
            raise ValueError(f"invalid --cron {cron!r}: {exc}") from None
    if not interval_hours or interval_hours <= 0:
        raise ValueError(f"--interval must be a positive number of hours, got {interval_hours}")
    return IntervalTrigger(hours=interval_hours)


def run_periodically(job: Callable[[], int], trigger: Any) -> int:
    """Run ``job`` now and then on ``trigger`` until SIGTERM/SIGINT or :func:`request_stop`.

    Runs never overlap (one worker, one instance; runs that fall due while one is going
    are merged into one). A job that raises is logged and the schedule goes on. On a stop
    request no new run starts and the call returns once the current run has finished
    (which stops before its next stage).

    Args:
        job: One run; returns its exit status (0 when it succeeded).
        trigger: An APScheduler trigger, e.g. from :func:`make_trigger`.

    Returns:
        How many runs were started.
    """
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler

    started = [0]

    def guarded() -> None:
        if stop_reason():
            return
        started[0] += 1
        number = started[0]
        log.info("scheduled run %d: starting", number)
        try:
            log.info("scheduled run %d: finished with exit status %s", number, job())
        except Exception:
            log.exception("scheduled run %d raised; the schedule goes on", number)
        scheduled = scheduler.get_job("full-cycle")
        if scheduled is not None and not stop_reason():
            log.info("next run at %s", scheduled.next_run_time)

    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(max_workers=1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
    )
    with stop_on_signals():
        scheduler.add_job(
            guarded, trigger, id="full-cycle", name="full cycle", next_run_time=datetime.now(UTC)
        )
        scheduler.start()
        log.info("scheduler started (%s); SIGTERM stops it after the current run", trigger)
        try:
            # Short waits bring the main thread back to the interpreter, where the
            # SIGTERM/SIGINT handlers that set _STOP run.
            while not _STOP.wait(_POLL_S):
                continue
            log.info("stopping the scheduler: %s", stop_reason())
        finally:
            scheduler.shutdown(wait=True)
    log.info("scheduler stopped after %d run(s)", started[0])
    return started[0]
