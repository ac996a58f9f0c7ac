"""Train a LoRA adapter version with PEFT: the pipeline's ``train`` stage.

A compact loop of our own (no ``Trainer``): length-bucketed batches, loss on answer tokens
only (summed over the tokens of an optimizer step, so gradient accumulation weighs every
token equally), AdamW with linear warm-up and decay, gradient clipping, autocast where the
device supports half precision. Checkpoints (adapter, optimizer, scheduler, RNG state) go
into the version folder; a rerun on the same data resumes from the last one and ends with
the same weights as an uninterrupted run.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from filelock import FileLock
from peft import (
    LoraConfig,
    PeftModel,
    TaskType,
    get_peft_model,
    get_peft_model_state_dict,
    set_peft_model_state_dict,
)
from transformers import (
    PreTrainedModel,
    PreTrainedTokenizerBase,
    get_linear_schedule_with_warmup,
)

from tools.config import LoraSettings, Settings, TrainingSettings
from tools.jsonl import read_json, write_json
from tools.lora import registry
from tools.lora.base import BaseModelError, base_identity, load_base
from tools.lora.data import (
    IGNORE_INDEX,
    Example,
    SFTRows,
    bucket_batches,
    collate,
    data_hash,
    encode_rows,
    read_splits,
)
from tools.lora.device import DeviceInfo, resolve_device, set_cpu_threads
from tools.progress import progress
from tools.report import StageReport

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
KEEP_CHECKPOINTS = 2
WARMUP_FRACTION = 0.03
MAX_GRAD_NORM = 1.0


@dataclass
class LoopResult:
    """What a training loop did (cumulative over resumed runs).

    Attributes:
        steps: Optimizer steps done.
        losses: Mean loss per answer token of each optimizer step.
        tokens: Non-pad tokens processed (prompt and answer).
        seconds: Wall time spent in the loop.
        resumed_from: The checkpoint step this process started from (0: fresh).
    """

    steps: int = 0
    losses: list[float] = field(default_factory=list)
    tokens: int = 0
    seconds: float = 0.0
    resumed_from: int = 0

    @property
    def tokens_per_second(self) -> float:
        """Training throughput over the whole run."""
        return self.tokens / self.seconds if self.seconds else 0.0


def make_lora_model(base: PreTrainedModel, lora: LoraSettings, seed: int) -> PeftModel:
    """Wrap the frozen base with fresh LoRA layers (seeded, so reruns start alike).

    Raises:
        ValueError: ``target_modules`` names no layer of the base model.
    """
    torch.manual_seed(seed)
    config = LoraConfig(
        task_type=TaskType.CAUSAL_LM,
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=list(lora.target_modules),
    )
    return get_peft_model(base, config)


def _loss_sum(
    model: torch.nn.Module, batch: dict[str, torch.Tensor], device: DeviceInfo
) -> tuple[torch.Tensor, int]:
    """Summed cross-entropy over answer tokens, and how many there were.

    The decoder runs on every token, but the output head only on the positions that
    predict an answer token: prompt positions never get their (vocabulary-wide) logits,
    which for a 49k-token vocabulary cost as much as the rest of the model.
    """
    batch = {name: tensor.to(device.device) for name, tensor in batch.items()}
    causal_lm = model.get_base_model() if isinstance(model, PeftModel) else model
    labels = batch["labels"][:, 1:]
    keep = labels != IGNORE_INDEX
    with torch.autocast(
        device_type=device.device.type,
        dtype=device.autocast or torch.float32,
        enabled=device.autocast is not None,
    ):
        hidden = causal_lm.get_decoder()(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False
        ).last_hidden_state
        logits = causal_lm.get_output_embeddings()(hidden[:, :-1][keep])
    loss = F.cross_entropy(logits.float(), labels[keep], reduction="sum")
    return loss, int(keep.sum())


def planned_steps(examples: int, training: TrainingSettings) -> int:
    """Optimizer steps of a run on ``examples`` examples (``max_steps`` caps them)."""
    per_epoch = math.ceil(math.ceil(examples / training.batch_size) / training.grad_accum)
    total = max(1, math.ceil(training.epochs * per_epoch))
    return min(total, training.max_steps) if training.max_steps else total


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    examples: list[Example],
    batch_size: int,
    pad_id: int,
    device: DeviceInfo,
) -> float:
    """Mean loss per answer token over ``examples`` (NaN when there are none)."""
    model.eval()
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].input_ids))
    total, count = 0.0, 0
    for start in range(0, len(order), batch_size):
        batch = collate([examples[i] for i in order[start : start + batch_size]], pad_id)
        loss, n = _loss_sum(model, batch, device)
        total += loss.item()
        count += n
    return total / count if count else math.nan


def perplexity(loss: float) -> float:
    """``exp(loss)``, capped so that a diverged loss still serializes."""
    return math.exp(min(loss, 700.0))


class Checkpoints:
    """Step checkpoints in one folder: save atomically, keep the last few, load the newest."""

    def __init__(self, folder: Path, every: int) -> None:
        self.folder = folder
        self.every = every

    def latest(self) -> Path | None:
        """The newest checkpoint file, or None."""
        found = sorted(self.folder.glob("step-*.pt"))
        return found[-1] if found else None

    def save(self, state: dict[str, Any]) -> None:
        """Write ``state`` as ``step-N.pt`` atomically and drop all but the newest few."""
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / f"step-{state['step']:07d}.pt"
        tmp = target.with_suffix(".pt.tmp")
        torch.save(state, tmp)
        os.replace(tmp, target)
        for old in sorted(self.folder.glob("step-*.pt"))[:-KEEP_CHECKPOINTS]:
            old.unlink()


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def train_loop(
    model: PeftModel,
    examples: list[Example],
    training: TrainingSettings,
    device: DeviceInfo,
    pad_id: int,
    *,
    checkpoints: Checkpoints | None = None,
    on_step: Callable[[int], None] | None = None,
) -> LoopResult:
    """Train the LoRA parameters of ``model`` on ``examples``.

    Args:
        model: A PEFT model on ``device``.
        examples: Tokenized training examples.
        training: Epochs (may be fractional), learning rate, batch size, accumulation, seed.
        device: Device and autocast dtype.
        pad_id: Pad token id.
        checkpoints: Where to save and resume from; None trains without checkpoints.
        on_step: Called with the step number after each optimizer step (and checkpoint).
    """
    batches_per_epoch = math.ceil(len(examples) / training.batch_size)
    steps_per_epoch = math.ceil(batches_per_epoch / training.grad_accum)
    total = planned_steps(len(examples), training)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=training.learning_rate, weight_decay=0.0)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(total * WARMUP_FRACTION), total)
    scaler = torch.amp.GradScaler(device.device.type, enabled=device.autocast == torch.float16)
    lengths = [len(e.input_ids) for e in examples]
    result = LoopResult()
    latest = checkpoints.latest() if checkpoints else None
    if latest is not None:
        state = torch.load(latest, map_location="cpu", weights_only=True)
        set_peft_model_state_dict(model, state["adapter"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        _set_rng_state(state["rng"])
        result = LoopResult(
            state["step"], state["losses"], state["tokens"], state["seconds"], state["step"]
        )
        log.info("resuming from %s (step %d of %d)", latest, result.steps, total)
    model.train()
    groups: list[list[list[int]]] = []
    started = time.perf_counter() - result.seconds
    steps = range(result.steps, total)
    for step in progress(steps, desc="train", unit="step", initial=result.steps, total=total):
        epoch, index = divmod(step, steps_per_epoch)
        if index == 0 or not groups:
            batches = bucket_batches(lengths, training.batch_size, training.seed, epoch)
            groups = [
                batches[i : i + training.grad_accum]
                for i in range(0, len(batches), training.grad_accum)
            ]
        group = groups[index]
        targets = sum(examples[i].target_tokens for batch in group for i in batch)
        step_loss = torch.zeros((), device=device.device)
        for batch_ids in group:
            batch = collate([examples[i] for i in batch_ids], pad_id)
            loss, _ = _loss_sum(model, batch, device)
            scaler.scale(loss / targets).backward()
            step_loss += loss.detach()
            result.tokens += int(batch["attention_mask"].sum())
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        scheduler.step()
        result.losses.append(step_loss.item() / targets)
        result.steps = step + 1
        result.seconds = time.perf_counter() - started
        if checkpoints and result.steps % checkpoints.every == 0 and result.steps < total:
            checkpoints.save(
                {
                    "step": result.steps,
                    "losses": result.losses,
                    "tokens": result.tokens,
                    "seconds": result.seconds,
                    "adapter": get_peft_model_state_dict(model),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict(),
                    "rng": _rng_state(),
                }
            )
        if on_step:
            on_step(result.steps)
    model.eval()
    return result


def _plot_losses(path: Path, losses: list[float], before: float, after: float) -> None:
    """Write the training loss curve with the eval loss before and after as ``loss.png``."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4))
    axes = figure.subplots()
    axes.plot(range(1, len(losses) + 1), losses, label="train loss", color="tab:blue")
    axes.axhline(before, linestyle="--", color="tab:gray", label=f"eval before {before:.3f}")
    axes.axhline(after, linestyle="--", color="tab:green", label=f"eval after {after:.3f}")
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("loss per answer token")
    axes.set_title(path.parent.name)
    axes.legend()
    figure.tight_layout()
    tmp = path.with_suffix(".png.tmp")
    figure.savefig(tmp, format="png", dpi=100)
    os.replace(tmp, path)


