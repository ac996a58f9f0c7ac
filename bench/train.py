"""Training throughput: our LoRA loop against a plain PEFT + Hugging Face Trainer loop.

Both train the same LoRA layers (same seed) on the same tokenized SFT examples (question =
summary, answer = first description sentence of real ALOY Jira issues, or the data dir's
own ``sft_train.jsonl``) with the same batch size, learning rate, schedule and clipping,
in this one process. Printed: tokens/s (non-pad tokens), the ratio, peak memory (RSS rise
above the phase's start, or ``torch.cuda.max_memory_allocated`` on a GPU) and the eval
loss each reached.

    .venv/bin/python bench/train.py --corpus DIR    # smoke base + a 256-wide random Llama
    .venv/bin/python bench/train.py --corpus DIR --sizes 64x2 --examples 512 --threads 1
    .venv/bin/python bench/train.py --corpus tests/data/corpus --examples 64 --epochs 8 \
        --sizes 2048x22x32x4x32000                  # TinyLlama-1.1B's shape, on a GPU
    .venv/bin/python bench/train.py --corpus DIR --base-model smollm2-135m-instruct --examples 64
    .venv/bin/python bench/train.py --data-dir data --base-model TinyLlama/TinyLlama-1.1B-Chat-v1.0

A packaged base (``smollm2-135m-instruct``) is converted once into ``--models-from``'s data
dir (default ``data``) and reused from there. ``--precision`` is ``model_c.precision``: on a
CPU with AVX-512 BF16 ``auto`` runs both trainers in bf16 autocast over a bf16 base.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import os
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from corpus_arg import add_corpus_argument  # noqa: E402
from transformers import (  # noqa: E402
    DataCollatorForSeq2Seq,
    PrinterCallback,
    Trainer,
    TrainingArguments,
)
from transformers import logging as hf_logging  # noqa: E402

from tests.test_lora_train import jira_pairs  # noqa: E402
from tools.config import Settings, TrainingSettings  # noqa: E402
from tools.lora.base import load_base  # noqa: E402
from tools.lora.data import Example, encode_rows, read_splits  # noqa: E402
from tools.lora.device import DeviceInfo, resolve_device  # noqa: E402
from tools.lora.smoke_base import build_smoke_base  # noqa: E402
from tools.lora.train import (  # noqa: E402
    WARMUP_FRACTION,
    evaluate,
    make_lora_model,
    planned_steps,
    train_loop,
)
from tools.report import StageReport  # noqa: E402


class PeakRSS:
    """Peak resident memory above the level at start, sampled by a thread every 5 ms."""

    def __init__(self) -> None:
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.start = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> int:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * self.page

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def rise_mib(self) -> float:
        return (self.peak - self.start) / 2**20


def release_freed_memory() -> None:
    """Collect garbage and hand freed heap back to the OS, so the phase that runs second
    does not look smaller only because it reuses what the first one freed."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def measure(device: DeviceInfo, work: Callable[[], None]) -> tuple[float, float]:
    """Run ``work``; return (seconds, peak memory MiB: GPU allocated, or RSS rise)."""
    release_freed_memory()
    if device.device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    with PeakRSS() as rss:
        start = time.perf_counter()
        work()
        if device.device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    if device.device.type == "cuda":
        return seconds, torch.cuda.max_memory_allocated() / 2**20
    return seconds, rss.rise_mib


def hf_trainer_run(
    model: torch.nn.Module,
    tokenizer,
    examples: list[Example],
    training: TrainingSettings,
    device: DeviceInfo,
    total_steps: int,
) -> None:
    """The baseline: a plain PEFT model under ``transformers.Trainer``."""
    rows = [{"input_ids": e.input_ids, "labels": e.labels} for e in examples]
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out,
            per_device_train_batch_size=training.batch_size,
            gradient_accumulation_steps=training.grad_accum,
            num_train_epochs=training.epochs,
            learning_rate=training.learning_rate,
            lr_scheduler_type="linear",
            warmup_steps=int(total_steps * WARMUP_FRACTION),
            weight_decay=0.0,
            max_grad_norm=1.0,
            seed=training.seed,
            bf16=device.autocast == torch.bfloat16,
            fp16=device.autocast == torch.float16,
            use_cpu=device.device.type == "cpu",
            save_strategy="no",
            logging_strategy="no",
            report_to="none",
            disable_tqdm=True,
            dataloader_num_workers=0,
        )
        collator = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100)
        trainer = Trainer(model=model, args=args, train_dataset=rows, data_collator=collator)
        trainer.remove_callback(PrinterCallback)
        trainer.train()


