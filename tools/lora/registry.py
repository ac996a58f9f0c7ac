"""Adapter versions under ``<data_dir>/adapters/``: list, promote when better, roll back.

Layout::

    adapters/v0001/         one training run: PEFT adapter, manifest.json, loss.png
    adapters/current        the promoted version's name, one line, replaced atomically
    adapters/registry.json  {"promoted": [oldest .. current], "events": [...]}

A version is finished once its ``manifest.json`` exists (written last); an unfinished one
holds ``run.json`` and checkpoints, and a rerun on the same data resumes it. ``current``
is the source of truth: ``registry.json`` is written first, so a crash between the two
writes leaves the old version current and the stack is cut back to it when next read.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock

from tools.datadir import DataDir
from tools.jsonl import atomic_open, read_json, write_json
from tools.report import StageReport

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
RUN_STATE = "run.json"
_VERSION = re.compile(r"^v(\d{4,})$")


@dataclass(frozen=True)
class Decision:
    """Whether a new version became current, and why."""

    promoted: bool
    reason: str
    previous: str | None = None
    previous_loss: float | None = None


def adapters_dir(data_dir: Path) -> Path:
    """``<data_dir>/adapters``."""
    return DataDir(data_dir).adapters


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _lock(data_dir: Path) -> FileLock:
    folder = adapters_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(folder / ".registry.lock")


def read_manifest(data_dir: Path, version: str) -> dict[str, Any] | None:
    """A finished version's manifest, or None when it is unfinished or absent."""
    return read_json(adapters_dir(data_dir) / version / MANIFEST)


def _version_names(data_dir: Path) -> list[str]:
    folder = adapters_dir(data_dir)
    if not folder.is_dir():
        return []
    names = [p.name for p in folder.iterdir() if p.is_dir() and _VERSION.match(p.name)]
    return sorted(names, key=lambda name: int(name[1:]))


def current_version(data_dir: Path) -> str | None:
    """The promoted version, or None when there is none (or its folder is gone)."""
    try:
        name = (adapters_dir(data_dir) / "current").read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    if name and read_manifest(data_dir, name) is not None:
        return name
    log.warning("adapters/current names %r, which is not a finished version; ignoring it", name)
    return None


def list_versions(data_dir: Path) -> list[dict[str, Any]]:
    """Finished versions, oldest first, with their key facts and whether each is current."""
    current = current_version(data_dir)
    rows = []
    for name in _version_names(data_dir):
        manifest = read_manifest(data_dir, name)
        if manifest is None:
            continue
        rows.append(
            {
                "version": name,
                "current": name == current,
                "base_model": manifest.get("base_model"),
                "data_hash": manifest.get("data_hash"),
                "eval_loss": manifest.get("metrics", {}).get("after", {}).get("eval_loss"),
                "created": manifest.get("created"),
            }
        )
    return rows


def find_finished(data_dir: Path, data_hash: str) -> str | None:
    """The newest finished version trained on ``data_hash``, if any."""
    matches = [row["version"] for row in list_versions(data_dir) if row["data_hash"] == data_hash]
    return matches[-1] if matches else None


def find_unfinished(data_dir: Path, data_hash: str) -> str | None:
    """The newest interrupted version trained on ``data_hash``, which can be resumed."""
    for name in reversed(_version_names(data_dir)):
        folder = adapters_dir(data_dir) / name
        state = read_json(folder / RUN_STATE)
        if state and state.get("data_hash") == data_hash and not (folder / MANIFEST).exists():
            return name
    return None


def new_version(data_dir: Path) -> str:
    """Create and return the next version folder's name (``v0001``, ``v0002``, ...)."""
    names = _version_names(data_dir)
    number = int(names[-1][1:]) + 1 if names else 1
    while True:
        name = f"v{number:04d}"
        try:
            (adapters_dir(data_dir) / name).mkdir(parents=True)
            return name
        except FileExistsError:
            number += 1


