"""Chat latency: the chat graph with the offline (extractive) finalist, node by node.

Usage: .venv/bin/python bench/chat.py [--data-dir DIR] [--rounds N] [--no-lora | --lora]

Runs on a data dir where ``data-alchemy demo`` ran (default ``data/``; built first when it
has no index). Each of the questions below is asked ``--rounds`` times through the chat
graph (condense -> retrieve -> intuition -> fuse); the script prints p50/p95 of the whole
turn, each node's share of the summed node time, and, as the baseline in this process,
the same work called directly on the tools (hybrid search, the adapter when the graph asked
it, extractive fuse) with no graph, so the ratio is the graph's overhead.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tools.console import setup_console  # noqa: E402

setup_console()

from graph.configuration import Context  # noqa: E402

QUESTIONS = [
    "How do I start the Appcelerator Daemon?",
    "How do I stop the daemon?",
    "What does appcd status print?",
    "Where does the daemon write its pid file?",
    "How can I change a config setting at runtime?",
    "What exit codes can appcd return?",
    "Why does appc appcd start not return to the terminal?",
    "How do I view the daemon's logs?",
    "What environment variables does the daemon read?",
    "What fixed DAEMON-187?",
]


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def ensure_built(data_dir: Path) -> None:
    """Run the demo cycle into ``data_dir`` when it has no index yet."""
    from cli import main as cli_main
    from tools.index.store import index_exists

    if not index_exists(data_dir):
        print(f"building the sample data dir {data_dir} (data-alchemy demo)...", file=sys.stderr)
        if cli_main(["demo", "--data-dir", str(data_dir)]) != 0:
            raise SystemExit("demo failed")


def run_graph(ctx: Context, rounds: int) -> tuple[list[float], dict[str, float], bool]:
    """Whole-turn latencies, summed node times, and whether the graph asked the adapter."""
    from graph.chat import graph

    latencies, nodes, asked = [], {}, False
    for _ in range(rounds):
        for question in QUESTIONS:
            start = time.perf_counter()
            state = graph.invoke({"question": question}, context=ctx)
            latencies.append(time.perf_counter() - start)
            for node, seconds in (state.get("timings") or {}).items():
                nodes[node] = nodes.get(node, 0.0) + seconds
            asked = asked or "intuition" in (state.get("timings") or {})
    return latencies, nodes, asked


def run_tools(ctx: Context, rounds: int, ask_adapter: bool) -> list[float]:
    """The same work called directly on the tools, sequentially, with no graph."""
    from tools.finalist import fuse, sentence_meaning
    from tools.index.search import Retriever
    from tools.lora.infer import get_intuition

    settings = ctx.settings
    retriever = Retriever(settings, ctx.data_path)
    meaning = sentence_meaning(settings)
    adapter = get_intuition(settings, ctx.data_path) if ask_adapter else None
    latencies = []
    for _ in range(rounds):
        for question in QUESTIONS:
            start = time.perf_counter()
            facts = retriever.search(question, k=settings.chat.top_k, mode="hybrid")
            intuition = adapter.generate(question) if adapter else None
            fuse(question, facts, intuition, settings, meaning=meaning)
            latencies.append(time.perf_counter() - start)
    return latencies


def main() -> int:
    """Print p50/p95 of the graph and of the tools baseline, and each node's share."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data")
    parser.add_argument("--rounds", type=int, default=3)
    lora = parser.add_mutually_exclusive_group()
    lora.add_argument("--no-lora", action="store_true", help="never ask the adapter")
    lora.add_argument("--lora", action="store_true", help="ask the adapter on every turn")
    args = parser.parse_args()
    os.environ.pop("DEEPSEEK_API_KEY", None)  # the offline finalist is what is measured
    data_dir = args.data_dir.resolve()
    ensure_built(data_dir)
    ctx = Context(
        data_dir=str(data_dir), use_lora=True if args.lora else False if args.no_lora else None
    )
    assert ctx.settings.model_d.resolved_provider("extractive") == "extractive"

    asked = run_graph(ctx, 1)[2]  # warm-up: model loads and first-call costs are not latency
    run_tools(ctx, 1, asked)
    graph_lat, nodes, asked = run_graph(ctx, args.rounds)
    tools_lat = run_tools(ctx, args.rounds, asked)

    n = len(graph_lat)
    print(f"chat graph, extractive finalist, {n} turns ({len(QUESTIONS)} questions)")
    print(f"  adapter asked: {asked} (chat.use_lora: {ctx.settings.chat.use_lora})")
    for name, lat in (("graph", graph_lat), ("tools baseline", tools_lat)):
        print(
            f"  {name:<15} p50 {percentile(lat, 50) * 1000:7.1f} ms   "
            f"p95 {percentile(lat, 95) * 1000:7.1f} ms   mean {statistics.mean(lat) * 1000:7.1f} ms"
        )
    ratio = statistics.median(graph_lat) / statistics.median(tools_lat)
    print(f"  graph / tools p50 ratio: {ratio:.2f}x")
    total = sum(nodes.values()) or 1.0
    print("  node share of summed node time:")
    for node, seconds in sorted(nodes.items(), key=lambda kv: -kv[1]):
        print(f"    {node:<10} {seconds / total:6.1%}   mean {seconds / n * 1000:7.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
