"""Write a model folder atomically: a killed build or conversion leaves nothing behind."""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from transformers import PreTrainedModel, PreTrainedTokenizerBase

log = logging.getLogger(__name__)


def save_model_folder(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, target: Path
) -> Path:
    """Save ``model`` and ``tokenizer`` as the folder ``target``, all at once.

    They go into a temporary folder beside ``target`` that is then renamed; when another
    process got there first, its folder is kept.
    """
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
        log.info("%s was already written by another process", target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
