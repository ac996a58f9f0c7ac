"""Per-run configuration of the graphs (LangGraph ``context_schema``).

LangGraph 1.x fills ``runtime.context`` from ``context=`` and from ``langgraph dev``; values
sent as ``config["configurable"]`` (plain Python, LangServe) do not reach it, so
:func:`get_context` reads one and falls back to the other.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig

from tools.config import DEFAULT_CONFIG, Settings, load_settings


@dataclass(kw_only=True)
class Context:
    """Settings a caller may set per run.

    Attributes:
        data_dir: Where artifacts are read and written (default ``$DATA_ALCHEMY_DATA_DIR`` or
            ``data``).
        config_file: The models.yaml to use (default ``$DATA_ALCHEMY_CONFIG`` or the project's).
        top_k: Chat: number of facts to retrieve (default from config).
        use_lora: Chat: ask the adapter for its intuition (default from config).
        filters: Chat: retrieval filters such as ``{"source": "jira", "project": "ALOY"}``.
        allow_source_overrides: Whether a pipeline request may name its own source paths
            (the CLI may; the API server may not, so callers cannot ingest server files).
    """

    data_dir: str = ""
    config_file: str = ""
    top_k: int | None = None
    use_lora: bool | None = None
    filters: dict[str, Any] | None = None
    allow_source_overrides: bool = True

    @property
    def data_path(self) -> Path:
        """The resolved data folder."""
        return Path(self.data_dir or os.environ.get("DATA_ALCHEMY_DATA_DIR") or "data").resolve()

    @property
    def config_path(self) -> str:
        """The config file in use."""
        return self.config_file or os.environ.get("DATA_ALCHEMY_CONFIG") or str(DEFAULT_CONFIG)

    @property
    def config_stamp(self) -> float:
        """Modification time of the config file, so caches notice edits (0 when missing)."""
        path = Path(self.config_path)
        return path.stat().st_mtime if path.exists() else 0.0

    @property
    def settings(self) -> Settings:
        """The validated config (cached per file and mtime) with this run's chat overrides."""
        settings = _load_cached(self.config_path, self.config_stamp)
        overrides = {
            k: v for k, v in (("top_k", self.top_k), ("use_lora", self.use_lora)) if v is not None
        }
        if not overrides:
            return settings
        return settings.model_copy(update={"chat": settings.chat.model_copy(update=overrides)})


@lru_cache(maxsize=8)
def _load_cached(path: str, _stamp: float) -> Settings:
    return load_settings(path)


def get_context(runtime: Any = None, config: RunnableConfig | None = None) -> Context:
    """Merge ``runtime.context`` and ``config["configurable"]`` into one :class:`Context`."""
    names = {f.name for f in fields(Context)}
    values: dict[str, Any] = {}
    configurable = (config or {}).get("configurable") or {}
    values.update({k: v for k, v in configurable.items() if k in names and v is not None})
    context = getattr(runtime, "context", None)
    if isinstance(context, Context):
        defaults = vars(Context())
        values.update({k: v for k, v in vars(context).items() if v != defaults[k]})
    elif isinstance(context, dict):
        values.update({k: v for k, v in context.items() if k in names and v is not None})
    return Context(**values)
