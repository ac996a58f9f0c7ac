"""Command line of Data Alchemy: ``data-alchemy`` and its aliases.

Logs go to stderr; results go to stdout (one JSON object with ``--json``). The exit status
is 0 on success and 1 when any stage failed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tools.console import setup_console
from tools.stages import stage_names

log = logging.getLogger("data_alchemy")

ALIASES = {"schedule-sync": "schedule"}
"""Subcommand aliases, as help names them."""
TRAIN_STAGE = "train"
"""The stage of ``data-alchemy train``; ``ingest`` runs the others (``tools.stages``)."""
DEMO_QUESTION = "How do I start the Appcelerator Daemon and check its status?"


def _ingest_stages() -> list[str]:
    return [name for name in stage_names() if name != TRAIN_STAGE]


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        default=None,
        help="where artifacts go (default $DATA_ALCHEMY_DATA_DIR or data/)",
    )
    parser.add_argument(
        "--config", default=None, help="models.yaml to use (default: the project's)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def _sources(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("sources (given, they replace the configured ones)")
    group.add_argument("--jira", action="append", metavar="PATH", help="Jira JSON file/dir/glob")
    group.add_argument("--git", action="append", metavar="REPO", help="git repository path")
    group.add_argument("--docs", action="append", metavar="PATH", help="docs file/dir/glob")


def build_parser() -> argparse.ArgumentParser:
    """The ``data-alchemy`` argument parser with all sub-commands."""
    parser = argparse.ArgumentParser(
        prog="data-alchemy",
        description="Turn Jira, Git and docs into a cited knowledge assistant.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ingest = sub.add_parser(
        "ingest",
        help="wash, refine and index the sources",
        description="Run Agent A (wash, refine) and Agent C (index) on the configured sources. "
        "Stages whose inputs did not change are skipped and the skip is reported.",
    )
    ingest.add_argument("--mode", choices=["python", "spark"], default="python")
    ingest.add_argument("--stage", choices=[*_ingest_stages(), "all"], default="all")
    ingest.add_argument(
        "--synthesis", action="store_true", help="synthesize SFT pairs (the refine stage)"
    )
    ingest.add_argument(
        "--max-samples",
        "--max_samples",
        dest="max_samples",
        type=int,
        default=None,
        metavar="N",
        help="cap on new LLM calls (picks records not yet synthesized)",
    )
    ingest.add_argument("--force", action="store_true", help="run even if inputs are unchanged")
    ingest.add_argument("--rebuild", action="store_true", help="rebuild the index from scratch")
    ingest.add_argument("--json", action="store_true", help="print the run as one JSON object")
    _sources(ingest)
    _common(ingest)

    train = sub.add_parser(
        "train",
        help="train and promote a LoRA adapter",
        description="Run Agent B: train a LoRA adapter on data/sft_train.jsonl; the new "
        "version becomes current only if its eval loss beats the current one's.",
    )
    train.add_argument("--rollback", action="store_true", help="restore the previous adapter")
    train.add_argument("--cpu", action="store_true", help="train on the CPU even with a GPU")
    train.add_argument("--force", action="store_true", help="train even if data is unchanged")
    train.add_argument("--json", action="store_true", help="print the run as one JSON object")
    _common(train)

    chat = sub.add_parser(
        "chat",
        help="ask questions (REPL, or once with --question)",
        description="Answer with retrieved facts (cited as [n]) and the adapter's intuition "
        "(labelled when unverified). Threads keep their history.",
    )
    chat.add_argument("words", nargs="*", metavar="QUESTION", help="the question, as words")
    chat.add_argument("--question", "-q", help="answer this question once and exit")
    chat.add_argument("--thread", help="conversation thread id (default: a new one)")
    chat.add_argument("--top-k", type=int, default=None, help="facts to retrieve")
    chat.add_argument("--no-lora", action="store_true", help="do not ask the adapter")
    chat.add_argument("--json", action="store_true", help="print the whole result as JSON")
    _common(chat)

    evaluate = sub.add_parser("eval", help="evaluate retrieval or answers on a question set")
    eval_sub = evaluate.add_subparsers(dest="target", required=True, metavar="TARGET")
    retrieval = eval_sub.add_parser(
        "retrieval",
        help="hit@1, hit@5, MRR@10, nDCG@10 for dense, BM25 and hybrid",
        description='Questions are JSON Lines {"id", "question", "kind", "gold": [{"source", '
        '"id"}], "facts"} (tools/evalset.py); unanswerable ones are left out.',
    )
    retrieval.add_argument("--k", type=int, default=10)
    answers = eval_sub.add_parser(
        "answers",
        help="facts recall, citation precision, refusals and latency of the chat graph",
        description="Ask every question through the chat graph (the configured finalist) "
        "and score the answers against the reference facts and gold records.",
    )
    for parser_ in (retrieval, answers):
        parser_.add_argument("--questions", required=True, type=Path, metavar="FILE.jsonl")
        parser_.add_argument(
            "--sha-map",
            type=Path,
            metavar="FILE.json",
            help="{original sha: rebuilt sha} of a git history rebuilt from an export "
            "(make_git_repo.py --sha-map), so gold commit ids match the index",
        )
        parser_.add_argument("--json", action="store_true")
        _common(parser_)

    serve = sub.add_parser(
        "serve",
        help="start the REST API (LangServe) and the chat UI",
        description="Serve /chat and /pipeline (invoke, batch, stream, playground), /runs, "
        "/feedback, /metrics and /healthz on the data dir; --ui adds the Chainlit UI at /ui.",
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--certfile", help="TLS certificate (serves HTTPS with --keyfile)")
    serve.add_argument("--keyfile", help="TLS private key")
    serve.add_argument("--ui", action="store_true", help="also serve the Chainlit UI at /ui")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes (share threads and runs through the config's store)",
    )
    _common(serve)

    schedule = sub.add_parser(
        "schedule",
        aliases=["schedule-sync"],
        help="run full cycles once or periodically (alias: schedule-sync)",
        description="full-cycle runs wash, refine, index and train once (only what changed); "
        "schedule repeats it every --interval hours or on a --cron expression.",
    )
    schedule.add_argument("action", choices=["full-cycle", "schedule"])
    schedule.add_argument("--mode", choices=["python", "spark"], default="python")
    schedule.add_argument("--synthesis", action="store_true", help="include SFT synthesis")
    schedule.add_argument("--max-samples", "--max_samples", dest="max_samples", type=int)
    schedule.add_argument("--interval", type=float, metavar="HOURS", help="hours between runs")
    schedule.add_argument("--cron", help='crontab expression, e.g. "0 3 * * *"')
    schedule.add_argument("--json", action="store_true")
    _sources(schedule)
    _common(schedule)

    demo = sub.add_parser(
        "demo",
        help="whole cycle on the bundled sample data, then one question",
        description="Rebuilds the sample git repository, runs wash, refine (offline unless a "
        "key is set), index and train (smoke-test base unless configured), then asks a "
        "question through the chat graph and prints the answer with its sources.",
    )
    demo.add_argument("--question", default=DEMO_QUESTION)
    demo.add_argument("--mode", choices=["python", "spark"], default="python")
    _common(demo)
    return parser


def _context(args: argparse.Namespace):
    from graph.configuration import Context

    data_dir = args.data_dir or os.environ.get("DATA_ALCHEMY_DATA_DIR") or "data"
    config = args.config or os.environ.get("DATA_ALCHEMY_CONFIG") or ""
    return Context(
        data_dir=str(Path(data_dir).resolve()),
        config_file=str(Path(config).resolve()) if config else "",
    )


def _source_overrides(args: argparse.Namespace) -> dict[str, list[str]] | None:
    given = {
        kind: [str(Path(p).resolve()) for p in (getattr(args, kind, None) or [])]
        for kind in ("jira", "git", "docs")
    }
    return given if any(given.values()) else None


def run_pipeline(request: dict[str, Any], ctx) -> dict[str, Any]:
    """Invoke the pipeline graph with ``request`` and return its final state."""
    from graph.pipeline import graph
    from tools.scheduling import run_lock

    with run_lock(ctx.data_path):
        return graph.invoke({k: v for k, v in request.items() if v is not None}, context=ctx)


def _print_run(state: dict[str, Any], as_json: bool) -> int:
    from tools.report import item_lines, summarize

    reports = state.get("reports") or {}
    if as_json:
        print(json.dumps({"status": state.get("status"), "reports": reports}, default=str))
    else:
        for stage in stage_names():
            if stage in reports:
                report = {"in": 0, "out": 0, "skipped": 0, "failed": 0, "seconds": 0.0}
                report |= reports[stage]
                print(summarize(report))
                for line in item_lines(report):
                    print(line, file=sys.stderr)
        print(f"run {state.get('run_id')}: {state.get('status')}")
    return 0 if state.get("status") == "ok" else 1


def cmd_ingest(args: argparse.Namespace) -> int:
    """``data-alchemy ingest``."""
    request = {
        "stages": _ingest_stages() if args.stage == "all" else [args.stage],
        "mode": args.mode,
        "synthesis": args.synthesis,
        "max_samples": args.max_samples,
        "sources": _source_overrides(args),
        "force": args.force,
        "rebuild": args.rebuild,
    }
    return _print_run(run_pipeline(request, _context(args)), args.json)


def cmd_train(args: argparse.Namespace) -> int:
    """``data-alchemy train``."""
    ctx = _context(args)
    if args.rollback:
        from tools.lora.registry import rollback

        report = rollback(ctx.data_path).to_dict()
        report_ = {"status": report["status"], "reports": {TRAIN_STAGE: report}}
        return _print_run(report_, args.json)
    request = {"stages": [TRAIN_STAGE], "force": args.force, "force_cpu": args.cpu}
    return _print_run(run_pipeline(request, ctx), args.json)


def _print_answer(result: dict[str, Any], streamed: bool) -> None:
    if not streamed:
        print(result.get("answer", ""))
    citations = result.get("citations") or []
    if citations:
        print("\nSources:")
        for n, cite in enumerate(citations, 1):
            print(f"  [{n}] {cite['source']} {cite['id']}: {cite['title']} <{cite['uri']}>")
    if result.get("intuition"):
        status = result.get("intuition_status", "")
        print(f"\nThe adapter's intuition ({status}; not a source): {result['intuition']}")


def ask(graph, question: str, thread: str, ctx, stream: bool) -> dict[str, Any]:
    """One chat turn through ``graph``; tokens are printed as they come when ``stream``."""
    config = {"configurable": {"thread_id": thread}}
    final: dict[str, Any] = {}
    streamed = False
    for mode, chunk in graph.stream(
        {"question": question}, config, context=ctx, stream_mode=["custom", "values"]
    ):
        if mode == "custom" and stream and "token" in chunk:
            print(chunk["token"], end="", flush=True)
            streamed = True
        elif mode == "values":
            final = chunk
    if streamed:
        print()
    final["_streamed"] = streamed
    return final


def cmd_chat(args: argparse.Namespace) -> int:
    """``data-alchemy chat``: a REPL, or one answer with ``--question``."""
    from graph.chat import build_chat_graph
    from tools.checkpoints import open_checkpointer
    from tools.questions import QuestionError, check_question

    ctx = _context(args)
    ctx.top_k = args.top_k
    ctx.use_lora = False if args.no_lora else None
    if args.words:
        args.question = " ".join([args.question or "", *args.words]).strip()
    if args.question is not None:
        try:
            check_question(args.question, ctx.settings.chat.max_question_chars)
        except QuestionError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if problem := _missing_index(ctx):  # a read-only command creates nothing
        print(f"error: {problem}", file=sys.stderr)
        return 2
    thread = args.thread or uuid.uuid4().hex[:12]
    with open_checkpointer(ctx.settings.store, ctx.data_path) as saver:
        graph = build_chat_graph(checkpointer=saver)
        if args.question is not None:
            result = ask(graph, args.question, thread, ctx, stream=not args.json)
            if args.json:
                print(json.dumps(chat_payload(result, thread), ensure_ascii=False))
            else:
                _print_answer(result, result["_streamed"])
            return 0
        print(f"thread {thread} - empty line or Ctrl-D to quit", file=sys.stderr)
        for line in sys.stdin:
            if not line.strip():
                break
            result = ask(graph, line.strip(), thread, ctx, stream=True)
            _print_answer(result, result["_streamed"])
            print(file=sys.stderr)
    return 0


def chat_payload(result: dict[str, Any], thread: str) -> dict[str, Any]:
    """The ``chat --json`` object of DESIGN.md."""
    from tools.finalist.answer import ANSWER_KEYS

    payload = {k: result.get(k) for k in ANSWER_KEYS}
    payload.update(
        intuition={"text": result.get("intuition"), "status": result.get("intuition_status")},
        question=result.get("question"),
        standalone_question=result.get("standalone_question"),
        facts=[f["chunk_id"] for f in result.get("facts") or []],
        thread_id=thread,
        timings=result.get("timings"),
    )
    return payload


def _missing_index(ctx) -> str | None:
    """Why a read-only command cannot run on ``ctx``'s data dir (None when it can)."""
    from tools.index.store import index_exists

    if not ctx.data_path.is_dir():
        return f"no data dir at {ctx.data_path}: run `data-alchemy ingest` or `make demo` first"
    if not index_exists(ctx.data_path):
        return f"no index in {ctx.data_path}: run `data-alchemy ingest` first"
    return None


