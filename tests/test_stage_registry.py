"""The stage registry: a new stage is one registration, and everything else follows it."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli import build_parser
from graph.configuration import Context
from graph.pipeline import build_pipeline_graph
from tools import stages
from tools.datadir import DataDir
from tools.files import file_digest
from tools.report import StageReport
from tools.runs import read_runs
from tools.stages import Stage, StageRequest, register


def _count_inputs(settings, data: DataDir, request: StageRequest) -> list:
    return [file_digest(data.root / "words.txt")]


def _count_words(settings, data: DataDir, request: StageRequest) -> StageReport:
    report = StageReport("count")
    words = (data.root / "words.txt").read_text(encoding="utf-8").split()
    report.items_in = report.items_out = len(words)
    (data.root / "count.txt").write_text(str(len(words)), encoding="utf-8")
    return report.finish()


@pytest.fixture
def toy_stage(monkeypatch: pytest.MonkeyPatch) -> Stage:
    """A word-count stage registered after the real ones, for this test only."""
    monkeypatch.setattr(stages, "REGISTRY", dict(stages.REGISTRY))
    return register(Stage("count", "S", None, _count_inputs, (), _count_words))


def test_a_registered_stage_is_planned_run_recorded_and_skipped_when_unchanged(
    toy_stage: Stage, tmp_path: Path
) -> None:
    (tmp_path / "words.txt").write_text("one two three", encoding="utf-8")
    graph = build_pipeline_graph()
    context = Context(data_dir=str(tmp_path))

    first = graph.invoke({"stages": ["count"]}, context=context)
    assert list(first["plan"]) == ["wash", "refine", "index", "train", "count"]
    assert first["plan"]["count"]["run"] and first["plan"]["wash"]["reason"] == "not requested"
    assert first["reports"]["count"]["status"] == "ok" and first["reports"]["count"]["out"] == 3
    assert (tmp_path / "count.txt").read_text() == "3"

    second = graph.invoke({"stages": ["count"]}, context=context)
    assert second["reports"]["count"]["status"] == "skipped"
    (tmp_path / "words.txt").write_text("one two three four", encoding="utf-8")
    third = graph.invoke({"stages": ["count"]}, context=context)
    assert third["reports"]["count"]["out"] == 4
    assert [run["stages"]["count"]["status"] for run in read_runs(tmp_path)] == [
        "ok",
        "skipped",
        "ok",
    ]


def test_the_cli_offers_a_registered_stage(toy_stage: Stage) -> None:
    args = build_parser().parse_args(["ingest", "--stage", "count"])
    assert args.stage == "count"


def test_registration_checks_upstream_and_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stages, "REGISTRY", dict(stages.REGISTRY))
    with pytest.raises(ValueError, match="unknown upstream"):
        register(Stage("late", "S", "nowhere", _count_inputs, (), _count_words))
    with pytest.raises(ValueError, match="outputs not in DataDir"):
        register(Stage("late", "S", None, _count_inputs, ("words_txt",), _count_words))
    with pytest.raises(ValueError, match="already registered"):
        register(Stage("wash", "A", None, _count_inputs, (), _count_words))


def test_every_stage_output_is_a_data_dir_artifact() -> None:
    for stage in stages.REGISTRY.values():
        for name in stage.outputs:
            assert isinstance(getattr(DataDir(Path("d")), name), Path), (stage.name, name)
