"""Paper 000's search at the Keras Tuner comparison's budget, this checkout against another, as the
user runs it (``tunelab run``, a fresh process each): CPU seconds of each process (user + system,
steadier than wall time on a shared machine), wall seconds, epochs and the best validation accuracy,
old and new alternating. The same seed gives the same trials in both, so the bests must match.

    git worktree add /tmp/old e4dd71e
    OMP_NUM_THREADS=1 python benchmarks/study_cpu.py --old /tmp/old/src --data-dir ../shared/data \\
        --train-subset 12000
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STUDY = REPO / "studies" / "mnist-mlp-random-search.yaml"


def once(src: Path, args: argparse.Namespace, seed: int) -> dict:
    overrides = [
        "data.val_fraction=0.1",
        f"train.epochs={args.epochs}",
        "train.batch_size=32",
        "final=null",
        f"seed={seed}",
        f"train.seed={seed}",
    ]
    overrides += [f"data.train_subset={args.train_subset}"] if args.train_subset else []
    overrides += [f"pruner={args.pruner}"] if args.pruner else []
    with tempfile.TemporaryDirectory() as out:
        cmd = [
            sys.executable,
            "-m",
            "tunelab.cli",
            "run",
            str(STUDY),
            "--n-trials",
            str(args.trials),
            "--out",
            out,
            "--quiet",
            *[a for o in overrides for a in ("--set", o)],
        ]
        cmd += ["--data-dir", str(args.data_dir)] if args.data_dir else []
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(cmd, env=os.environ | {"PYTHONPATH": str(src)}, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        sys.path.insert(0, str(REPO / "src"))
        from tunelab.search import load_study

        trials = load_study(out).study.get_trials(deepcopy=False)
        values = [t.value for t in trials if t.value is not None]
        epochs = sum(
            int(r.get("epochs") or 0) for t in trials for r in t.user_attrs.get("tunelab.runs") or []
        )
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"cpu": cpu, "wall": wall, "best": max(values), "epochs": epochs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, required=True, help="the src folder to compare with")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--train-subset", type=int, default=None)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument(
        "--pruner", default=None, help="e.g. '{name: asha, min_resource: 1, reduction_factor: 3}'"
    )
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    print(
        f"load {os.getloadavg()[0]:.1f} · {args.trials} trials × {args.epochs} epochs, batch 32, "
        f"train subset {args.train_subset or 'all'}, pruner {args.pruner or 'as the study says'}\n"
    )
    runs: dict[str, list[dict]] = {"old": [], "new": []}
    for r in range(args.repeats):
        for side in ("old", "new") if r % 2 == 0 else ("new", "old"):
            res = once(args.old if side == "old" else REPO / "src", args, seed=0)
            runs[side].append(res)
            print(
                f"  {side}: {res['cpu']:.1f} CPU s, {res['wall']:.1f} s wall, {res['epochs']} epochs, "
                f"best {res['best']:.4f}",
                file=sys.stderr,
                flush=True,
            )
    print("| side | CPU s (median) | wall s (median) | epochs | best val |\n|---|---:|---:|---:|---:|")
    for side, rs in runs.items():
        print(
            f"| {side} | {statistics.median(r['cpu'] for r in rs):.1f} | "
            f"{statistics.median(r['wall'] for r in rs):.1f} "
            f"| {rs[0]['epochs']} | {rs[0]['best']:.4f} |"
        )
    ratio = [o["cpu"] / n["cpu"] for o, n in zip(runs["old"], runs["new"], strict=True)]
    print(
        f"\nold / new CPU: {statistics.median(ratio):.3f}× (pairs {min(ratio):.3f}–{max(ratio):.3f}); "
        f"load {os.getloadavg()[0]:.1f} at the end"
    )


if __name__ == "__main__":
    main()
