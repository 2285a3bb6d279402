"""Start-up of a ``tunelab run`` process (each worker's too): the imports before the first trial,
in fresh processes, this checkout's ``src`` against another's (``--old``), alternating; CPU seconds
of each child (user + system, steadier than wall time on a shared machine) and wall seconds.

    git worktree add /tmp/old e4dd71e   # or any checkout of the commit to compare with
    python benchmarks/startup.py --old /tmp/old/src
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
# what `tunelab run` imports before it trains: the command line, the study and its execution
IMPORTS = "import tunelab.cli, tunelab.search.study, tunelab.search.execution"


def once(src: Path) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    env = os.environ | {"PYTHONPATH": str(src)}
    subprocess.run([sys.executable, "-c", IMPORTS], env=env, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, required=True, help="the src folder to compare with")
    parser.add_argument("--repeats", type=int, default=6)
    args = parser.parse_args()
    runs: dict[str, list[tuple[float, float]]] = {"old": [], "new": []}
    once(SRC)  # warm the page cache
    for r in range(args.repeats):
        for side in ("old", "new") if r % 2 == 0 else ("new", "old"):
            runs[side].append(once(args.old if side == "old" else SRC))
    print(f"load {os.getloadavg()[0]:.1f} · {args.repeats} fresh processes each, alternating\n")
    print("| side | CPU s (median) | wall s (median) |\n|---|---:|---:|")
    for side, rs in runs.items():
        print(
            f"| {side} | {statistics.median(c for c, _ in rs):.2f} | "
            f"{statistics.median(w for _, w in rs):.2f} |"
        )
    ratio = statistics.median(o[0] / n[0] for o, n in zip(runs["old"], runs["new"], strict=True))
    print(f"\nold / new CPU (median of pairs): {ratio:.2f}×")


if __name__ == "__main__":
    main()
