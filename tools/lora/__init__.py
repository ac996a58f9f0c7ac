"""LoRA training, adapter versions and local inference (Agent B's tools).

``run_train(settings, data_dir)`` trains and maybe promotes a version, ``rollback(data_dir)``
restores the previous one, ``get_intuition(settings, data_dir)`` gives the cached model that
answers with the current adapter. They are imported lazily, so that ``registry`` (used by
``train --rollback``) does not pay for importing torch.
"""

from __future__ import annotations

import sys
from importlib import import_module
from typing import Any

_EXPORTS = {
    "run_train": "tools.lora.train",
    "rollback": "tools.lora.registry",
    "get_intuition": "tools.lora.infer",
}
__all__ = [*sorted(_EXPORTS), "stop_generation"]


def stop_generation() -> None:
    """End loaded adapters' running generations at their next token (a process shutting down).

    Nothing to do, and nothing imported, when no adapter was loaded in this process.
    """
    infer = sys.modules.get("tools.lora.infer")
    if infer is not None:
        infer.stop_all()


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tools.lora' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