def bench_one(
    base_model: str, settings: Settings, data_dir: Path, models_from: Path, device: DeviceInfo
) -> dict:
    """Both trainers on one base model; returns the figures."""
    training = settings.model_c.training
    started = time.perf_counter()
    _, tokenizer = load_base(base_model, settings, models_from, device)
    load_seconds = time.perf_counter() - started
    rows = read_splits(data_dir, StageReport(stage="train"))
    train = encode_rows(tokenizer, rows.train, training.max_length)
    evals = encode_rows(tokenizer, rows.eval, training.max_length)
    tokens = round(sum(len(e.input_ids) for e in train) * training.epochs)
    total_steps = planned_steps(len(train), training)
    pad = tokenizer.pad_token_id

    def fresh_model() -> torch.nn.Module:
        base, _ = load_base(base_model, settings, models_from, device)
        return make_lora_model(base, settings.model_c.lora, training.seed)

    # first-call costs (kernels, allocator, imports) land outside the timings
    few = train[: training.batch_size * 2]
    train_loop(fresh_model(), few, training, device, pad)
    hf_trainer_run(fresh_model(), tokenizer, few, training, device, 2)

    results = {}
    ours = fresh_model()
    results["ours"] = measure(device, partial(train_loop, ours, train, training, device, pad))
    ours_loss = evaluate(ours, evals, training.batch_size, pad, device)
    del ours
    plain = fresh_model()
    results["hf_trainer"] = measure(
        device, partial(hf_trainer_run, plain, tokenizer, train, training, device, total_steps)
    )
    plain_loss = evaluate(plain, evals, training.batch_size, pad, device)
    params = sum(p.numel() for p in plain.parameters())
    del plain
    return {
        "base_model": base_model,
        "first_load_s": round(load_seconds, 2),
        "parameters": params,
        "train_examples": len(train),
        "tokens": tokens,
        "ours": {
            "seconds": round(results["ours"][0], 3),
            "tokens_per_s": round(tokens / results["ours"][0], 1),
            "peak_mib": round(results["ours"][1], 1),
            "eval_loss": round(ours_loss, 4),
        },
        "hf_trainer": {
            "seconds": round(results["hf_trainer"][0], 3),
            "tokens_per_s": round(tokens / results["hf_trainer"][0], 1),
            "peak_mib": round(results["hf_trainer"][1], 1),
            "eval_loss": round(plain_loss, 4),
        },
        "speedup": round(results["hf_trainer"][0] / results["ours"][0], 2),
    }


def _shape(size: str) -> dict[str, int]:
    """``build_smoke_base`` sizes of ``HIDDENxLAYERS[xHEADSxKV_HEADS[xVOCAB]]``."""
    names = ("hidden_size", "num_layers", "num_heads", "num_kv_heads", "vocab_size")
    values = [int(x) for x in size.split("x")]
    if len(values) not in (2, 4, 5):
        raise SystemExit(f"--sizes: {size!r} is not HIDDENxLAYERS[xHEADSxKV_HEADS[xVOCAB]]")
    return dict(zip(names, values, strict=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-model", action="append", help="HF id or path (repeatable)")
    parser.add_argument(
        "--sizes",
        default="64x2,256x4",
        help="random Llamas: HIDDENxLAYERS[xHEADSxKV_HEADS[xVOCAB]],... "
        "(2048x22x32x4x32000: TinyLlama-1.1B's shape)",
    )
    parser.add_argument("--data-dir", type=Path, help="use its sft_train/sft_eval.jsonl")
    parser.add_argument("--examples", type=int, default=256, help="ALOY pairs to train on")
    parser.add_argument("--epochs", type=float, default=1)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--grad-accum", type=int, default=1)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument(
        "--models-from", type=Path, default=ROOT / "data", help="data dir caching bases"
    )
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_corpus_argument(parser, required=False)
    args = parser.parse_args()
    if not (args.data_dir or args.corpus):
        parser.error("give --corpus DIR (or DATA_ALCHEMY_CORPUS) or --data-dir DIR")
    hf_logging.set_verbosity_error()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device, precision=args.precision)
    settings = Settings()
    settings.model_c.training = TrainingSettings(
        epochs=args.epochs,
        learning_rate=5e-4,
        batch_size=args.batch_size,
        grad_accum=args.grad_accum,
        max_length=args.max_length,
        seed=42,
    )
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data_dir = args.data_dir or work
        if args.data_dir is None:
            rows = jira_pairs(args.corpus, args.examples + args.examples // 8)
            for name, part in (
                ("sft_train.jsonl", rows[: args.examples]),
                ("sft_eval.jsonl", rows[args.examples :]),
            ):
                (work / name).write_text("".join(json.dumps(r) + "\n" for r in part), "utf-8")
        bases = list(args.base_model or [])
        if not args.base_model:
            for size in filter(None, args.sizes.split(",")):
                folder = build_smoke_base(work / f"random-llama-{size}", **_shape(size))
                bases.append(str(folder))
        runs = [bench_one(base, settings, data_dir, args.models_from, device) for base in bases]
    summary = {
        "device": device.to_dict(),
        "threads": torch.get_num_threads(),
        "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "runs": runs,
    }
    if args.json:
        print(json.dumps(summary))
        return
    print(f"device {device.kind} ({device.name}), torch threads {summary['threads']}")
    header = (
        f"{'base':<28} {'params':>9} {'trainer':<11} {'tokens/s':>10} {'peak MiB':>9} {'eval':>7}"
    )
    print(header)
    for run in runs:
        name = Path(run["base_model"]).name[:28]
        print(f"{name:<28} first load {run['first_load_s']:.1f} s")
        for key in ("ours", "hf_trainer"):
            r = run[key]
            print(
                f"{name:<28} {run['parameters']:>9,} {key:<11} {r['tokens_per_s']:>10,.0f} "
                f"{r['peak_mib']:>9.1f} {r['eval_loss']:>7.3f}"
            )
        print(f"{'':<28} ratio ours / HF Trainer tokens/s = {run['speedup']:.2f}x")
    print(f"process max RSS {summary['max_rss_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
