"""Training beside other busy processes: the quickstart and a local-workers study, old and new thread policy.

Each measurement is one fresh ``tunelab`` process (OpenMP reads its wait policy when PyTorch loads
it), run quiet, beside one CPU-bound process (``python -c 'while True: pass'``) and beside one such
process per usable core, for each variant:

- ``old``: the source tree of ``--baseline`` (default a347206, the commit before the policy), with no
  OpenMP setting in the environment: libgomp's default, threads spin ~3 ms at every barrier;
- ``new``: this tree (``OMP_WAIT_POLICY=PASSIVE`` from ``tunelab/__init__.py``, threads capped at
  the usable cores);
- ``late`` (quickstart only): this tree, but torch imported before tunelab, so libgomp has read its
  settings before tunelab sets the policy: whether it honours the policy once loaded.

Variants alternate within each repeat, so a noisy neighbour hits all of them. The table shows the
median training seconds (``train_time_s``, the epochs) and the median wall seconds of the whole
command (imports included), and each against the same variant's quiet median.

    python benchmarks/contention.py                                   # quickstart and workers, 3 repeats
    python benchmarks/contention.py --parts quickstart --repeats 5
    python benchmarks/contention.py --baseline main --limit 300
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = REPO / "examples" / "quickstart.yaml"
WORKERS_STUDY = REPO / "studies" / "examples" / "digits-random.yaml"
BUSY = "import os\nparent = os.getppid()\nwhile os.getppid() == parent: pass"  # busy until we exit
OPENMP = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "KMP_BLOCKTIME")
LATE = "import sys, torch; from tunelab.cli import main; sys.argv[0] = 'tunelab'; main()"


def export(rev: str, into: Path) -> Path:
    """The ``src`` folder of commit ``rev``, extracted into ``into``."""
    archive = into / "src.tar"
    with archive.open("wb") as fh:
        subprocess.run(["git", "-C", str(REPO), "archive", rev, "src"], stdout=fh, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def command(variant: str, part: str, out: Path, workers: int) -> list[str]:
    py = [sys.executable, "-c", LATE] if variant == "late" else [sys.executable, "-m", "tunelab.cli"]
    if part == "quickstart":
        return [*py, "train", str(QUICKSTART), "--quiet", "--json", "--out", str(out)]
    return [*py, "run", str(WORKERS_STUDY), "--workers", str(workers), "--quiet", "--out", str(out)]


def measure(variant: str, part: str, src: Path, limit: float, workers: int) -> tuple[float, float]:
    """(training seconds, wall seconds) of one command; inf where it ran past ``limit``."""
    env = {k: v for k, v in os.environ.items() if k not in OPENMP} | {"PYTHONPATH": str(src)}
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        # its own process group: a command cut at the limit takes its worker processes with it
        proc = subprocess.Popen(
            command(variant, part, Path(out) / "run", workers),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        try:
            stdout, _ = proc.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return float("inf"), float("inf")
        wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{variant} {part}: exit code {proc.returncode}")
    if part == "quickstart":
        return json.loads(stdout.strip().splitlines()[-1])["train_time_s"], wall
    return wall, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="a347206", help="the old code's commit (default: a347206)")
    parser.add_argument("--parts", default="quickstart,workers", help="comma-separated: quickstart, workers")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="tunelab run --workers K in the workers part")
    parser.add_argument("--limit", type=float, default=600.0, help="seconds a command may take")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    backgrounds = {"quiet": 0, "beside 1 busy process": 1, f"beside {cores} busy processes": cores}
    load = os.getloadavg()
    print(f"{cores} usable cores · load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at start")
    with tempfile.TemporaryDirectory() as tmp:
        sources = {"old": export(args.baseline, Path(tmp)), "new": REPO / "src", "late": REPO / "src"}
        for part in args.parts.split(","):
            variants = ["old", "new", "late"] if part == "quickstart" else ["old", "new"]
            times: dict[tuple[str, str], list[tuple[float, float]]] = {}
            for repeat in range(args.repeats):
                for background, n_busy in backgrounds.items():
                    busy = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(n_busy)]
                    try:
                        order = variants if repeat % 2 == 0 else variants[::-1]
                        for variant in order:
                            key = (background, variant)
                            result = measure(variant, part, sources[variant], args.limit, args.workers)
                            times.setdefault(key, []).append(result)
                            shown = f"{result[0]:.2f} s ({result[1]:.1f} s wall)"
                            print(
                                f"  {part} · {background} · {variant}: {shown}", file=sys.stderr, flush=True
                            )
                    finally:
                        for proc in busy:
                            proc.kill()
                            proc.wait()
            table(part, args, backgrounds, variants, times)
    load = os.getloadavg()
    print(f"\nload average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end")


def table(
    part: str,
    args: argparse.Namespace,
    backgrounds: dict[str, int],
    variants: list[str],
    times: dict[tuple[str, str], list[tuple[float, float]]],
) -> None:
    """One markdown table: each variant's median seconds and its ratio to quiet, by background."""
    quickstart = part == "quickstart"
    what = (
        f"`tunelab train {QUICKSTART.relative_to(REPO)}`"
        if quickstart
        else f"`tunelab run {WORKERS_STUDY.relative_to(REPO)} --workers {args.workers}`"
    )
    print(f"\n{what}: median of {args.repeats}; old = {args.baseline}, new = this tree")
    kind = "train s" if quickstart else "wall s"
    columns = [f"{v} {kind} (× quiet)" for v in variants] + (
        [f"{v} wall s" for v in variants] if quickstart else []
    )
    print(f"| background | {' | '.join(columns)} |")
    print("|---|" + "---:|" * len(columns))
    quiet = {v: statistics.median(t for t, _ in times[("quiet", v)]) for v in variants}
    for background in backgrounds:
        cells = []
        for v in variants:
            t = statistics.median(t for t, _ in times[(background, v)])
            cells.append(f"{t:.2f} ({t / quiet[v]:.1f}×)" if t < float("inf") else f"> {args.limit:.0f}")
        if quickstart:
            walls = [statistics.median(w for _, w in times[(background, v)]) for v in variants]
            cells += [f"{w:.1f}" if w < float("inf") else f"> {args.limit:.0f}" for w in walls]
        print(f"| {background} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