def cmd_eval(args: argparse.Namespace) -> int:
    """``data-alchemy eval retrieval|answers``."""
    from tools.evalset import load_sha_map

    ctx = _context(args)
    for path in (args.questions, args.sha_map):
        if path is not None and not path.is_file():
            print(f"error: file not found: {path}", file=sys.stderr)
            return 2
    if problem := _missing_index(ctx):
        print(f"error: {problem}", file=sys.stderr)
        return 2
    sha_map = load_sha_map(args.sha_map)
    if args.target == "answers":
        result = _eval_answers(ctx, args.questions, sha_map)
    else:
        from tools.index.evaluate import evaluate_retrieval
        from tools.index.search import Retriever

        retriever = Retriever(ctx.settings, ctx.data_path)
        result = evaluate_retrieval(retriever, args.questions, k=args.k, sha_map=sha_map)
    if args.json:
        print(json.dumps(result))
    elif args.target == "answers":
        _print_answer_eval(result)
    else:
        print(f"{'mode':<8} hit@1  hit@5  mrr@10 ndcg@10   (n={result['n']})")
        for mode in ("dense", "bm25", "hybrid"):
            m = result[mode]
            print(
                f"{mode:<8} {m['hit@1']:.3f}  {m['hit@5']:.3f}  {m['mrr@10']:.3f}  "
                f"{m['ndcg@10']:.3f}"
            )
    return 0


