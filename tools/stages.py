"""The stage registry: every pipeline stage declared once.

A :class:`Stage` says what it is called, which stage feeds it, what its output depends on
(the parts of its fingerprint), which artifacts it writes and how it runs. Planning, the
pipeline graph's nodes and edges, the state's stage names, the CLI's choices and the run
records all derive from :data:`REGISTRY`; adding a stage is one :func:`register` call plus
the module that does its work (``docs/architecture.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from tools.config import Settings, SourcesSettings
from tools.datadir import DataDir
from tools.files import file_digest
from tools.report import StageReport


@dataclass(frozen=True)
class StageRequest:
    """What one pipeline run asks of its stages (the request part of the pipeline state)."""

    stages: tuple[str, ...] = ()
    """Stages asked for (empty: all)."""
    mode: str = "python"
    """Wash engine: ``python`` or ``spark``."""
    synthesis: bool = False
    """Run the stages that synthesize SFT data (refine)."""
    max_samples: int | None = None
    """Cap on new LLM calls in refine."""
    sources: SourcesSettings | None = None
    """Source overrides (CLI ``--jira/--git/--docs``)."""
    force: bool = False
    """Run the requested stages even when their inputs did not change."""
    rebuild: bool = False
    """Rebuild the index from scratch."""
    force_cpu: bool = False
    """Train on the CPU even when an accelerator is present."""

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> StageRequest:
        """The request from a pipeline state or any mapping with the same keys."""
        names = {f.name for f in fields(cls)}
        given = {k: v for k, v in values.items() if k in names and v is not None}
        if "stages" in given:
            given["stages"] = tuple(given["stages"])
        sources = given.pop("sources", None) or {}
        if isinstance(sources, SourcesSettings):
            given["sources"] = sources
        elif any(sources.values()):
            given["sources"] = SourcesSettings(**sources)
        return cls(**given)


Inputs = Callable[[Settings, DataDir, StageRequest], list[Any]]
Run = Callable[[Settings, DataDir, StageRequest], StageReport]


@dataclass(frozen=True)
class Stage:
    """One pipeline stage.

    Attributes:
        name: The stage's name in plans, reports, run records and the CLI.
        agent: The agent that owns it (``A`` cleaner, ``B`` trainer, ``C`` knowledge keeper).
        upstream: The stage whose output it reads; when that runs, this one runs too.
        inputs: Everything its output depends on; their hash is its fingerprint.
        outputs: The :class:`DataDir` artifacts it writes.
        run: Does the work and reports it; never called when the inputs are unchanged.
        synthesis: Runs only when the request asks for synthesis (or for this stage alone).
        forced_by: A :class:`StageRequest` flag that makes it run whatever changed.
    """

    name: str
    agent: str
    upstream: str | None
    inputs: Inputs
    outputs: tuple[str, ...]
    run: Run
    synthesis: bool = False
    forced_by: str | None = None

    def forced(self, request: StageRequest) -> bool:
        """Whether ``request`` sets the flag that makes this stage run whatever changed."""
        return bool(self.forced_by and getattr(request, self.forced_by))


REGISTRY: dict[str, Stage] = {}
"""The registered stages, in pipeline order."""


def register(stage: Stage) -> Stage:
    """Add ``stage`` after the registered ones; its upstream must already be registered."""
    if stage.name in REGISTRY:
        raise ValueError(f"stage {stage.name!r} is already registered")
    if stage.upstream is not None and stage.upstream not in REGISTRY:
        raise ValueError(f"stage {stage.name!r}: unknown upstream {stage.upstream!r}")
    unknown = [n for n in stage.outputs if not isinstance(getattr(DataDir, n, None), property)]
    if unknown:
        raise ValueError(f"stage {stage.name!r}: outputs not in DataDir: {unknown}")
    REGISTRY[stage.name] = stage
    return stage


def stage_names() -> tuple[str, ...]:
    """The registered stage names, in pipeline order."""
    return tuple(REGISTRY)


def get_stage(name: str) -> Stage:
    """The registered stage ``name``, or a ValueError listing the known ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown stage {name!r}; expected one of {stage_names()}") from None


# --- the four stages ----------------------------------------------------------------------


def _wash_inputs(settings: Settings, data: DataDir, request: StageRequest) -> list[Any]:
    from tools.cleaning.version import code_version, loader_version
    from tools.loaders import source_fingerprint

    return [
        source_fingerprint(request.sources or settings.sources, settings),
        settings.wash.model_dump(exclude={"spark_master"}),
        settings.model_b.model,
        code_version(),
        loader_version(),
    ]


def _run_wash(settings: Settings, data: DataDir, request: StageRequest) -> StageReport:
    from tools.wash import run_wash

    return run_wash(settings, data.root, mode=request.mode, sources=request.sources)


def _refine_inputs(settings: Settings, data: DataDir, request: StageRequest) -> list[Any]:
    return [
        file_digest(data.cleaned_corpus),
        file_digest(data.feedback),
        file_digest(data.rag_chunks),
        settings.model_a.model_dump(exclude={"api_key", "timeout", "concurrency"}),
    ]


def _run_refine(settings: Settings, data: DataDir, request: StageRequest) -> StageReport:
    from tools.index.search import raft_search
    from tools.synthesis.refine import run_refine

    return run_refine(
        settings,
        data.root,
        max_samples=request.max_samples,
        retriever=raft_search(settings, data.root),
    )


def _index_inputs(settings: Settings, data: DataDir, request: StageRequest) -> list[Any]:
    from tools.index.fields import indexed_text_version

    return [
        file_digest(data.rag_chunks),
        settings.model_b.model_dump(),
        settings.index.model_dump(),
        indexed_text_version(),
    ]


def _run_index(settings: Settings, data: DataDir, request: StageRequest) -> StageReport:
    from tools.index.build import run_index

    return run_index(settings, data.root, rebuild=request.rebuild)


def _train_inputs(settings: Settings, data: DataDir, request: StageRequest) -> list[Any]:
    return [
        file_digest(data.sft_train),
        file_digest(data.sft_eval),
        settings.model_c.model_dump(),
    ]


def _run_train(settings: Settings, data: DataDir, request: StageRequest) -> StageReport:
    from tools.lora import run_train

    return run_train(settings, data.root, force_cpu=request.force_cpu)


register(Stage("wash", "A", None, _wash_inputs, ("cleaned_corpus", "rag_chunks"), _run_wash))
register(Stage("refine", "A", "wash", _refine_inputs, ("sft_train", "sft_eval"), _run_refine, True))
register(Stage("index", "C", "wash", _index_inputs, ("index",), _run_index, forced_by="rebuild"))
register(Stage("train", "B", "refine", _train_inputs, ("adapters",), _run_train))