def _load_stack(data_dir: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """The promotion stack (cut back to ``current``) and the event log."""
    state = read_json(adapters_dir(data_dir) / "registry.json", default={}) or {}
    stack = list(state.get("promoted", []))
    events = list(state.get("events", []))
    current = current_version(data_dir)
    if current is None:
        return [], events
    return (stack[: stack.index(current) + 1] if current in stack else [current]), events


def _save(data_dir: Path, stack: list[str], events: list[dict[str, Any]]) -> None:
    folder = adapters_dir(data_dir)
    write_json(folder / "registry.json", {"promoted": stack, "events": events})
    with atomic_open(folder / "current") as handle:
        handle.write((stack[-1] if stack else "") + "\n")


def _record(events: list[dict[str, Any]], action: str, version: str, **facts: Any) -> None:
    events.append({"at": _now(), "action": action, "version": version, **facts})


def promote_if_better(
    data_dir: Path, version: str, evaluate_current: Callable[[str], float]
) -> Decision:
    """Make ``version`` current only if its eval loss beats the current adapter's.

    Args:
        data_dir: The data folder.
        version: A finished version whose manifest holds ``metrics.after.eval_loss``.
        evaluate_current: Returns the current version's eval loss on the *new* eval set,
            so both losses are measured on the same data.

    Returns:
        The decision and its reason (also appended to ``registry.json``'s events).
    """
    manifest = read_manifest(data_dir, version)
    if manifest is None:
        raise ValueError(f"adapter version {version!r} is not finished (no {MANIFEST})")
    new_loss = float(manifest["metrics"]["after"]["eval_loss"])
    with _lock(data_dir):
        stack, events = _load_stack(data_dir)
        current = stack[-1] if stack else None
        decision = _decide(data_dir, manifest, new_loss, current, evaluate_current)
        _record(
            events,
            "promote" if decision.promoted else "keep",
            version,
            previous=current,
            eval_loss=new_loss,
            previous_loss=decision.previous_loss,
            reason=decision.reason,
        )
        _save(data_dir, [*stack, version] if decision.promoted else stack, events)
    log.info("adapter %s: %s", version, decision.reason)
    return decision


def _decide(
    data_dir: Path,
    manifest: dict[str, Any],
    new_loss: float,
    current: str | None,
    evaluate_current: Callable[[str], float],
) -> Decision:
    if not math.isfinite(new_loss):
        return Decision(False, f"eval loss {new_loss} is not finite", current)
    if current is None:
        return Decision(True, f"first adapter (eval loss {new_loss:.4f})")
    current_base = (read_manifest(data_dir, current) or {}).get("base_identity")
    if current_base != manifest.get("base_identity"):
        return Decision(
            True, f"base model changed ({current} was trained on {current_base})", current
        )
    try:
        old_loss = float(evaluate_current(current))
    except Exception as exc:
        reason = f"current adapter {current} could not be evaluated ({exc})"
        return Decision(True, reason, current)
    same = f"{current}'s {old_loss:.4f} on the same eval set"
    if new_loss < old_loss:
        return Decision(True, f"eval loss {new_loss:.4f} beats {same}", current, old_loss)
    return Decision(False, f"eval loss {new_loss:.4f} does not beat {same}", current, old_loss)


def rollback(data_dir: Path) -> StageReport:
    """Make the previously promoted version current again.

    Returns:
        A ``train`` report: ``ok`` with the versions in its reason, or ``failed`` when no
        earlier promoted version exists.
    """
    report = StageReport(stage="train")
    with _lock(data_dir):
        stack, events = _load_stack(data_dir)
        while len(stack) > 1 and read_manifest(data_dir, stack[-2]) is None:
            del stack[-2]
        if len(stack) < 2:
            report.reason = "nothing to roll back to: no earlier promoted adapter version"
            return report.finish("failed")
        left, back_to = stack[-1], stack[-2]
        report.reason = f"rolled back from {left} to {back_to}"
        _record(events, "rollback", back_to, previous=left, reason=report.reason)
        _save(data_dir, stack[:-1], events)
    report.items_out = 1
    log.info("adapters: %s", report.reason)
    return report.finish()
