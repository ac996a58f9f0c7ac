"""SFT data for LoRA training: read, render, tokenize, mask, batch, hash.

Rows of ``sft_train.jsonl`` / ``sft_eval.jsonl`` are ``{"messages": [system?, user,
assistant], "source_ids", "kind"}``; the last message must be the assistant's answer.

Rendering: the prompt (every message but the last, with the generation prompt) goes through
the tokenizer's chat template; the answer's tokens and EOS follow it. Inference builds the
same prompt, so what the model learns to continue is exactly what it is later asked. Labels
are -100 on every prompt token: loss falls on the answer and EOS only. A tokenizer without
a chat template gets :data:`FALLBACK_CHAT_TEMPLATE`::

    <bos><|system|>
    {system}
    <|user|>
    {question}
    <|assistant|>
    {answer}<eos>

Too long an example keeps the end of its prompt (at most half of ``max_length``) and as
much of the answer as fits; an answer cut short gets no EOS, so the model never learns to
stop mid-sentence.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from jinja2 import TemplateError
from transformers import PreTrainedTokenizerBase

from tools.datadir import DataDir
from tools.files import file_digest
from tools.records import stable_hash
from tools.report import StageReport

IGNORE_INDEX = -100
ROLES = frozenset({"system", "user", "assistant"})
FALLBACK_CHAT_TEMPLATE = (
    "{% if bos_token %}{{ bos_token }}{% endif %}"
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\\n' + message['content'] }}"
    "{% if message['role'] == 'assistant' %}{{ eos_token }}{% endif %}"
    "{{ '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)
PAD_TOKEN = "<|pad|>"
BUCKET_SPAN = 64


@dataclass
class Example:
    """One tokenized conversation.

    Attributes:
        input_ids: Prompt, answer and (unless truncated) EOS.
        labels: -100 on prompt tokens, the token id on answer tokens and EOS.
        item: Where it came from (``file:line``), for reports.
        truncated: The example was cut to ``max_length``.
    """

    input_ids: list[int]
    labels: list[int]
    item: str
    truncated: bool = False

    @property
    def target_tokens(self) -> int:
        """Tokens that carry loss."""
        return sum(1 for label in self.labels if label != IGNORE_INDEX)


@dataclass
class SFTRows:
    """The validated ``(item, messages)`` rows of both splits."""

    train: list[tuple[str, list[dict[str, str]]]] = field(default_factory=list)
    eval: list[tuple[str, list[dict[str, str]]]] = field(default_factory=list)
    eval_source: str = ""
    """Where the eval rows came from: the eval file's name, or how they were held out."""

    @property
    def system_prompt(self) -> str | None:
        """The most common system message of the training rows (inference reuses it)."""
        systems = Counter(m[0]["content"] for _, m in self.train if m[0]["role"] == "system")
        return systems.most_common(1)[0][0] if systems else None


def ensure_pad_token(tokenizer: PreTrainedTokenizerBase) -> bool:
    """Give the tokenizer a pad token distinct from EOS.

    Uses the unknown token when it differs from EOS (no new embedding row), else adds
    ``<|pad|>``.

    Returns:
        True when a token was added and the model's embeddings must be resized.
    """
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError("the base model's tokenizer has no EOS token; generation could not stop")
    if tokenizer.pad_token_id is not None and tokenizer.pad_token_id != eos:
        return False
    if tokenizer.unk_token_id is not None and tokenizer.unk_token_id != eos:
        tokenizer.pad_token = tokenizer.unk_token
        return False
    tokenizer.add_special_tokens({"pad_token": PAD_TOKEN})
    return True


def render_prompt(tokenizer: PreTrainedTokenizerBase, messages: Sequence[dict[str, str]]) -> str:
    """Render messages with the generation prompt through the chat template (or fallback).

    A template that rejects a system message (some allow only user/assistant turns) gets
    the system text folded into the first user message instead.
    """
    template = None if tokenizer.chat_template else FALLBACK_CHAT_TEMPLATE
    msgs = [dict(m) for m in messages]
    try:
        return tokenizer.apply_chat_template(
            msgs, chat_template=template, add_generation_prompt=True, tokenize=False
        )
    except TemplateError:
        if not msgs or msgs[0]["role"] != "system" or len(msgs) < 2:
            raise
        system, first = msgs[0], msgs[1]
        folded = [{**first, "content": f"{system['content']}\n\n{first['content']}"}, *msgs[2:]]
        return tokenizer.apply_chat_template(
            folded, chat_template=template, add_generation_prompt=True, tokenize=False
        )


def encode_prompt(
    tokenizer: PreTrainedTokenizerBase, messages: Sequence[dict[str, str]]
) -> list[int]:
    """Token ids of the rendered prompt (what generation continues)."""
    return tokenizer(render_prompt(tokenizer, messages), add_special_tokens=False)["input_ids"]


