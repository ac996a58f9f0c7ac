"""Local inference: reloaded adapters, stopping at EOS, stop strings, the per-process cache."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from peft import PeftModel

from tests.test_lora_train import ALL_LINEAR, smoke_settings, torch_threads, write_sft
from tools.jsonl import write_json
from tools.lora import registry, rollback
from tools.lora.base import BaseModelError, load_base
from tools.lora.data import collate, encode_prompt, encode_rows, read_splits
from tools.lora.device import resolve_device
from tools.lora.infer import get_intuition, stop_all
from tools.lora.train import evaluate, make_lora_model, run_train, train_loop
from tools.report import StageReport

MEMORIZE = {"r": 16, "alpha": 32, "dropout": 0.0, "target_modules": ALL_LINEAR}


@pytest.fixture(autouse=True)
def _one_torch_thread():
    with torch_threads(1):
        yield


def test_saved_and_reloaded_adapter_gives_identical_logits(corpus_dir, tmp_path):
    write_sft(corpus_dir, tmp_path, 12, 4)
    settings = smoke_settings(epochs=2)
    cpu = resolve_device("cpu")
    base, tok = load_base("smoke-test:tiny-llama", settings, tmp_path, cpu)
    rows = read_splits(tmp_path, StageReport(stage="train"))
    train = encode_rows(tok, rows.train, 256)
    model = make_lora_model(base, settings.model_c.lora, seed=7)
    train_loop(model, train, settings.model_c.training, cpu, tok.pad_token_id)
    batch = collate(train[:4], tok.pad_token_id)
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    with torch.no_grad():
        trained = model(**inputs).logits
    model.save_pretrained(tmp_path / "saved")

    fresh, _ = load_base("smoke-test:tiny-llama", settings, tmp_path, cpu)
    with torch.no_grad():
        assert not torch.equal(fresh(**inputs).logits, trained)  # the adapter changed something
        reloaded = PeftModel.from_pretrained(fresh, tmp_path / "saved").eval()
        assert torch.equal(reloaded(**inputs).logits, trained)


def test_intuition_stops_at_eos_follows_current_and_reloads(corpus_dir, tmp_path):
    settings = smoke_settings(MEMORIZE, epochs=150, learning_rate=1e-2)
    assert get_intuition(settings, tmp_path) is None  # nothing promoted yet

    pairs = write_sft(corpus_dir, tmp_path, 4, 0)
    # memorizing is the goal here, so the eval set is the training set
    (tmp_path / "sft_eval.jsonl").write_bytes((tmp_path / "sft_train.jsonl").read_bytes())
    weak = run_train(smoke_settings(MEMORIZE, epochs=5, learning_rate=1e-2), tmp_path)
    assert weak.status == "ok" and registry.current_version(tmp_path) == "v0001"
    first = get_intuition(settings, tmp_path)
    assert first.version == "v0001" and get_intuition(settings, tmp_path) is first

    report = run_train(settings, tmp_path)
    assert report.counters["promoted"] == 1, report.reason
    intuition = get_intuition(settings, tmp_path)
    assert intuition is not first and intuition.version == "v0002"
    manifest = registry.read_manifest(tmp_path, "v0002")
    rows = read_splits(tmp_path, StageReport(stage="train"))
    evals = encode_rows(intuition.tokenizer, rows.eval, 256)
    loss = evaluate(intuition.model, evals, 4, intuition.tokenizer.pad_token_id, intuition.device)
    assert round(loss, 6) == manifest["metrics"]["after"]["eval_loss"]

    eos = intuition.tokenizer.eos_token_id
    for row in pairs:
        question, answer = row["messages"][1]["content"], row["messages"][2]["content"]
        done = intuition.complete(question, max_new_tokens=200)
        assert done.finish_reason == "eos" and done.token_ids[-1] == eos
        assert len(done.token_ids) < 200
        assert done.text == answer
        assert intuition.generate(question, max_new_tokens=200) == answer

    question, answer = pairs[0]["messages"][1]["content"], pairs[0]["messages"][2]["content"]
    cut = intuition.complete(question, stop=[" is "])
    assert cut.finish_reason == "stop" and cut.text == answer.split(" is ")[0]
    short = intuition.complete(question, max_new_tokens=3)
    assert short.finish_reason == "length" and len(short.token_ids) == 3
    sampled = intuition.complete(question, max_new_tokens=20, temperature=0.8)
    assert sampled.finish_reason in {"eos", "length"} and len(sampled.token_ids) <= 20

    assert rollback(tmp_path).status == "ok"
    assert get_intuition(settings, tmp_path).version == "v0001"


def test_unloadable_base_of_current_adapter_is_a_clear_error(corpus_dir, tmp_path):
    manifest = {"base_model": str(tmp_path / "gone"), "metrics": {"after": {"eval_loss": 1.0}}}
    write_json(tmp_path / "adapters" / "v0001" / "manifest.json", manifest)
    (tmp_path / "adapters" / "current").write_text("v0001\n")
    with pytest.raises(BaseModelError, match="gone"):
        get_intuition(smoke_settings(), tmp_path)


def test_a_huge_question_is_cut_to_the_context_and_generation_has_a_time_budget(
    corpus_dir, tmp_path
):
    write_sft(corpus_dir, tmp_path, 4, 0)
    assert run_train(smoke_settings(epochs=1), tmp_path).status == "ok"
    intuition = get_intuition(smoke_settings(epochs=1), tmp_path)
    context = intuition.model.config.max_position_embeddings

    huge = "Why does the daemon not start? " * 30_000  # about 0.9 MB, as in the abuse sweep
    clipped = intuition.clip(huge, max_new_tokens=16)
    prompt = len(encode_prompt(intuition.tokenizer, intuition.messages(clipped)))
    assert prompt + 16 <= context < len(intuition.tokenizer(huge)["input_ids"])
    done = intuition.complete(huge, max_new_tokens=16)
    assert len(done.token_ids) <= 16

    endless = intuition.complete("Tell me everything.", max_new_tokens=50_000, max_seconds=0.5)
    assert endless.finish_reason in {"length", "eos"} and len(endless.token_ids) < 50_000


def test_shutdown_ends_a_running_generation_at_its_next_token(corpus_dir, tmp_path):
    write_sft(corpus_dir, tmp_path, 4, 0)
    assert run_train(smoke_settings(epochs=1), tmp_path).status == "ok"
    intuition = get_intuition(smoke_settings(epochs=1), tmp_path)
    done: list = []
    worker = threading.Thread(
        target=lambda: done.append(
            intuition.complete("Tell me everything.", 50_000, 0.0, None, 120)
        )
    )
    worker.start()
    stop_all()
    worker.join(timeout=60)
    assert not worker.is_alive() and done[0].finish_reason in {"stopped", "eos"}
    after = intuition.complete("And more?", max_new_tokens=500)
    assert after.finish_reason == "stopped" and len(after.token_ids) <= 1
    assert get_intuition(smoke_settings(epochs=1), tmp_path) is not intuition  # unloaded


def test_concurrent_questions_are_answered_in_one_batched_generation(corpus_dir, tmp_path):
    write_sft(corpus_dir, tmp_path, 4, 0)
    assert run_train(smoke_settings(epochs=1), tmp_path).status == "ok"
    intuition = get_intuition(smoke_settings(epochs=1), tmp_path)
    questions = ["Why?", "How do I stop the daemon?", "What does appcd status print out today?"]
    alone = [intuition.complete(q, max_new_tokens=12) for q in questions]  # batches of one
    calls: list[int] = []
    generate = intuition.model.generate

    def counted(**kwargs):
        calls.append(kwargs["input_ids"].shape[0])
        time.sleep(0.2)  # a slow model: the other questions queue meanwhile
        return generate(**kwargs)

    intuition.model.generate = counted
    with ThreadPoolExecutor(len(questions)) as pool:
        together = list(pool.map(lambda q: intuition.complete(q, max_new_tokens=12), questions))
    assert sum(calls) == len(questions) and len(calls) < len(questions) and max(calls) > 1
    assert [c.text for c in together] == [c.text for c in alone]  # left padding changes nothing
    assert [c.finish_reason for c in together] == [c.finish_reason for c in alone]


def test_intuition_is_asked_only_when_worth_it(corpus_dir, tmp_path):
    from graph.configuration import Context
    from nodes.trainer import intuition
    from tools.lora import infer
    from tools.lora.infer import skip_reason

    assert skip_reason("auto", tmp_path) == "no adapter"
    write_sft(corpus_dir, tmp_path, 8, 2)
    assert run_train(smoke_settings(epochs=1), tmp_path).status == "ok"
    assert skip_reason(False, tmp_path) == "off"
    assert skip_reason(True, tmp_path) is None
    assert "smoke-test base" in skip_reason("auto", tmp_path)

    manifest = registry.read_manifest(tmp_path, "v0001")
    real = {**manifest, "base_model": "smollm2-135m-instruct"}
    write_json(tmp_path / "adapters" / "v0001" / "manifest.json", real)
    assert skip_reason("auto", tmp_path) is None  # a real base, eval loss improved
    real["metrics"]["after"]["eval_loss"] = real["metrics"]["before"]["eval_loss"]
    write_json(tmp_path / "adapters" / "v0001" / "manifest.json", real)
    assert "did not beat its base" in skip_reason("auto", tmp_path)

    class Runtime:
        context = Context(data_dir=str(tmp_path), use_lora=True)

    state = {"standalone_question": "Why?", "facts": []}
    infer._cache.clear()
    result = intuition(state, {}, Runtime())
    assert result["intuition"] is None and "no relevant facts" in result["intuition_status"]
    assert not infer._cache  # nothing was loaded, nothing generated
