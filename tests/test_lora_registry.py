"""Adapter versions: promotion only when better on the same eval set, rollback, pointers."""

from __future__ import annotations

import json

import pytest

from tests.test_lora_train import smoke_settings, torch_threads, write_sft
from tools.jsonl import read_json, write_json
from tools.lora import registry, rollback
from tools.lora.train import run_train


@pytest.fixture(autouse=True)
def _one_torch_thread():
    with torch_threads(1):
        yield


def test_worse_adapter_is_not_promoted_and_rollback_restores(corpus_dir, tmp_path):
    write_sft(corpus_dir, tmp_path, 30, 8)
    first = run_train(smoke_settings(epochs=1, learning_rate=2e-3), tmp_path)
    assert first.status == "ok" and first.counters["promoted"] == 1

    better = run_train(smoke_settings(epochs=4, learning_rate=5e-3), tmp_path)
    assert better.status == "ok" and better.counters["promoted"] == 1, better.reason
    assert "beats v0001's" in better.reason and "on the same eval set" in better.reason
    assert registry.current_version(tmp_path) == "v0002"

    worse = run_train(smoke_settings(epochs=1, learning_rate=1e-5), tmp_path)
    assert worse.status == "ok" and worse.counters["promoted"] == 0
    assert "not promoted: eval loss" in worse.reason and "does not beat v0002's" in worse.reason
    assert registry.current_version(tmp_path) == "v0002"
    events = read_json(tmp_path / "adapters" / "registry.json")["events"]
    assert [(e["action"], e["version"]) for e in events] == [
        ("promote", "v0001"),
        ("promote", "v0002"),
        ("keep", "v0003"),
    ]
    kept = events[-1]
    assert kept["previous_loss"] <= kept["eval_loss"]

    assert [v["version"] for v in registry.list_versions(tmp_path)] == ["v0001", "v0002", "v0003"]
    back = rollback(tmp_path)
    assert back.status == "ok" and back.reason == "rolled back from v0002 to v0001"
    assert registry.current_version(tmp_path) == "v0001"
    again = rollback(tmp_path)
    assert again.status == "failed" and "nothing to roll back to" in again.reason
    assert registry.current_version(tmp_path) == "v0001"

    skipped = run_train(smoke_settings(epochs=4, learning_rate=5e-3), tmp_path)
    assert skipped.status == "skipped"
    assert skipped.reason == "data identical to adapter v0002 (not current; current is v0001)"


def _fake_version(data_dir, name, loss, base="smoke-test:tiny-llama@r1"):
    """A finished version folder as training writes it (manifest only)."""
    manifest = {"base_identity": base, "data_hash": name, "metrics": {"after": {"eval_loss": loss}}}
    write_json(data_dir / "adapters" / name / "manifest.json", manifest)


def test_promotion_rules_without_training(tmp_path):
    _fake_version(tmp_path, "v0001", 2.0)
    assert registry.promote_if_better(tmp_path, "v0001", lambda v: 9.9).promoted
    _fake_version(tmp_path, "v0002", 1.5)
    seen = []
    decision = registry.promote_if_better(tmp_path, "v0002", lambda v: seen.append(v) or 1.5)
    assert seen == ["v0001"] and not decision.promoted  # a tie is not better
    _fake_version(tmp_path, "v0003", 1.9, base="other/model")
    decision = registry.promote_if_better(tmp_path, "v0003", lambda v: 0.1)
    assert decision.promoted and "base model changed" in decision.reason
    _fake_version(tmp_path, "v0004", float("nan"))
    assert not registry.promote_if_better(tmp_path, "v0004", lambda v: 5.0).promoted


def test_current_pointer_is_the_source_of_truth(tmp_path):
    for name in ("v0001", "v0002"):
        _fake_version(tmp_path, name, 1.0)
    adapters = tmp_path / "adapters"
    # a crash after registry.json was written but before `current` was replaced
    (adapters / "registry.json").write_text(json.dumps({"promoted": ["v0001", "v0002"]}))
    (adapters / "current").write_text("v0001\n")
    assert registry.current_version(tmp_path) == "v0001"
    assert rollback(tmp_path).status == "failed"

    (adapters / "current").write_text("v0009\n")  # names a version that is gone
    assert registry.current_version(tmp_path) is None

    (adapters / "v0003").mkdir()
    write_json(adapters / "v0003" / "run.json", {"data_hash": "abc"})
    assert registry.find_unfinished(tmp_path, "abc") == "v0003"
    assert registry.find_unfinished(tmp_path, "other") is None
    assert "v0003" not in [v["version"] for v in registry.list_versions(tmp_path)]
    assert registry.new_version(tmp_path) == "v0004"
