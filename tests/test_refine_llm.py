"""The LLM refiner through the real ChatOpenAI client against a local OpenAI-compatible server."""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from pathlib import Path

import pytest

from tests.fakes.openai_server import Reply
from tools.config import LLMSettings, Settings
from tools.jsonl import read_jsonl, write_jsonl
from tools.loaders.jira import issue_to_record
from tools.records import SourceRecord, stable_hash
from tools.synthesis.llm_refiner import DEEPSEEK_CHAT_PRICE
from tools.synthesis.refine import run_refine

KEYS = [f"DAEMON-{n}" for n in (100, 108, 110, 112, 115, 120, 130, 140)]
_RECORD = re.compile(r"^Record (\S+) \(", re.M)
NONSENSE = "The moon is made of green cheese and unicorns maintain the build servers."


def _records(corpus: Path) -> list[SourceRecord]:
    folder = corpus / "jira" / "DAEMON"
    return [issue_to_record(json.loads((folder / f"{k}.json").read_text())) for k in KEYS]


def good_answer(record: SourceRecord) -> str:
    """A supported answer: the record's first line of text."""
    return next(line for line in record.text.splitlines() if len(line.split()) >= 3).strip()


class ScriptedLLM:
    """Per-record behaviour: the first replies come from ``script[key]``, then a good one.

    A good reply has one supported pair, one unsupported pair and one near-duplicate
    question, so each counter of the refiner is exercised on every record.
    """

    def __init__(self, records: list[SourceRecord], script: dict[str, list[Reply]]) -> None:
        self.by_key = {r.id.partition(":")[2]: r for r in records}
        self.script = {k: list(v) for k, v in script.items()}
        self.calls: Counter = Counter()
        self._lock = threading.Lock()

    def __call__(self, body: dict) -> Reply:
        user = next(m["content"] for m in body["messages"] if m["role"] == "user")
        key = _RECORD.search(user).group(1)
        with self._lock:
            self.calls[key] += 1
            queued = self.script.get(key)
            if queued:
                return queued.pop(0)
        record = self.by_key[key]
        question = f"What is the problem described in {key}?"
        pairs = [
            {"question": question, "answer": good_answer(record)},
            {"question": f"Who maintains the build servers of {key}?", "answer": NONSENSE},
            {"question": question.replace("What", "what") + "  ", "answer": good_answer(record)},
        ]
        return Reply.of_json(
            {"pairs": pairs},
            usage={"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100},
        )


def _settings(server, **kw) -> Settings:
    llm = {
        "provider": "openai",
        "model": "deepseek-chat",
        "base_url": server.base_url,
        "api_key": "test-key",
        "timeout": 1.0,
        "max_retries": 2,
        "concurrency": 3,
    }
    return Settings(model_a=LLMSettings(**(llm | kw)))


@pytest.fixture
def data_dir(tmp_path: Path, corpus_dir: Path) -> Path:
    write_jsonl(tmp_path / "cleaned_corpus.jsonl", [r.to_dict() for r in _records(corpus_dir)])
    return tmp_path


def _rows(data_dir: Path) -> list[dict]:
    return [*read_jsonl(data_dir / "sft_train.jsonl"), *read_jsonl(data_dir / "sft_eval.jsonl")]


def test_failures_are_retried_counted_and_listed(openai_server, data_dir, corpus_dir):
    records = _records(corpus_dir)
    script = {
        "DAEMON-100": [Reply.http(429, retry_after=0.05)],
        "DAEMON-108": [Reply.http(500, retry_after=0.01)] * 3,
        "DAEMON-110": [Reply.malformed()],
        "DAEMON-112": [Reply.malformed(), Reply.malformed('{"pairs": "not a list"}')],
        "DAEMON-115": [Reply.slow(3.0)],
        "DAEMON-120": [Reply.http(503)],
    }
    llm = ScriptedLLM(records, script)
    server = openai_server(llm)
    report = run_refine(_settings(server), data_dir, backoff_s=0.01)
    counters = report.counters

    assert report.status == "ok"
    failed = {f["item"]: f["error"] for f in report.failed}
    assert set(failed) == {"jira:DAEMON-108", "jira:DAEMON-112"}
    assert failed["jira:DAEMON-108"].startswith("gave up after 3 call(s): HTTP 500")
    assert "malformed JSON" in failed["jira:DAEMON-112"]
    assert llm.calls == Counter({
        "DAEMON-100": 2, "DAEMON-108": 3, "DAEMON-110": 2, "DAEMON-112": 2,
        "DAEMON-115": 2, "DAEMON-120": 2, "DAEMON-130": 1, "DAEMON-140": 1,
    })  # fmt: skip
    assert counters["llm_calls"] == server.request_count == 15
    assert counters["rate_limited"] == 1
    assert counters["server_errors"] == 4
    assert counters["timeouts"] == 1
    assert counters["malformed_json"] == 3
    assert counters["retries"] == 1 + 2 + 1 + 1 + 1 + 1
    ok = len(KEYS) - 2
    assert counters["pairs"] == ok
    assert counters["pairs_dropped_ungrounded"] == ok
    assert counters["pairs_dropped_duplicate"] == ok
    good_replies = ok  # usage is counted on parsed replies and malformed ones alike
    assert counters["tokens_prompt"] >= 1000 * good_replies
    expected = DEEPSEEK_CHAT_PRICE.cost(counters["tokens_prompt"], counters["tokens_completion"])
    assert counters["cost_usd"] == pytest.approx(expected, abs=1e-6) and expected > 0

    rows = _rows(data_dir)
    answers = {row["source_ids"][0]: row["messages"][-1]["content"] for row in rows}
    by_id = {r.id: r for r in records}
    assert set(answers) == set(by_id) - {"jira:DAEMON-108", "jira:DAEMON-112"}
    for source, answer in answers.items():
        assert answer == good_answer(by_id[source])
    assert all(NONSENSE not in json.dumps(row) for row in rows)

    # A second run asks only for the two records that failed.
    server.reset()
    again = run_refine(_settings(server), data_dir, backoff_s=0.01)
    assert again.counters["cache_hits"] == ok
    assert server.request_count == again.counters["llm_calls"] == 2
    assert not again.failed and again.counters["pairs"] == len(KEYS)


def test_unchanged_input_makes_no_llm_calls(openai_server, data_dir, corpus_dir):
    server = openai_server(ScriptedLLM(_records(corpus_dir), {}))
    first = run_refine(_settings(server), data_dir)
    assert first.counters["llm_calls"] == server.request_count == len(KEYS)
    before = (data_dir / "sft_train.jsonl").read_bytes(), (data_dir / "sft_eval.jsonl").read_bytes()
    server.reset()
    second = run_refine(_settings(server), data_dir)
    assert server.request_count == 0
    assert second.counters["llm_calls"] == 0 and second.counters["cache_hits"] == len(KEYS)
    assert second.counters["tokens_prompt"] == 0 and second.counters["cost_usd"] == 0
    after = (data_dir / "sft_train.jsonl").read_bytes(), (data_dir / "sft_eval.jsonl").read_bytes()
    assert after == before

    # Editing one record (new content hash) costs exactly one call.
    rows = list(read_jsonl(data_dir / "cleaned_corpus.jsonl"))
    edited = SourceRecord.from_dict(
        {**rows[0], "text": rows[0]["text"] + "\n\nEdited.", "content_hash": ""}
    )
    write_jsonl(data_dir / "cleaned_corpus.jsonl", [edited.to_dict(), *rows[1:]])
    server.reset()
    third = run_refine(_settings(server), data_dir)
    assert server.request_count == third.counters["llm_calls"] == 1
    assert server.user_texts()[0].startswith(f"Record {KEYS[0]} ")


def test_max_samples_picks_records_not_yet_synthesized(openai_server, data_dir, corpus_dir):
    server = openai_server(ScriptedLLM(_records(corpus_dir), {}))
    order = sorted(KEYS, key=lambda k: stable_hash(f"jira:{k}"))
    seen = []
    for run in range(3):
        server.reset()
        report = run_refine(_settings(server), data_dir, max_samples=3)
        asked = [_RECORD.search(text).group(1) for text in server.user_texts()]
        assert sorted(asked) == sorted(order[3 * run : 3 * run + 3])
        assert report.counters["cache_hits"] == len(seen)
        assert report.counters["pending"] == max(0, len(KEYS) - len(seen) - 3)
        seen += asked
        assert report.counters["pairs"] == len(seen)
    assert sorted(seen) == sorted(KEYS)


def test_prompt_asks_for_pairs_by_size_and_json(openai_server, data_dir, corpus_dir):
    server = openai_server(ScriptedLLM(_records(corpus_dir), {}))
    run_refine(_settings(server, concurrency=1), data_dir)
    body = server.requests[0]
    assert body["model"] == "deepseek-chat"
    assert body["response_format"] == {"type": "json_object"}
    system = body["messages"][0]["content"]
    assert re.search(r"write exactly [1-5] question/answer pair", system) and "JSON" in system