def _eval_answers(ctx, questions: Path, sha_map: dict[str, str]) -> dict[str, Any]:
    """Score the chat graph's answers (one new thread per question)."""
    from graph.chat import graph
    from tools.finalist import ANSWER_KEYS, finalist_name
    from tools.finalist.evaluate import evaluate_answers

    def answer(question: str) -> Any:
        state = graph.invoke({"question": question}, context=ctx)
        return {key: state[key] for key in ANSWER_KEYS}

    result = evaluate_answers(answer, questions, sha_map)
    return {"finalist": finalist_name(ctx.settings.model_d), **result}


def _print_answer_eval(result: dict[str, Any]) -> None:
    def figure(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    print(f"finalist {result['finalist']}: {result['n']} questions")
    print(f"{'kind':<13} {'n':>3} facts  cit.prec  false-ref  refusals  wrong")
    for kind, m in [*result["by_kind"].items(), ("all", result)]:
        print(
            f"{kind:<13} {m['n']:>3} {figure(m['facts_recall']):>5}  "
            f"{figure(m['citation_precision']):>8}  {figure(m['false_refusals']):>9}  "
            f"{figure(m['correct_refusals']):>8}  {figure(m['wrong_answers']):>5}"
        )
    latency = result["latency_ms"]
    print(f"latency p50 {latency['p50']:.0f} ms, p95 {latency['p95']:.0f} ms")


def cmd_serve(args: argparse.Namespace) -> int:
    """``data-alchemy serve``: uvicorn workers, each building the app of ``server.py``.

    The settings reach each worker process through its environment (``server:create_app``
    reads them there), so one worker or many serve the same deployment.
    """
    from dataclasses import replace

    import uvicorn

    from server import ServerSettings
    from tools.datadir import DataDir

    if args.workers < 1:
        print("error: --workers needs a number of processes of at least 1", file=sys.stderr)
        return 2
    ctx = _context(args)
    deployment = ServerSettings.from_env()  # key, CORS, body limit: the deployment's
    settings = replace(
        deployment,
        data_dir=ctx.data_path,
        config_file=str(Path(ctx.config_path).resolve()),
        mount_ui=args.ui or deployment.mount_ui,
    )
    os.environ.update(settings.to_env())
    if args.workers > 1 and not ctx.settings.store.database_url:
        log.info(
            "%d workers share threads through the one SQLite file %s (one machine only; "
            "set store.database_url for PostgreSQL)",
            args.workers,
            DataDir(ctx.data_path).checkpoints,
        )
    scheme = "https" if args.certfile else "http"
    print(
        f"serving on {scheme}://{args.host}:{args.port} with {args.workers} worker(s) "
        "(docs at /docs)",
        file=sys.stderr,
    )
    uvicorn.run(
        "server:create_app",
        factory=True,
        workers=args.workers,
        host=args.host,
        port=args.port,
        ssl_certfile=args.certfile,
        ssl_keyfile=args.keyfile,
        # SIGTERM: stop taking requests, give those in flight (bounded by chat.intuition_*)
        # a few seconds, then exit, rather than wait on any one of them.
        timeout_graceful_shutdown=5,
    )
    return 0


def _cycle_request(args: argparse.Namespace) -> dict[str, Any]:
    """The pipeline request of one full cycle: every stage, only what changed."""
    return {
        "stages": list(stage_names()),
        "mode": args.mode,
        "synthesis": args.synthesis,
        "max_samples": getattr(args, "max_samples", None),
        "sources": _source_overrides(args),
    }


def cmd_schedule(args: argparse.Namespace) -> int:
    """``data-alchemy schedule full-cycle|schedule``.

    ``full-cycle`` runs once; its exit status is 0 when the run is ``ok``, 1 when a stage
    failed or SIGTERM/SIGINT stopped it before its next stage, 3 when another run holds the
    data dir. ``schedule`` runs a cycle now and then on ``--interval``/``--cron`` until
    SIGTERM/SIGINT (after the current run), and goes on after failed or refused runs.
    """
    from tools.scheduling import (
        RunInProgress,
        make_trigger,
        run_periodically,
        stop_on_signals,
    )

    ctx = _context(args)
    request = _cycle_request(args)
    if args.action == "full-cycle":
        with stop_on_signals():
            state = run_pipeline(request, ctx)
        return _print_run(state, args.json)
    try:
        trigger = make_trigger(args.interval, args.cron)
    except ValueError as exc:
        raise SystemExit(f"schedule: {exc}") from None

    def cycle() -> int:
        try:
            return _print_run(run_pipeline(request, ctx), args.json)
        except RunInProgress as exc:
            log.warning("run not started: %s", exc)
            return 3
        finally:
            sys.stdout.flush()

    run_periodically(cycle, trigger)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """``data-alchemy demo``: the whole cycle on the sample data, then one question."""
    from tools.sample_data import prepare_sample_sources

    ctx = _context(args)
    ctx.use_lora = True  # show what the freshly trained adapter says, beside the cited answer
    sources = prepare_sample_sources(ctx.settings, ctx.data_path)
    print(f"sample sources: {json.dumps(sources)}", file=sys.stderr)
    request = {
        "stages": list(stage_names()),
        "mode": args.mode,
        "synthesis": True,
        "sources": sources,
        "question": args.question,
    }
    state = run_pipeline(request, ctx)
    code = _print_run(state, as_json=False)
    answer = state.get("answer")
    if answer:
        print(f"\nQ: {args.question}\n")
        _print_answer(answer, streamed=False)
    return code


COMMANDS = {
    "ingest": cmd_ingest,
    "train": cmd_train,
    "chat": cmd_chat,
    "eval": cmd_eval,
    "serve": cmd_serve,
    "schedule": cmd_schedule,
    "demo": cmd_demo,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``data-alchemy``."""
    args = build_parser().parse_args(argv)
    setup_console(args.verbose)
    from tools.config import ConfigError
    from tools.scheduling import RunInProgress

    try:
        return COMMANDS[ALIASES.get(args.command, args.command)](args)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    except RunInProgress as exc:
        print(f"not started: {exc}", file=sys.stderr)
        return 3
    except Exception as exc:  # one line for people; the traceback with --verbose
        if args.verbose:
            raise
        print(f"error: {type(exc).__name__}: {exc} (-v shows the traceback)", file=sys.stderr)
        return 1


def train_lora() -> None:
    """Alias ``train-lora`` = ``data-alchemy train``."""
    sys.exit(main(["train", *sys.argv[1:]]))


def chat() -> None:
    """Alias ``chat`` = ``data-alchemy chat``."""
    sys.exit(main(["chat", *sys.argv[1:]]))


def schedule_sync() -> None:
    """Alias ``schedule-sync`` = ``data-alchemy schedule``."""
    sys.exit(main(["schedule", *sys.argv[1:]]))


def entry() -> None:
    """Console-script entry point of ``data-alchemy``."""
    sys.exit(main())