@dataclass
class _Job:
    """One training run's inputs, resolved."""

    settings: Settings
    data_dir: Path
    version: str
    data_hash: str
    rows: SFTRows
    device: DeviceInfo
    model: PeftModel
    tokenizer: PreTrainedTokenizerBase

    @property
    def folder(self) -> Path:
        return registry.adapters_dir(self.data_dir) / self.version


def _metrics(loss: float) -> dict[str, float]:
    return {"eval_loss": round(loss, 6), "perplexity": round(perplexity(loss), 4)}


def _manifest(
    job: _Job, run_state: dict[str, Any], loop: LoopResult, after: float, counts: dict[str, int]
) -> dict[str, Any]:
    """The version's ``manifest.json``: what was trained, on what, how, and how well."""
    mc = job.settings.model_c
    return {
        "version": job.version,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "started": run_state["started"],
        "base_model": mc.base_model,
        "base_identity": base_identity(mc.base_model),
        "data_hash": job.data_hash,
        "hyperparameters": {"lora": mc.lora.model_dump(), "training": mc.training.model_dump()},
        "metrics": {"before": run_state["before"], "after": _metrics(after)},
        "data": {**counts, "eval_source": job.rows.eval_source},
        "system_prompt": job.rows.system_prompt,
        "tokens": {"pad": job.tokenizer.pad_token, "eos": job.tokenizer.eos_token},
        "device": job.device.to_dict(),
        "training": {
            "steps": loop.steps,
            "resumed_from_step": loop.resumed_from,
            "tokens_processed": loop.tokens,
            "seconds": round(loop.seconds, 3),
            "tokens_per_second": round(loop.tokens_per_second, 1),
            "threads": torch.get_num_threads(),
            "loss_curve": [round(x, 5) for x in loop.losses],
        },
    }


