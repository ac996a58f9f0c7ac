"""Pick the device and precision for training and inference.

CUDA and ROCm both appear as ``torch.cuda`` (ROCm builds set ``torch.version.hip``); Apple
GPUs as ``mps``. Half precision is used where the device runs it well: bf16 on CUDA/ROCm
cards that support it, else fp16 (with loss scaling). MPS and CPU compute in fp32: on this
project's AVX-512 CPU, bf16 autocast halved the smoke-test base's training speed (its ops
are too small) while it sped a 256-wide model up 1.2-2x, so it is not a safe default there.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


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


def _cuda(device: torch.device) -> DeviceInfo:
    index = device.index if device.index is not None else torch.cuda.current_device()
    half = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return DeviceInfo(
        device=torch.device("cuda", index),
        kind="rocm" if getattr(torch.version, "hip", None) else "cuda",
        name=torch.cuda.get_device_name(index),
        dtype=half,
        autocast=half,
    )


def resolve_device(preference: str = "auto", force_cpu: bool = False) -> DeviceInfo:
    """Choose the device from a config value (``auto``, ``cpu``, ``cuda[:N]``, ``mps``).

    Args:
        preference: ``settings.model_c.device``; ``auto`` takes CUDA/ROCm, then MPS, then CPU.
        force_cpu: Use the CPU whatever the preference says.

    Raises:
        ValueError: The named device is not available here.
    """
    cpu = DeviceInfo(torch.device("cpu"), "cpu", "cpu", torch.float32, None)
    if force_cpu or preference == "cpu":
        return cpu
    mps_ok = hasattr(torch.backends, "mps") and torch.backends.mps.is_available()
    if preference == "auto":
        if torch.cuda.is_available():
            return _cuda(torch.device("cuda"))
        if mps_ok:
            return DeviceInfo(torch.device("mps"), "mps", "mps", torch.float32, None)
        return cpu
    device = torch.device(preference)
    if device.type == "cuda" and torch.cuda.is_available():
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {preference!r}: only {torch.cuda.device_count()} GPU(s)")
        return _cuda(device)
    if device.type == "mps" and mps_ok:
        return DeviceInfo(device, "mps", "mps", torch.float32, None)
    raise ValueError(f"device {preference!r} is not available on this machine (try 'auto')")
