"""Start-up: the CLI's help and an unchanged cycle, against the same cycle with eager imports.

Usage: .venv/bin/python bench/startup.py [--data-dir data] [--rounds 5]

Each command runs in a fresh interpreter (as a user's shell starts it), ``--rounds`` times;
printed: the median wall-clock seconds. The data dir must hold a finished run (``make demo``
builds ``data/``), so that ``schedule full-cycle`` finds nothing to do. The baseline runs the
same cycle after importing what the pipeline graph used to import when it loaded (torch,
transformers, peft, sentence-transformers, FAISS, the wash libraries): the price every
cycle and every ``chat -q`` paid before those imports moved to where they are needed.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EAGER = "import tools.lora.infer, tools.index.search, tools.wash.pipeline, tools.loaders.docs"


def median_seconds(command: list[str], rounds: int) -> float:
    """Median wall-clock time of ``command`` over ``rounds`` runs (output discarded)."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    cycle = ["schedule", "full-cycle", "--data-dir", str(args.data_dir.resolve())]
    cli = [str(Path(sys.executable).parent / "data-alchemy")]
    eager = [sys.executable, "-c", f"{EAGER}; import sys, cli; sys.exit(cli.main({cycle!r}))"]
    median_seconds(cli + cycle, 1)  # a changed config or code re-plans once: not timed
    results = {
        "data-alchemy --help": median_seconds([*cli, "--help"], args.rounds),
        "schedule full-cycle, nothing changed": median_seconds(cli + cycle, args.rounds),
        "the same, eager imports (baseline)": median_seconds(eager, args.rounds),
    }
    for name, seconds in results.items():
        print(f"{name:<40} {seconds:6.2f} s")
    ratio = (
        results["the same, eager imports (baseline)"]
        / results["schedule full-cycle, nothing changed"]
    )
    print(f"unchanged cycle: {ratio:.1f}x faster than with eager imports")
    return 0


if __name__ == "__main__":
    sys.exit(main())
