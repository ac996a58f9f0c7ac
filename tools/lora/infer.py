"""Local inference with the current adapter: the chat graph's intuition node.

``get_intuition(settings, data_dir)`` loads the base model and the promoted adapter once per
process and data folder, and loads again only when ``adapters/current`` names another
version. Questions are rendered with the same chat template (and the training data's most
common system prompt) as in training, so the adapter sees what it learned to answer.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import torch
from peft import PeftModel
from transformers import PreTrainedTokenizerBase, StoppingCriteria, StoppingCriteriaList

from tools.coalesce import Coalescer
from tools.config import Settings
from tools.lora import registry
from tools.lora.base import is_smoke_base, load_base
from tools.lora.data import encode_prompt
from tools.lora.device import DeviceInfo, resolve_device, set_cpu_threads

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Completion:
    """One generated answer.

    Attributes:
        text: The answer, without EOS and cut before the first stop string.
        token_ids: The generated token ids (EOS included when it was generated).
        finish_reason: ``eos``, ``stop`` (a stop string), ``length`` (max_new_tokens or the
            time budget) or ``stopped`` (:meth:`Intuition.stop`, at shutdown).
    """

    text: str
    token_ids: list[int]
    finish_reason: str


MAX_BATCH = 16
"""Most concurrent questions answered in one batched generation."""


@dataclass(frozen=True)
class _Options:
    """Generation settings; only calls with equal settings share a batch."""

    max_new_tokens: int
    temperature: float
    stop: tuple[str, ...]
    max_seconds: float | None


class Intuition:
    """The base model with one adapter version, ready to answer questions."""

    def __init__(
        self,
        version: str,
        model: PeftModel,
        tokenizer: PreTrainedTokenizerBase,
        device: DeviceInfo,
        system_prompt: str | None,
    ) -> None:
        self.version = version
        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self.system_prompt = system_prompt
        # One generation at a time per model: concurrent calls (a server's thread pool)
        # each fan out over torch's intra-op threads and oversubscribe the cores.
        self._generating = threading.Lock()
        self._stopping = threading.Event()
        self._batchers: dict[_Options, Coalescer[str, Completion]] = {}
        self._batchers_lock = threading.Lock()

    def stop(self) -> None:
        """End a running generation at its next token, and any later one at once (shutdown)."""
        self._stopping.set()

    @classmethod
    def load(cls, settings: Settings, data_dir: Path, version: str) -> Intuition:
        """Load the base named in the version's manifest and the adapter on top of it.

        Raises:
            BaseModelError: The base model cannot be loaded.
            ValueError: The version is not finished.
        """
        manifest = registry.read_manifest(data_dir, version)
        if manifest is None:
            raise ValueError(f"adapter version {version!r} is not finished (no manifest)")
        mc = settings.model_c
        device = resolve_device(mc.device, precision=mc.precision)
        if device.kind == "cpu":
            set_cpu_threads(mc.threads)
        base, tokenizer = load_base(manifest["base_model"], settings, data_dir, device)
        model = PeftModel.from_pretrained(base, str(registry.adapters_dir(data_dir) / version))
        model.eval()
        log.info("intuition: adapter %s on %s (%s)", version, manifest["base_model"], device.kind)
        return cls(version, model, tokenizer, device, manifest.get("system_prompt"))

    def messages(self, question: str) -> list[dict[str, str]]:
        """The chat messages for ``question``, with the training data's system prompt."""
        system = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        return [*system, {"role": "user", "content": question}]

    def clip(self, question: str, max_new_tokens: int) -> str:
        """``question`` cut so that the prompt and the answer fit the model's context."""
        context = getattr(self.model.config, "max_position_embeddings", None) or 2048
        overhead = len(encode_prompt(self.tokenizer, self.messages("")))
        room = max(context - max_new_tokens - overhead, 1)
        ids = self.tokenizer(question, add_special_tokens=False)["input_ids"]
        if len(ids) <= room:
            return question
        log.info("intuition: question cut from %d to %d tokens", len(ids), room)
        return self.tokenizer.decode(ids[:room], skip_special_tokens=True)

    def _eos_ids(self) -> list[int]:
        ids = {self.tokenizer.eos_token_id}
        configured = self.model.generation_config.eos_token_id
        ids.update(configured if isinstance(configured, list) else [configured])
        return sorted(i for i in ids if i is not None)

    def complete(
        self,
        question: str,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        stop: list[str] | None = None,
        max_seconds: float | None = None,
    ) -> Completion:
        """Answer ``question``; greedy when ``temperature`` is 0, sampled otherwise.

        Questions asked at the same time with the same settings (a server's concurrent
        requests) are answered in one batched generation. The question is cut to fit the
        model's context; generation stops after ``max_new_tokens`` or ``max_seconds``
        (finish reason ``length`` either way), or at the next token once :meth:`stop` was
        called (``stopped``).
        """
        options = _Options(max_new_tokens, temperature, tuple(stop or ()), max_seconds)
        with self._batchers_lock:
            batcher = self._batchers.get(options)
            if batcher is None:
                batcher = Coalescer(lambda qs: self._complete_batch(qs, options), MAX_BATCH)
                self._batchers[options] = batcher
        return batcher.call(question)

    @torch.no_grad()
    def _complete_batch(self, questions: list[str], options: _Options) -> list[Completion]:
        """One generation over ``questions``, prompts left-padded to the longest."""
        prompts = [
            encode_prompt(self.tokenizer, self.messages(self.clip(q, options.max_new_tokens)))
            for q in questions
        ]
        width = max(len(p) for p in prompts)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
        eos = self._eos_ids()
        stop = list(options.stop)
        sampling = {"temperature": options.temperature} if options.temperature > 0 else {}
        with self._generating:
            output = self.model.generate(
                input_ids=ids.to(self.device.device),
                attention_mask=mask.to(self.device.device),
                max_new_tokens=options.max_new_tokens,
                eos_token_id=eos,
                pad_token_id=pad,
                stop_strings=stop or None,
                tokenizer=self.tokenizer if stop else None,
                do_sample=options.temperature > 0,
                max_time=options.max_seconds,
                stopping_criteria=StoppingCriteriaList([_EventStop(self._stopping)]),
                **sampling,
            )
        return [self._completion(row[width:].tolist(), eos, stop) for row in output]

    def _completion(self, new: list[int], eos: list[int], stop: list[str]) -> Completion:
        """One row of a batch: cut at its EOS (rows that ended early are padded after it)."""
        end = next((i for i, t in enumerate(new) if t in eos), None)
        ended = end is not None
        new = new[: end + 1] if ended else new
        text = self.tokenizer.decode(new[:-1] if ended else new, skip_special_tokens=True)
        cut = min((text.find(s) for s in stop if s in text), default=-1)
        if cut >= 0:
            return Completion(text[:cut].strip(), new, "stop")
        if self._stopping.is_set():
            return Completion(text.strip(), new, "stopped")
        return Completion(text.strip(), new, "eos" if ended else "length")

    def generate(
        self,
        question: str,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        stop: list[str] | None = None,
        max_seconds: float | None = None,
    ) -> str:
        """The answer text only (see :meth:`complete`)."""
        return self.complete(question, max_new_tokens, temperature, stop, max_seconds).text


