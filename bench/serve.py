"""Load test of the running API: many concurrent chat clients for a bounded time.

Starts ``uvicorn server:app`` on 127.0.0.1 (a free port) in a subprocess on a built data dir,
warms it up, then drives ``POST /chat/invoke`` with ``--clients`` concurrent httpx clients
for ``--duration`` seconds and prints requests/s, p50/p95/p99 latency and the error count.
The baseline, run first in this process, answers the same questions with the chat graph
called directly (no HTTP, one caller); the ratio shows what serving adds through concurrency.

Usage:
    python bench/serve.py --data-dir DIR [--clients 32] [--duration 20] [--baseline 10]
        [--workers N] [--config models.yaml]

``--config`` sets the deployment (e.g. ``chat.use_lora: true`` to measure intuition on);
``--workers`` starts that many server processes (``data-alchemy serve --workers``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools.console import setup_console  # noqa: E402

setup_console()  # the in-process baseline loads models: no progress bars or library warnings
QUESTIONS = (
    "How do I start the Appcelerator Daemon and check its status?",
    "What does appcd do when the daemon does not return to the terminal?",
    "How do I change a config setting at runtime?",
    "Which command lists the installed appcd plugins?",
    "Where does appcd write its pid file?",
    "How do I get help for an appcd command?",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def baseline(data_dir: Path, config: Path | None, seconds: float) -> tuple[int, float]:
    """Answers per second of the chat graph called in-process by one caller."""
    from graph.chat import build_chat_graph
    from graph.configuration import Context

    graph = build_chat_graph()
    context = Context(data_dir=str(data_dir), config_file=str(config or ""))
    graph.invoke({"question": QUESTIONS[0]}, context=context)  # load models
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        graph.invoke({"question": QUESTIONS[done % len(QUESTIONS)]}, context=context)
        done += 1
    return done, time.perf_counter() - start


def start_server(
    data_dir: Path, config: Path | None, workers: int, port: int, log: Path
) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("DATA_ALCHEMY_API_KEY", None)
    command = [str(Path(sys.executable).with_name("data-alchemy")), "serve", "--port", str(port)]
    command += ["--data-dir", str(data_dir), "--workers", str(workers)]
    command += ["--config", str(config)] if config else []
    with open(log, "w", encoding="utf-8") as out:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True
        )


def wait_ready(proc: subprocess.Popen, base: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with status {proc.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit("server did not become ready")


async def drive(base: str, clients: int, seconds: float) -> tuple[list[float], list[str], float]:
    """Run ``clients`` loops of chat requests for ``seconds``; latencies and errors."""
    latencies: list[float] = []
    errors: list[str] = []
    stop_at = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async with httpx.AsyncClient(base_url=base, timeout=300, limits=limits) as client:

        async def one_client(n: int) -> None:
            turn = n
            while time.perf_counter() < stop_at:
                body = {"input": {"question": QUESTIONS[turn % len(QUESTIONS)]}}
                t0 = time.perf_counter()
                try:
                    response = await client.post("/chat/invoke", json=body)
                    ok = response.status_code == 200 and response.json()["output"]["answer"]
                    if not ok:
                        errors.append(f"HTTP {response.status_code}: {response.text[:200]}")
                except (httpx.HTTPError, KeyError, ValueError) as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                else:
                    latencies.append(time.perf_counter() - t0)
                turn += clients

        start = time.perf_counter()
        await asyncio.gather(*(one_client(n) for n in range(clients)))
        elapsed = time.perf_counter() - start
    return latencies, errors, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="a built data dir")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=20, help="seconds of load")
    parser.add_argument("--baseline", type=float, default=10, help="seconds of baseline")
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    parser.add_argument("--config", type=Path, default=None, help="models.yaml to serve with")
    args = parser.parse_args()
    data_dir = args.data_dir.resolve()
    if not (data_dir / "index").is_dir():
        raise SystemExit(f"{data_dir} has no index: run `data-alchemy demo --data-dir` first")

    base_done, base_seconds = baseline(data_dir, args.config, args.baseline)
    base_rps = base_done / base_seconds
    print(f"baseline (in-process graph, 1 caller): {base_done} answers in {base_seconds:.1f}s")

    port = free_port()
    log = Path(tempfile.mkstemp(prefix="bench-serve-", suffix=".log")[1])
    proc = start_server(data_dir, args.config, args.workers, port, log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(proc, base)
        httpx.post(f"{base}/chat/invoke", json={"input": {"question": QUESTIONS[0]}}, timeout=300)
        latencies, errors, elapsed = asyncio.run(drive(base, args.clients, args.duration))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)

    rps = len(latencies) / elapsed
    print(
        f"server ({args.workers} worker(s), log {log}): {args.clients} clients for "
        f"{elapsed:.1f}s on {os.cpu_count()} CPUs"
    )
    print(f"  requests ok     {len(latencies)}")
    print(f"  errors          {len(errors)}")
    if latencies:
        print(f"  requests/s      {rps:.2f}")
        print(
            f"  latency p50 {percentile(latencies, 50):.3f}s  p95 {percentile(latencies, 95):.3f}s"
            f"  p99 {percentile(latencies, 99):.3f}s  mean {statistics.mean(latencies):.3f}s"
        )
    print(f"baseline answers/s {base_rps:.2f}; server/baseline ratio {rps / base_rps:.2f}x")
    for error in errors[:5]:
        print(f"  error: {error}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
