"""Pick the device, precision and CPU threads for training and inference.

CUDA and ROCm both appear as ``torch.cuda`` (ROCm builds set ``torch.version.hip``); Apple
GPUs as ``mps``. ``model_c.precision: auto`` uses half precision where the device computes
it natively: bf16 on CUDA/ROCm cards that support it, else fp16 (with loss scaling); bf16 on
a CPU with AVX-512 BF16 or AMX (the frozen base is held in bf16 and matrix products run
in bf16 under autocast; LoRA weights and the optimizer stay fp32). MPS and other CPUs
compute in fp32. ``bench/train.py`` measures what bf16 gives on the CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from tools.index.embeddings import cpu_has_native_bf16


@dataclass(frozen=True)
class DeviceInfo:
    """Where a model runs and in which precision.

    Attributes:
        device: The torch device.
        kind: ``cuda``, ``rocm``, ``mps`` or ``cpu``.
        name: Human name (GPU model, or ``cpu``).
        dtype: Weight dtype for the frozen base model.
        autocast: Compute dtype for ``torch.autocast`` during training, or None for fp32.
    """

    device: torch.device
    kind: str
    name: str
    dtype: torch.dtype
    autocast: torch.dtype | None

    def to_dict(self) -> dict[str, str]:
        """JSON-ready form for manifests and reports."""
        return {
            "device": str(self.device),
            "kind": self.kind,
            "name": self.name,
            "dtype": str(self.dtype).removeprefix("torch."),
            "autocast": str(self.autocast).removeprefix("torch.") if self.autocast else "none",
        }


def _cuda(device: torch.device, precision: str) -> DeviceInfo:
    index = device.index if device.index is not None else torch.cuda.current_device()
    half = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return DeviceInfo(
        device=torch.device("cuda", index),
        kind="rocm" if getattr(torch.version, "hip", None) else "cuda",
        name=torch.cuda.get_device_name(index),
        dtype=torch.float32 if precision == "fp32" else half,
        autocast=None if precision == "fp32" else half,
    )


def _cpu(precision: str) -> DeviceInfo:
    bf16 = precision == "bf16" or (precision == "auto" and cpu_has_native_bf16())
    if bf16:
        return DeviceInfo(torch.device("cpu"), "cpu", "cpu", torch.bfloat16, torch.bfloat16)
    return DeviceInfo(torch.device("cpu"), "cpu", "cpu", torch.float32, None)


def resolve_device(
    preference: str = "auto", force_cpu: bool = False, precision: str = "auto"
) -> DeviceInfo:
    """Choose the device from a config value (``auto``, ``cpu``, ``cuda[:N]``, ``mps``).

    Args:
        preference: ``settings.model_c.device``; ``auto`` takes CUDA/ROCm, then MPS, then CPU.
        force_cpu: Use the CPU whatever the preference says.
        precision: ``settings.model_c.precision``: ``auto``, ``fp32`` or ``bf16``.

    Raises:
        ValueError: The named device is not available here.
    """
    cpu = _cpu(precision)
    if force_cpu or preference == "cpu":
        return cpu
    mps_ok = hasattr(torch.backends, "mps") and torch.backends.mps.is_available()
    if preference == "auto":
        if torch.cuda.is_available():
            return _cuda(torch.device("cuda"), precision)
        if mps_ok:
            return DeviceInfo(torch.device("mps"), "mps", "mps", torch.float32, None)
        return cpu
    device = torch.device(preference)
    if device.type == "cuda" and torch.cuda.is_available():
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {preference!r}: only {torch.cuda.device_count()} GPU(s)")
        return _cuda(device, precision)
    if device.type == "mps" and mps_ok:
        return DeviceInfo(device, "mps", "mps", torch.float32, None)
    raise ValueError(f"device {preference!r} is not available on this machine (try 'auto')")


def set_cpu_threads(threads: int) -> int:
    """Set torch's intra-op threads (0: every core this process may run on); return them."""
    count = threads or len(os.sched_getaffinity(0))
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return count