class _EventStop(StoppingCriteria):
    """Stops generation once ``event`` is set."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs):
        return torch.full((input_ids.shape[0],), self.event.is_set(), device=input_ids.device)


def skip_reason(use_lora: bool | str, data_dir: Path) -> str | None:
    """Why the current adapter is not worth asking under ``chat.use_lora``, or None.

    Read from the adapter's manifest, so a skipped adapter is never loaded: ``false`` never
    asks; ``true`` asks any promoted adapter; ``auto`` only one trained on a real base
    whose eval loss beat that base's (the smoke-test base's answers are noise).
    """
    if use_lora is False:
        return "off"
    version = registry.current_version(data_dir)
    if version is None:
        return "no adapter"
    if use_lora is True:
        return None
    manifest = registry.read_manifest(data_dir, version) or {}
    if is_smoke_base(manifest.get("base_model", "")):
        return f"skipped: adapter {version} is on the smoke-test base"
    metrics = manifest.get("metrics") or {}
    before = (metrics.get("before") or {}).get("eval_loss")
    after = (metrics.get("after") or {}).get("eval_loss")
    if before is None or after is None or not after < before:
        return f"skipped: adapter {version} did not beat its base on the eval set"
    return None


_cache: dict[Path, Intuition] = {}
_lock = threading.Lock()


def get_intuition(settings: Settings, data_dir: Path) -> Intuition | None:
    """The cached intuition for ``data_dir``'s current adapter, or None when none is promoted.

    Loads on first use and again whenever ``adapters/current`` names another version.

    Raises:
        BaseModelError: The adapter's base model cannot be loaded.
    """
    key = Path(data_dir).resolve()
    version = registry.current_version(key)
    with _lock:
        if version is None:
            _cache.pop(key, None)
            return None
        cached = _cache.get(key)
        if cached is None or cached.version != version:
            _cache.pop(key, None)
            _cache[key] = Intuition.load(settings, key, version)
        return _cache[key]


def stop_all() -> None:
    """Stop every loaded model's generation and unload it (a server shutting down: SIGTERM)."""
    with _lock:
        for model in _cache.values():
            model.stop()
        _cache.clear()
