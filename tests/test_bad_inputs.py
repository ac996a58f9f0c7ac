"""One bad input is skipped with a reason that names it; the run goes on (issue 18)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import copy_data_dir
from tools.config import Settings, SourcesSettings, WashSettings
from tools.report import StageReport, item_lines
from tools.sample_data import SAMPLE_RAW
from tools.wash import run_wash

BIN = Path(sys.executable).parent
BAD_NAME = os.fsdecode(b"ALOY-2-\xff.json")  # not UTF-8: a lone surrogate in Python


@pytest.fixture(scope="module")
def jira_with_a_bad_name(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("jira")
    shutil.copy(SAMPLE_RAW / "jira" / "DAEMON-187.json", folder)
    shutil.copy(SAMPLE_RAW / "jira" / "DAEMON-57.json", folder / BAD_NAME)
    return folder


@pytest.mark.parametrize("mode", ["python", "spark"])
def test_a_non_utf8_file_name_is_skipped_and_the_rest_washed(
    jira_with_a_bad_name: Path, tmp_path: Path, mode: str
) -> None:
    settings = Settings(wash=WashSettings(spark_master="local[1]"))
    sources = SourcesSettings(jira=[str(jira_with_a_bad_name)])
    report = run_wash(settings, tmp_path, mode=mode, sources=sources).to_dict()
    assert report["status"] == "ok" and report["in"] == 2 and report["out"] == 1
    [skip] = report["skipped_items"]
    assert skip["item"].endswith("ALOY-2-\\xff.json")
    assert skip["reason"] == "file name is not valid UTF-8: rename it"
    json.dumps(report)  # the report (and so the run log) can be written


def test_skips_are_listed_on_the_console_and_kept_whole_in_the_run_log(
    jira_with_a_bad_name: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    command = [str(BIN / "data-alchemy"), "ingest", "--stage", "wash", "--data-dir", str(data)]
    proc = subprocess.run(
        [*command, "--jira", str(jira_with_a_bad_name)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "skipped=1" in proc.stdout
    expected = "file name is not valid UTF-8: rename it"
    assert f"skipped {jira_with_a_bad_name}/ALOY-2-\\xff.json: {expected}" in proc.stderr
    [record] = [json.loads(line) for line in (data / "runs.jsonl").read_text().splitlines()]
    assert record["stages"]["wash"]["skipped_items"][0]["reason"] == expected


def test_the_console_lists_the_first_items_then_a_count() -> None:
    report = StageReport("wash")
    for n in range(12):
        report.skip(f"jira/X-{n}.json", "empty file")
    report.fail("jira:X-99", "clean: ValueError: bad")
    lines = item_lines(report.to_dict(), limit=10)
    assert lines[0] == "  skipped jira/X-0.json: empty file"
    assert lines[10] == "  ... and 2 more skipped (see --json or runs.jsonl)"
    assert lines[11] == "  failed jira:X-99: clean: ValueError: bad"


def test_special_files_and_wrong_field_types_are_skipped_in_words(tmp_path: Path) -> None:
    folder = tmp_path / "jira"
    folder.mkdir()
    shutil.copy(SAMPLE_RAW / "jira" / "DAEMON-57.json", folder)
    issue = json.loads((SAMPLE_RAW / "jira" / "DAEMON-187.json").read_text(encoding="utf-8"))
    issue["key"], issue["fields"]["summary"] = "DAEMON-9001", 123
    (folder / "DAEMON-9001.json").write_text(json.dumps(issue), encoding="utf-8")
    os.mkfifo(folder / "pipe.json")  # reading it would block the wash forever
    (folder / "zero.json").symlink_to("/dev/zero")  # endless bytes, size 0
    sources = SourcesSettings(jira=[str(folder)])
    report = run_wash(Settings(), tmp_path / "data", sources=sources).to_dict()
    assert report["status"] == "ok" and (report["in"], report["out"]) == (4, 1)
    assert report["failed_items"] == []
    reasons = {Path(s["item"]).name: s["reason"] for s in report["skipped_items"]}
    assert reasons == {
        "DAEMON-9001.json#DAEMON-9001": "field `summary` must be text, got a number",
        "pipe.json": "not a regular file (a named pipe)",
        "zero.json": "not a regular file (a character device)",
    }


def test_a_mismatched_index_in_chat_is_one_line_not_a_traceback(built_data_dir, tmp_path):
    data = copy_data_dir(built_data_dir, tmp_path / "data")
    config = tmp_path / "models.yaml"
    config.write_text("model_b:\n  model: sentence-transformers/all-mpnet-base-v2\n", "utf-8")
    command = [str(BIN / "data-alchemy"), "chat", "--data-dir", str(data), "--config", str(config)]
    proc = subprocess.run(
        [*command, "-q", "How do I stop the daemon?"], capture_output=True, text=True
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    [error] = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert "IndexMismatchError" in error and "--rebuild" in error and "-v shows" in error


def test_a_record_over_the_text_limit_is_skipped_naming_the_setting(tmp_path: Path) -> None:
    settings = Settings(wash=WashSettings(max_record_chars=5_000))
    sources = SourcesSettings(docs=[str(SAMPLE_RAW / "docs")])
    report = run_wash(settings, tmp_path, sources=sources).to_dict()
    long = [s for s in report["skipped_items"] if "wash.max_record_chars" in s["reason"]]
    assert long and report["status"] == "ok" and report["out"] > 0
    assert all(s["item"].startswith("docs:") and "> 5,000" in s["reason"] for s in long)
    assert report["out"] + len(long) == report["in"]
