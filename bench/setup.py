"""Set-up from nothing: a plain clone installs from the lock, against resolving the ranges.

Usage: .venv/bin/python bench/setup.py [--demo] [--test]

Clones this repository's HEAD into an empty temporary folder (nothing beside it) and, with
``UV_CACHE_DIR`` and ``PIP_CACHE_DIR`` pointing at empty folders, times in this one run:

1. ``make setup`` in the clone: uv from PyPI, then ``uv pip sync requirements.lock`` and the
   project itself (what ``make demo`` and ``make test`` do first);
2. the baseline: a new venv in the same clone where uv resolves ``pyproject.toml``'s ranges
   itself (``uv pip install -e '.[dev]'``, the CPU torch as a constraint, bytecode compiled
   as setup does), from another empty cache. (pip's own resolver gave up on those ranges
   after 7 min 38 s with ``resolution-too-deep``, so it is not run here.)
3. with ``--demo`` / ``--test``: ``make demo`` and ``make test`` in the clone.

System packages (Java, Chromium) are whatever this machine has; on a new machine apt adds
its own download time to step 1.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Run ``command`` (output kept for failures only) and return its wall-clock seconds."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", action="store_true", help="also time `make demo`")
    parser.add_argument("--test", action="store_true", help="also time `make test`")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-setup-") as tmp:
        work = Path(tmp)
        clone = work / "alone" / "data-alchemy"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        env = {
            **os.environ,
            "UV_CACHE_DIR": str(work / "uv-cache"),
            "PIP_CACHE_DIR": str(work / "pip-cache"),
        }
        env.pop("VIRTUAL_ENV", None)
        locked = timed(["make", "setup"], clone, env)
        print(f"make setup (locked, empty caches): {locked:.1f} s")

        uv = str(clone / ".tools" / "bin" / "uv")
        if not Path(uv).exists():
            uv = "uv"
        torch = subprocess.run(
            ["bash", "-c", "source scripts/toolchain.sh && echo $TORCH_PIN $TORCH_FIND_LINKS"],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        (work / "torch.txt").write_text(torch[0] + "\n")
        baseline_env = {**env, "UV_CACHE_DIR": str(work / "uv-cache-baseline")}
        venv = clone / ".venv-resolved"
        steps = [
            [uv, "venv", "-q", "--python", sys.executable, str(venv)],
            [uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"),
             "--compile-bytecode", "--find-links", torch[1], "-c", str(work / "torch.txt"),
             "-e", ".[dev]"],
        ]  # fmt: skip
        resolved = sum(timed(step, clone, baseline_env) for step in steps)
        print(f"uv resolving pyproject.toml's ranges (baseline, empty cache): {resolved:.1f} s")
        print(f"locked / resolved: {locked / resolved:.2f}x the time")

        for wanted, target in ((args.demo, "demo"), (args.test, "test")):
            if wanted:
                print(f"make {target}: {timed(['make', target], clone, env):.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
