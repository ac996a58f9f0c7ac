"""The LoRA base model: any Hugging Face causal LM, or the offline smoke-test base.

``model_c.base_model: smoke-test:tiny-llama`` asks for a tiny, randomly initialised
Llama-architecture model (2 layers, hidden size 64) with a byte-level BPE tokenizer trained
offline on a fixed text. It is built deterministically from a fixed seed into
``<data_dir>/models/`` the first time it is needed, so tests and the offline demo run with
no download. It knows nothing: it exists to exercise the training and inference code.
Any other value is a Hugging Face id or a local path; one that cannot be loaded raises
:class:`BaseModelError`, never falls back to the smoke-test base.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
)

from tools.config import Settings
from tools.datadir import DataDir
from tools.lora.data import FALLBACK_CHAT_TEMPLATE, ensure_pad_token
from tools.lora.device import DeviceInfo

log = logging.getLogger(__name__)

SMOKE_BASE_ID = "smoke-test:tiny-llama"
SMOKE_REVISION = 1
SMOKE_SEED = 1234
SPECIAL_TOKENS = ("<unk>", "<s>", "</s>", "<pad>", "<|system|>", "<|user|>", "<|assistant|>")

# Fixed tokenizer training text: generic English about software work, so common words get
# their own tokens. Changing it changes the base: bump SMOKE_REVISION.
_TOKENIZER_TEXT = """\
The build fails when the compiler cannot find the widget folder in the project.
This issue describes a problem with the application, the controller and the view.
Please add support for the new version of the platform and update the documentation.
When I run the command on Windows, the output shows an error and the process stops.
The test should check that the model is updated after the collection is reset.
We need a way to configure the default theme for each platform in the config file.
It would be nice if the generated code was easier to read and to debug.
Steps to reproduce: create a new project, add a widget, run the app, see the error.
Expected result: the app starts. Actual result: the app crashes with an exception.
The release notes list the changes, the fixes and the known issues of this version.
A commit message says what changed and why; the issue key links it to the ticket.
Users can install the package with npm and run it from the command line.
The server returns the list of sessions and the status of each request.
Documentation for the daemon explains how to start, stop and restart the service.
This is a duplicate of another issue that was fixed in the previous release.
Move the style rules into the theme so that they apply to every view of the app.
Why does the event not fire on Android when the window is opened from a list?
How do I pass arguments to a controller and read them in the view?
What is the difference between a model, a collection and a binding?
The function returns undefined because the property is not set on the object.
Remove the deprecated option and print a warning that names its replacement.
Logs are written to the console with a timestamp, a level and a message.
Check the value before you use it, and return an error with a clear message.
"""


class BaseModelError(RuntimeError):
    """The configured base model could not be loaded."""


def base_identity(base_model: str) -> str:
    """What identifies the base in data hashes and manifests (the smoke base's revision too)."""
    return f"{SMOKE_BASE_ID}@r{SMOKE_REVISION}" if base_model == SMOKE_BASE_ID else base_model


def smoke_base_dir(data_dir: Path) -> Path:
    """Folder that holds the built smoke-test base under ``data_dir``."""
    return DataDir(data_dir).models / f"smoke-test-tiny-llama-r{SMOKE_REVISION}"


def _smoke_tokenizer() -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_TOKENIZER_TEXT.splitlines(), trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        additional_special_tokens=list(SPECIAL_TOKENS[4:]),
        model_max_length=2048,
    )
    fast.chat_template = FALLBACK_CHAT_TEMPLATE
    return fast


def build_smoke_base(
    target: Path, seed: int = SMOKE_SEED, *, hidden_size: int = 64, num_layers: int = 2
) -> Path:
    """Build the tiny Llama model and its tokenizer into ``target`` (atomically).

    The same seed gives the same weights and tokenizer, byte for byte. Benchmarks pass a
    larger ``hidden_size`` / ``num_layers`` for a random model of a more telling size.
    """
    tokenizer = _smoke_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 11 // 4,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = LlamaForCausalLM(config)
    finally:
        torch.random.set_rng_state(generator_state)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        tmp.chmod(0o755)
        tmp.rename(target)
    except OSError:
        if not (target / "config.json").is_file():
            raise
        log.info("smoke-test base already built by another process at %s", target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _locate(base_model: str, settings: Settings, data_dir: Path) -> str:
    """The smoke base's folder (built on first use), a local folder, or a hub id."""
    if base_model == SMOKE_BASE_ID:
        folder = smoke_base_dir(data_dir)
        if not (folder / "config.json").is_file():
            log.info("building the smoke-test base model in %s", folder)
            build_smoke_base(folder)
        return str(folder)
    local = settings.resolve_path(base_model)
    return str(local) if local.exists() else base_model


def load_base(
    base_model: str, settings: Settings, data_dir: Path, device: DeviceInfo
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load the base model (frozen, on ``device``) and its tokenizer with a distinct pad.

    Args:
        base_model: ``smoke-test:tiny-llama``, a Hugging Face id or a local path.
        settings: For resolving relative paths against the config file.
        data_dir: Where the smoke-test base is cached.
        device: Device and weight dtype.

    Raises:
        BaseModelError: The model or tokenizer cannot be loaded.
    """
    where = _locate(base_model, settings, data_dir)
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
