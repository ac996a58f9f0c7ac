"""Shared fixtures: the real corpus subset kept in the repository, offline model hubs."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tools.config import Settings

if TYPE_CHECKING:
    from tests.postgres import PostgresServer

pytest_plugins = ["tests.fakes.openai_server"]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The suite trains and asks adapters many times: on the smoke-test base (milliseconds), not
# on the demo's SmolLM2 (tests/test_lora_smollm2.py covers that base).
os.environ.setdefault("LORA_BASE_MODEL", "smoke-test:tiny-llama")

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "data" / "corpus"


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The real corpus subset in ``tests/data/corpus``; tests copy what they change."""
    return CORPUS


@pytest.fixture(scope="session")
def built_data_dir(tmp_path_factory) -> Path:
    """A data dir where ``data-alchemy demo`` ran the whole cycle on ``data/raw``.

    Wash, offline refine, index and a smoke-test adapter (``LORA_BASE_MODEL`` above), then
    one cited answer. Tests that read it must not change it; copy it first.
    """
    from cli import main

    data = tmp_path_factory.mktemp("built")
    assert main(["demo", "--data-dir", str(data)]) == 0
    return data


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server for the session (Debian's ``postgresql``)."""
    from tests.postgres import postgres_server

    with postgres_server() as server:
        yield server


def copy_data_dir(source: Path, target: Path) -> Path:
    """A private copy of a built data dir, without thread memory, feedback or lock files."""
    ignore = shutil.ignore_patterns("checkpoints.sqlite*", "feedback.jsonl*", "*.lock")
    shutil.copytree(source, target, symlinks=True, ignore=ignore)
    return target


@pytest.fixture
def extractive_settings() -> Settings:
    """Default settings with the offline (extractive) finalist and a deep fact list."""
    settings = Settings()
    settings.model_d.provider = "extractive"
    settings.chat.top_k = 20
    return settings


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--ui-screenshots DIR``: keep the UI test's screenshots there (``make screenshots``)."""
    parser.addoption("--ui-screenshots", type=Path, default=None, help="keep UI screenshots")
