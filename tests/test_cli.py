import subprocess
import sys
from pathlib import Path

import pytest

from cli import build_parser

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["ingest"],
        ["train"],
        ["chat"],
        ["serve"],
        ["schedule"],
        ["eval", "retrieval"],
        ["demo"],
    ],
)
def test_every_command_explains_itself(argv):
    out = subprocess.run(
        [str(BIN / "data-alchemy"), *argv, "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "usage: data-alchemy" in out
    assert len(out.splitlines()) > 5


@pytest.mark.parametrize(
    ("alias", "target"), [("train-lora", "train"), ("chat", "chat"), ("schedule-sync", "schedule")]
)
def test_aliases_are_installed(alias, target):
    out = subprocess.run(
        [str(BIN / alias), "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert f"data-alchemy {target}" in out


def test_ingest_flags_of_the_contract():
    parser = build_parser()
    args = parser.parse_args(
        [
            "ingest",
            "--mode",
            "spark",
            "--stage",
            "wash",
            "--synthesis",
            "--max_samples",
            "7",
            "--jira",
            "a",
            "--jira",
            "b",
            "--git",
            "r",
            "--docs",
            "d",
            "--data-dir",
            "x",
        ]
    )
    assert (args.mode, args.stage, args.synthesis, args.max_samples) == ("spark", "wash", True, 7)
    assert args.jira == ["a", "b"] and args.git == ["r"] and args.docs == ["d"]
    assert parser.parse_args(["ingest", "--max-samples", "3"]).max_samples == 3


def test_config_error_exits_with_a_clear_message(tmp_path):
    bad = tmp_path / "models.yaml"
    bad.write_text("model_b:\n  batch_size: zero\n", encoding="utf-8")
    proc = subprocess.run(
        [str(BIN / "data-alchemy"), "ingest", "--config", str(bad), "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "model_b.batch_size (line 2)" in proc.stderr


def test_help_names_aliases_that_work_and_every_command_has_a_description():
    out = subprocess.run(
        [str(BIN / "data-alchemy"), "schedule-sync", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "full-cycle" in out.stdout
    for command in ("ingest", "train", "chat", "serve", "schedule", "demo"):
        sub = build_parser()._subparsers._group_actions[0].choices[command]
        assert sub.description, command


def test_chat_takes_the_question_as_words_too():
    args = build_parser().parse_args(["chat", "--json", "How", "do", "I", "stop", "it?"])
    assert args.words == ["How", "do", "I", "stop", "it?"] and args.question is None


@pytest.mark.parametrize("question", ["", "   "])
def test_an_empty_question_is_one_line_and_exit_2(question, tmp_path):
    proc = subprocess.run(
        [str(BIN / "data-alchemy"), "chat", "--data-dir", str(tmp_path / "d"), "-q", question],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == "error: the question is empty: send some text"
    assert not (tmp_path / "d").exists()  # nothing created for a refused question


@pytest.mark.parametrize("command", [["chat", "-q", "How do I stop it?"], ["eval", "retrieval"]])
def test_read_only_commands_on_a_missing_data_dir_or_index_say_so_and_create_nothing(
    command, tmp_path
):
    if command[0] == "eval":
        command = [*command, "--questions", str(ROOT / "data" / "eval" / "alloy_tuning.jsonl")]
    missing, empty = tmp_path / "missing", tmp_path / "empty"
    empty.mkdir()
    for data, reason in ((missing, "no data dir at"), (empty, "no index in")):
        proc = subprocess.run(
            [str(BIN / "data-alchemy"), *command, "--data-dir", str(data)],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert proc.stderr.strip().startswith(f"error: {reason} {data}")
    assert not missing.exists() and list(empty.iterdir()) == []