def _train_version(
    job: _Job,
    report: StageReport,
    checkpoint_every: int | None,
    on_step: Callable[[int], None] | None,
) -> StageReport:
    """Train, evaluate, save and (maybe) promote one version."""
    training = job.settings.model_c.training
    model, tokenizer = job.model, job.tokenizer
    train = encode_rows(tokenizer, job.rows.train, training.max_length)
    eval_rows = job.rows.eval[: training.max_eval_examples or None]
    evals = encode_rows(tokenizer, eval_rows, training.max_length)
    pad = tokenizer.pad_token_id
    run_state = read_json(job.folder / registry.RUN_STATE)
    if run_state is None:
        run_state = {
            "data_hash": job.data_hash,
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "before": _metrics(evaluate(model, evals, training.batch_size, pad, job.device)),
        }
        write_json(job.folder / registry.RUN_STATE, run_state)
    before = run_state["before"]["eval_loss"]
    every = checkpoint_every or max(1, planned_steps(len(train), training) // 10)
    loop = train_loop(
        model,
        train,
        training,
        job.device,
        pad,
        checkpoints=Checkpoints(job.folder / CHECKPOINTS, every),
        on_step=on_step,
    )
    after = evaluate(model, evals, training.batch_size, pad, job.device)
    model.save_pretrained(job.folder)
    _plot_losses(job.folder / "loss.png", loop.losses, before, after)
    counts = {
        "train_examples": len(train),
        "eval_examples": len(evals),
        "train_tokens": sum(len(e.input_ids) for e in train),
        "train_target_tokens": sum(e.target_tokens for e in train),
        "eval_target_tokens": sum(e.target_tokens for e in evals),
        "truncated": sum(e.truncated for e in train + evals),
        "skipped_rows": len(report.skipped),
    }
    write_json(job.folder / registry.MANIFEST, _manifest(job, run_state, loop, after, counts))
    shutil.rmtree(job.folder / CHECKPOINTS, ignore_errors=True)
    (job.folder / registry.RUN_STATE).unlink()

    def evaluate_current(version: str) -> float:
        model.load_adapter(str(registry.adapters_dir(job.data_dir) / version), "current")
        try:
            model.set_adapter("current")
            return evaluate(model, evals, training.batch_size, pad, job.device)
        finally:
            model.set_adapter("default")
            model.delete_adapter("current")

    decision = registry.promote_if_better(job.data_dir, job.version, evaluate_current)
    for name, value in counts.items():
        report.count(name, value)
    report.count("steps", loop.steps)
    report.count("resumed_from_step", loop.resumed_from)
    report.count("promoted", int(decision.promoted))
    report.items_out = 1
    verdict = "promoted" if decision.promoted else "not promoted"
    report.reason = (
        f"trained {job.version} on {job.device.kind}: eval loss {before:.4f} -> {after:.4f}; "
        f"{verdict}: {decision.reason}"
    )
    return report.finish("ok")


def run_train(
    settings: Settings,
    data_dir: Path,
    force_cpu: bool = False,
    resume: bool = True,
    *,
    checkpoint_every: int | None = None,
    on_step: Callable[[int], None] | None = None,
) -> StageReport:
    """Train a new adapter version on ``sft_train.jsonl``; promote it if it is better.

    Args:
        settings: ``model_c`` gives the base model, device, LoRA and training settings.
        data_dir: Holds ``sft_train.jsonl`` / ``sft_eval.jsonl``; gets ``adapters/``.
        force_cpu: Train on the CPU whatever ``model_c.device`` says.
        resume: Continue an interrupted run on the same data from its last checkpoint.
        checkpoint_every: Optimizer steps between checkpoints (default: a tenth of the run).
        on_step: Called with the step number after each optimizer step.

    Returns:
        The ``train`` report: ``skipped`` when there is no data or it is identical to an
        earlier version's, ``failed`` when the base model cannot be loaded or training
        stopped (a rerun resumes), else ``ok`` with whether the version was promoted.
    """
    report = StageReport(stage="train")
    data_dir = Path(data_dir)
    rows = read_splits(data_dir, report)
    report.items_in = len(rows.train) + len(rows.eval) + len(report.skipped)
    if not rows.train or not rows.eval:
        report.reason = "no training data: sft_train.jsonl needs at least 2 usable rows"
        return report.finish("skipped")
    mc = settings.model_c
    hyper = {"lora": mc.lora.model_dump(), "training": mc.training.model_dump()}
    digest = data_hash(data_dir, base_identity(mc.base_model), hyper)
    registry.adapters_dir(data_dir).mkdir(parents=True, exist_ok=True)
    with FileLock(registry.adapters_dir(data_dir) / ".train.lock"):
        same = registry.find_finished(data_dir, digest)
        if same is not None:
            current = registry.current_version(data_dir)
            report.reason = (
                f"data identical to current adapter ({same})"
                if same == current
                else f"data identical to adapter {same} (not current; current is {current})"
            )
            return report.finish("skipped")
        try:
            device = resolve_device(mc.device, force_cpu, mc.precision)
            if device.kind == "cpu":
                set_cpu_threads(mc.threads)
            base, tokenizer = load_base(mc.base_model, settings, data_dir, device)
            model = make_lora_model(base, mc.lora, mc.training.seed)
        except (BaseModelError, ValueError) as exc:
            report.reason = f"cannot set up training: {exc}"
            return report.finish("failed")
        found = registry.find_unfinished(data_dir, digest) if resume else None
        version = found or registry.new_version(data_dir)
        job = _Job(settings, data_dir, version, digest, rows, device, model, tokenizer)
        try:
            return _train_version(job, report, checkpoint_every, on_step)
        except Exception as exc:
            log.exception("training %s stopped", version)
            report.fail(version, exc)
            report.reason = (
                f"training {version} stopped ({type(exc).__name__}: {exc}); "
                "a rerun on the same data resumes from its last checkpoint"
            )
        return report.finish("failed")