def encode_example(
    tokenizer: PreTrainedTokenizerBase,
    messages: Sequence[dict[str, str]],
    max_length: int,
    item: str = "",
) -> Example:
    """Tokenize one conversation: prompt masked with -100, answer and EOS as labels."""
    prompt = encode_prompt(tokenizer, messages[:-1])
    answer = tokenizer(messages[-1]["content"].strip(), add_special_tokens=False)["input_ids"]
    answer = [*answer, tokenizer.eos_token_id]
    truncated = len(prompt) + len(answer) > max_length
    if truncated:
        prompt = prompt[-min(len(prompt), max_length // 2) :]
        answer = answer[: max_length - len(prompt)]
    return Example(
        input_ids=prompt + answer,
        labels=[IGNORE_INDEX] * len(prompt) + answer,
        item=item,
        truncated=truncated,
    )


def _check_row(row: Any) -> str | None:
    """Why a row cannot be trained on, or None when it can."""
    if not isinstance(row, dict) or not isinstance(row.get("messages"), list):
        return "no 'messages' list"
    messages = row["messages"]
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            return "a message without a known role (system, user, assistant)"
        if not isinstance(message.get("content"), str):
            return "a message whose content is not text"
    if len(messages) < 2 or messages[-1]["role"] != "assistant":
        return "the last message is not the assistant's answer"
    if not any(m["role"] == "user" for m in messages[:-1]):
        return "no user message before the answer"
    if not messages[-1]["content"].strip():
        return "empty answer"
    return None


def read_sft(path: Path, report: StageReport) -> list[tuple[str, list[dict[str, str]]]]:
    """Read ``(item, messages)`` pairs; bad lines are skipped into ``report`` with a reason."""
    rows: list[tuple[str, list[dict[str, str]]]] = []
    if not path.is_file():
        return rows
    for number, raw in enumerate(path.read_bytes().splitlines(), 1):
        if not raw.strip():
            continue
        item = f"{path.name}:{number}"
        try:
            row = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            report.skip(item, f"not valid UTF-8: {exc.reason}")
            continue
        except json.JSONDecodeError as exc:
            report.skip(item, f"malformed JSON: {exc.msg}")
            continue
        problem = _check_row(row)
        if problem:
            report.skip(item, problem)
            continue
        rows.append((item, row["messages"]))
    return rows


def read_splits(data_dir: Path, report: StageReport) -> SFTRows:
    """Read both splits; bad lines are skipped into ``report``.

    When ``sft_eval.jsonl`` is missing or empty, every tenth training row (at least one)
    is held out as the eval set, and ``eval_source`` says so.
    """
    paths = DataDir(data_dir)
    rows = SFTRows(
        read_sft(paths.sft_train, report), read_sft(paths.sft_eval, report), paths.sft_eval.name
    )
    if not rows.eval and len(rows.train) >= 2:
        rows.eval = rows.train[::10]
        rows.train = [row for n, row in enumerate(rows.train) if n % 10]
        rows.eval_source = f"held out from {paths.sft_train.name} (every 10th row)"
    return rows


def encode_rows(
    tokenizer: PreTrainedTokenizerBase,
    rows: Sequence[tuple[str, list[dict[str, str]]]],
    max_length: int,
) -> list[Example]:
    """Tokenize ``(item, messages)`` rows with :func:`encode_example`."""
    return [encode_example(tokenizer, messages, max_length, item) for item, messages in rows]


def data_hash(data_dir: Path, base_identity: str, hyper: dict[str, Any]) -> str:
    """Hash of the SFT files' bytes, the base model and the hyper-parameters."""
    return stable_hash(
        [
            file_digest(DataDir(data_dir).sft_train),
            file_digest(DataDir(data_dir).sft_eval),
            base_identity,
            hyper,
        ]
    )


def bucket_batches(
    lengths: Sequence[int], batch_size: int, seed: int, epoch: int
) -> list[list[int]]:
    """Group example indices into batches of similar length, in a seeded random order.

    Indices are shuffled, cut into spans of ``BUCKET_SPAN`` batches, sorted by length
    inside each span (so little padding is needed), batched, and the batches shuffled.
    """
    rng = random.Random(f"{seed}:{epoch}")
    order = list(range(len(lengths)))
    rng.shuffle(order)
    span = batch_size * BUCKET_SPAN
    batches: list[list[int]] = []
    for start in range(0, len(order), span):
        chunk = sorted(order[start : start + span], key=lambda i: lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def collate(examples: Sequence[Example], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a batch: ``input_ids``, ``attention_mask`` and ``labels`` tensors."""
    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, example in enumerate(examples):
        n = len(example.input_ids)
        ids[row, :n] = torch.tensor(example.input_ids)
        labels[row, :n] = torch.tensor(example.labels)
        mask[row, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}
