"""The offline smoke-test base: a tiny random Llama that exercises training and inference.

``model_c.base_model: smoke-test:tiny-llama`` asks for a tiny, randomly initialised
Llama-architecture model (2 layers, hidden size 64) with a byte-level BPE tokenizer trained
offline on a fixed text. It is built deterministically from a fixed seed into
``<data_dir>/models/`` the first time it is needed, so tests run with no download. It
knows nothing: its answers are noise.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from tools.datadir import DataDir
from tools.lora.data import FALLBACK_CHAT_TEMPLATE
from tools.lora.folder import save_model_folder

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


def smoke_identity() -> str:
    """The smoke base's name with its revision (data hashes and manifests record it)."""
    return f"{SMOKE_BASE_ID}@r{SMOKE_REVISION}"


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
    target: Path,
    seed: int = SMOKE_SEED,
    *,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    vocab_size: int = 0,
) -> Path:
    """Build the tiny Llama model and its tokenizer into ``target`` (atomically).

    The same seed gives the same weights and tokenizer, byte for byte. Benchmarks pass
    other sizes for a random model of a more telling shape (TinyLlama-1.1B's: hidden 2048,
    22 layers, 32 heads, 4 KV heads, 32,000 embeddings); ``vocab_size`` 0 is the
    tokenizer's (a larger one leaves rows the tokenizer never uses).
    """
    tokenizer = _smoke_tokenizer()
    config = LlamaConfig(
        vocab_size=max(vocab_size, len(tokenizer)),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 11 // 4,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads,
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
    return save_model_folder(model, tokenizer, target)


def smoke_base(data_dir: Path) -> Path:
    """The smoke base's folder under ``data_dir``, built on first use."""
    folder = smoke_base_dir(data_dir)
    if not (folder / "config.json").is_file():
        log.info("building the smoke-test base model in %s", folder)
        build_smoke_base(folder)
    return folder
