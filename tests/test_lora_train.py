"""LoRA training on the smoke-test base with SFT pairs made from real ALOY Jira issues."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tools.config import BaseModelSettings, LoraSettings, Settings, TrainingSettings
from tools.lora import registry
from tools.lora.data import (
    IGNORE_INDEX,
    encode_example,
    encode_prompt,
    ensure_pad_token,
    read_splits,
    render_prompt,
)
from tools.lora.smoke_base import build_smoke_base
from tools.lora.train import run_train
from tools.report import StageReport

SYSTEM = "You answer questions about the Alloy project."
ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
_FIRST_SENTENCE = re.compile(r"([A-Z][^\n{}\[\]|*#]{20,160}?[.!?])(\s|$)")


def jira_pairs(corpus_dir: Path, count: int, offset: int = 0) -> list[dict]:
    """SFT rows from real ALOY issues: question = summary, answer = first description sentence."""
    rows = []
    files = sorted(
        (corpus_dir / "jira" / "ALOY").glob("ALOY-*.json"), key=lambda p: int(p.stem[5:])
    )
    for path in files:
        issue = json.loads(path.read_text(encoding="utf-8"))
        match = _FIRST_SENTENCE.match((issue["fields"].get("description") or "").strip())
        if not match:
            continue
        rows.append(
            {
                "messages": [
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": issue["fields"]["summary"].strip()},
                    {"role": "assistant", "content": match.group(1)},
                ],
                "source_ids": [f"jira:{issue['key']}"],
                "kind": "qa",
            }
        )
        if len(rows) == offset + count:
            break
    return rows[offset:]


def write_sft(corpus_dir: Path, data_dir: Path, n_train: int, n_eval: int) -> list[dict]:
    """Write ``sft_train.jsonl`` and ``sft_eval.jsonl``; return the training rows."""
    rows = jira_pairs(corpus_dir, n_train + n_eval)
    data_dir.mkdir(parents=True, exist_ok=True)
    for name, part in (("sft_train.jsonl", rows[:n_train]), ("sft_eval.jsonl", rows[n_train:])):
        (data_dir / name).write_text("".join(json.dumps(r) + "\n" for r in part), "utf-8")
    return rows[:n_train]


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run torch on ``count`` threads: the tiny model's ops are too small to share between
    threads, and on a busy 2-core machine two threads ran training ~17x slower than one."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    with torch_threads(1):
        yield


def smoke_settings(lora: dict | None = None, **training) -> Settings:
    """Settings for the smoke-test base (tiny batches, CPU, fp32, one thread)."""
    defaults = {"epochs": 3, "learning_rate": 5e-3, "batch_size": 4, "max_length": 256}
    return Settings(
        model_c=BaseModelSettings(
            base_model="smoke-test:tiny-llama",
            device="cpu",
            precision="fp32",
            threads=1,
            lora=LoraSettings(**(lora or {})),
            training=TrainingSettings(**(defaults | training)),
        )
    )


@pytest.fixture(scope="module")
def smoke_tokenizer(tmp_path_factory):
    from transformers import AutoTokenizer

    folder = build_smoke_base(tmp_path_factory.mktemp("base") / "smoke")
    return AutoTokenizer.from_pretrained(folder)


def test_smoke_base_is_deterministic_with_distinct_special_tokens(tmp_path, smoke_tokenizer):
    first = build_smoke_base(tmp_path / "a")
    second = build_smoke_base(tmp_path / "b")
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    tok = smoke_tokenizer
    ids = {tok.bos_token_id, tok.eos_token_id, tok.pad_token_id, tok.unk_token_id}
    assert None not in ids and len(ids) == 4
    assert tok.chat_template
    assert not ensure_pad_token(tok)


def test_prompt_tokens_carry_ignore_label_and_eos_is_learned(corpus_dir, smoke_tokenizer):
    tok = smoke_tokenizer
    row = jira_pairs(corpus_dir, 1)[0]["messages"]
    example = encode_example(tok, row, max_length=256)
    prompt = encode_prompt(tok, row[:-1])
    assert example.input_ids[: len(prompt)] == prompt
    assert example.labels[: len(prompt)] == [IGNORE_INDEX] * len(prompt)
    assert IGNORE_INDEX not in example.labels[len(prompt) :]
    assert example.labels[-1] == example.input_ids[-1] == tok.eos_token_id
    assert tok.decode(example.labels[len(prompt) : -1]) == row[-1]["content"]
    assert tok.pad_token_id != tok.eos_token_id
    assert render_prompt(tok, row[:-1]).endswith("<|assistant|>\n")

    short = encode_example(tok, row, max_length=24)
    assert short.truncated and len(short.input_ids) == 24
    assert tok.eos_token_id not in short.labels


def test_fallback_template_and_added_pad_token(smoke_tokenizer):
    tok = smoke_tokenizer.__class__.from_pretrained(smoke_tokenizer.name_or_path)
    tok.chat_template = None
    tok.pad_token = tok.eos_token
    tok.unk_token = tok.eos_token
    before = len(tok)
    assert ensure_pad_token(tok)
    assert len(tok) == before + 1 and tok.pad_token_id != tok.eos_token_id
    text = render_prompt(tok, [{"role": "user", "content": "Why?"}])
    assert text == "<s><|user|>\nWhy?\n<|assistant|>\n"


def test_bad_rows_are_skipped_with_reasons(corpus_dir, tmp_path):
    good = jira_pairs(corpus_dir, 3)
    bad_role = {"messages": [{"role": "bot", "content": "x"}, good[0]["messages"][2]]}
    no_answer = {"messages": good[0]["messages"][:2]}
    lines = [json.dumps(good[0]).encode(), b"{not json", json.dumps(bad_role).encode()]
    lines += [json.dumps(no_answer).encode(), b'{"messages": "\xff"}', json.dumps(good[1]).encode()]
    (tmp_path / "sft_train.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    (tmp_path / "sft_eval.jsonl").write_text(json.dumps(good[2]) + "\n", "utf-8")
    report = StageReport(stage="train")
    rows = read_splits(tmp_path, report)
    assert [item for item, _ in rows.train] == ["sft_train.jsonl:1", "sft_train.jsonl:6"]
    assert [item for item, _ in rows.eval] == ["sft_eval.jsonl:1"]
    reasons = {s["item"]: s["reason"] for s in report.skipped}
    assert reasons["sft_train.jsonl:2"].startswith("malformed JSON")
    assert "role" in reasons["sft_train.jsonl:3"]
    assert "assistant" in reasons["sft_train.jsonl:4"]
    assert "UTF-8" in reasons["sft_train.jsonl:5"]
    assert rows.system_prompt == SYSTEM


def test_no_training_data_is_skipped(tmp_path):
    report = run_train(smoke_settings(), tmp_path)
    assert report.status == "skipped" and "no training data" in report.reason


def test_missing_eval_file_holds_out_every_tenth_row(corpus_dir, tmp_path):
    write_sft(corpus_dir, tmp_path, 20, 0)
    (tmp_path / "sft_eval.jsonl").unlink()
    report = run_train(smoke_settings(epochs=1), tmp_path)
    assert report.status == "ok", report.reason
    assert report.counters["train_examples"] == 18 and report.counters["eval_examples"] == 2
    data = registry.read_manifest(tmp_path, "v0001")["data"]
    assert data["eval_source"] == "held out from sft_train.jsonl (every 10th row)"


def test_unloadable_base_model_is_a_clear_error(corpus_dir, tmp_path):
    write_sft(corpus_dir, tmp_path, 6, 2)
    settings = smoke_settings()
    settings.model_c.base_model = str(tmp_path / "no-such-model")
    report = run_train(settings, tmp_path)
    assert report.status == "failed"
    assert "no-such-model" in report.reason and "model_c.base_model" in report.reason
    assert not (tmp_path / "models").exists()
    assert registry.current_version(tmp_path) is None


def test_training_lowers_eval_loss_then_identical_data_is_skipped(corpus_dir, tmp_path):
    write_sft(corpus_dir, tmp_path, 40, 10)
    report = run_train(smoke_settings(), tmp_path)
    assert report.status == "ok", report.reason
    assert report.counters["promoted"] == 1 and report.counters["train_examples"] == 40
    manifest = registry.read_manifest(tmp_path, "v0001")
    assert manifest["metrics"]["after"]["eval_loss"] < manifest["metrics"]["before"]["eval_loss"]
    assert manifest["base_model"] == "smoke-test:tiny-llama"
    assert manifest["hyperparameters"]["lora"]["target_modules"] == ["q_proj", "v_proj"]
    assert manifest["data"]["train_target_tokens"] > 0 and manifest["device"]["kind"] == "cpu"
    folder = tmp_path / "adapters" / "v0001"
    assert (folder / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (folder / "adapter_model.safetensors").is_file()
    assert not (folder / "checkpoints").exists() and not (folder / "run.json").exists()
    assert registry.current_version(tmp_path) == "v0001"

    again = run_train(smoke_settings(), tmp_path)
    assert again.status == "skipped"
    assert again.reason == "data identical to current adapter (v0001)"


def test_interrupted_run_resumes_and_matches_an_uninterrupted_one(corpus_dir, tmp_path):
    settings = smoke_settings(epochs=2, batch_size=4, grad_accum=2)  # 20 rows: 6 steps
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    for folder in (whole, broken):
        write_sft(corpus_dir, folder, 20, 4)
    assert run_train(settings, whole).status == "ok"

    def crash(step: int) -> None:
        if step == 3:
            raise RuntimeError("power cut")

    failed = run_train(settings, broken, checkpoint_every=2, on_step=crash)
    assert failed.status == "failed" and "power cut" in failed.reason
    assert registry.current_version(broken) is None
    assert [p.name for p in (broken / "adapters/v0001/checkpoints").iterdir()] == [
        "step-0000002.pt"
    ]

    resumed = run_train(settings, broken, checkpoint_every=2)
    assert resumed.status == "ok", resumed.reason
    assert resumed.counters["resumed_from_step"] == 2 and resumed.counters["steps"] == 6
    a = load_file(whole / "adapters/v0001/adapter_model.safetensors")
    b = load_file(broken / "adapters/v0001/adapter_model.safetensors")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    curve = registry.read_manifest(whole, "v0001")["training"]["loss_curve"]
    assert registry.read_manifest(broken, "v0001")["training"]["loss_curve"] == curve


def test_answer_only_logits_give_the_full_model_loss(corpus_dir, tmp_path):
    from tools.lora.base import load_base
    from tools.lora.data import collate, encode_rows
    from tools.lora.device import resolve_device
    from tools.lora.train import _loss_sum, make_lora_model, planned_steps

    cpu = resolve_device("cpu", precision="fp32")
    base, tok = load_base("smoke-test:tiny-llama", smoke_settings(), tmp_path, cpu)
    model = make_lora_model(base, LoraSettings(), seed=3)
    examples = encode_rows(tok, [("r", row["messages"]) for row in jira_pairs(corpus_dir, 4)], 256)
    batch = collate(examples, tok.pad_token_id)
    summed, count = _loss_sum(model, batch, cpu)
    full = model(**batch).loss  # every position's logits, prompt included
    assert count == sum(e.target_tokens for e in examples)
    assert torch.allclose(summed / count, full, rtol=1e-5)

    capped = TrainingSettings(epochs=2, batch_size=4, max_steps=3)
    assert planned_steps(40, capped) == 3 and planned_steps(4, capped) == 2
