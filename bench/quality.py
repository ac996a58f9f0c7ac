"""Retrieval and answer quality of one project of the full corpus on a question set.

Usage: .venv/bin/python bench/quality.py --project alloy|daemon --questions FILE.jsonl
                                         [--corpus DIR] [--work DIR] [--llm]

1. Builds the project's index in ``--work`` (default ``/tmp/data-alchemy-quality-<project>``;
   ingest is incremental, so a second run embeds nothing): its Jira issues, its git history
   rebuilt from the commit export (``tools.sample_data.rebuild_repo``, which also writes the
   map from the export's shas to the rebuilt ones: gold ids are the export's shas) and its
   docs.
2. ``data-alchemy eval retrieval`` and ``data-alchemy eval answers`` (the configured
   finalist: the extractive one without an API key).
3. With ``--llm``, ``eval answers`` again with the LLM finalist against the local
   OpenAI-compatible test server (``tests/fakes/openai_server.py``), whose scripted model
   answers with the title of the first source and cites it. That row measures the LLM path
   (prompt, citation post-check, refusals made before any call, latency overhead), not a
   language model's quality.

Prints one JSON object: ``{"retrieval", "answers", "answers_llm"?}``. An evaluation, not a
speed benchmark: there is no baseline ratio.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.corpus_arg import add_corpus_argument  # noqa: E402
from tests.fakes.openai_server import FakeOpenAIServer, Reply  # noqa: E402
from tools.sample_data import rebuild_repo  # noqa: E402

PROJECTS = {"alloy": ("ALOY", "alloy"), "daemon": ("DAEMON", "appc-daemon")}
"""Project -> (Jira project key, repository and docs folder name)."""
CLI = str(Path(sys.executable).with_name("data-alchemy"))


def build(corpus: Path, project: str, work: Path) -> Path:
    """Index the project in ``work/data`` (once); return the sha map's path."""
    key, name = PROJECTS[project]
    repo, sha_map = work / name, work / f"{name}.sha-map.json"
    if not sha_map.is_file():
        rebuild_repo(corpus / "git" / f"{name}.commits.jsonl", repo, sha_map=sha_map)
    sources = ["--jira", str(corpus / "jira" / key), "--git", str(repo)]
    sources += ["--docs", str(corpus / "docs" / name)]
    ingest = [CLI, "ingest", "--data-dir", str(work / "data"), *sources]
    subprocess.run(ingest, check=True, stdout=sys.stderr)  # stdout is for the result
    return sha_map


def evaluate(target: str, work: Path, questions: Path, sha_map: Path, *extra: str) -> Any:
    """One ``data-alchemy eval`` run's JSON result."""
    args = [CLI, "eval", target, "--questions", str(questions), "--sha-map", str(sha_map)]
    args += ["--data-dir", str(work / "data"), "--json", *extra]
    return json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)


def first_title(body: dict[str, Any]) -> Reply:
    """The scripted model: the title of source 1, cited."""
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    title = re.search(r"<source id=1>\nref: .*\ntitle: (.*)", user)
    return Reply(text=f"{title.group(1).rstrip('.')} [1]." if title else "I don't know.")


def main() -> int:
    """Build, evaluate, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_corpus_argument(parser)
    parser.add_argument("--project", choices=sorted(PROJECTS), required=True)
    parser.add_argument("--questions", type=Path, required=True)
    parser.add_argument("--work", type=Path, help="index folder (default under /tmp)")
    parser.add_argument("--llm", action="store_true", help="also the LLM finalist path")
    args = parser.parse_args()
    work = args.work or Path(f"/tmp/data-alchemy-quality-{args.project}")
    work.mkdir(parents=True, exist_ok=True)
    sha_map = build(args.corpus, args.project, work)
    result = {
        "retrieval": evaluate("retrieval", work, args.questions, sha_map),
        "answers": evaluate("answers", work, args.questions, sha_map),
    }
    if args.llm:
        config = yaml.safe_load((ROOT / "models.yaml").read_text(encoding="utf-8"))
        with FakeOpenAIServer(first_title) as server:
            config["model_d"] = {"provider": "openai", "base_url": server.base_url, "api_key": "k"}
            (work / "models-llm.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
            extra = ("--config", str(work / "models-llm.yaml"))
            result["answers_llm"] = evaluate("answers", work, args.questions, sha_map, *extra)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
