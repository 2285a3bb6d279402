"""Successive halving across a random search's draws: epochs saved and best accuracy lost, per seed.

Paper 000's study (``studies/mnist-mlp-random-search.yaml``) at the Keras Tuner comparison's budget
(5 random trials × 3 epochs, batch 32, 10% validation), on a stratified MNIST slice so that several
seeds fit in minutes, without a pruner and with each pruner of ``--pruners``. The random sampler
draws the same configurations whatever the pruner does (same sampler seed; a pruned trial only
trains fewer epochs), so each seed's pair is exact: a pruner can only lose accuracy by stopping the
trial that would have been best, never find a better one. The table gives, per pruner, epochs
trained, the process CPU seconds (steadier than wall time on a shared machine; one thread), the
best validation accuracy, and how often and by how much it fell below the unpruned study's best.

    OMP_NUM_THREADS=1 python benchmarks/asha_draws.py --data-dir ../shared/data            # 6 seeds
    OMP_NUM_THREADS=1 python benchmarks/asha_draws.py --data-dir ../shared/data --seeds 3 --trials 10
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

import tunelab
from tunelab.provenance import git_commit

STUDY = Path(__file__).resolve().parents[1] / "studies" / "mnist-mlp-random-search.yaml"
PRUNERS = {
    "none": "pruner={name: none}",
    "asha": "pruner={name: asha, min_resource: 1, reduction_factor: 3}",
    "asha-rf2": "pruner={name: asha, min_resource: 1, reduction_factor: 2}",
}


def run(pruner: str, seed: int, args: argparse.Namespace) -> dict:
    overrides = [
        "data.val_fraction=0.1",
        f"data.train_subset={args.train_subset}",
        f"train.epochs={args.epochs}",
        "train.batch_size=32",
        "final=null",
        f"seed={seed}",
        f"train.seed={seed}",
        PRUNERS[pruner],
    ]
    with tempfile.TemporaryDirectory() as out:
        cpu, start = time.process_time(), time.perf_counter()
        result = tunelab.run_study(
            STUDY, n_trials=args.trials, out=Path(out), overrides=overrides, data_dir=args.data_dir
        )
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        trials = result.study.get_trials(deepcopy=False)
        runs = [r for t in trials for r in t.user_attrs.get("tunelab.runs") or []]
        epochs = sum(int(r.get("epochs") or 0) for r in runs)
        best = result.best
    return {"wall": wall, "cpu": cpu, "epochs": epochs, "best": best.value, "number": best.number}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--first-seed", type=int, default=0, help="to spread the seeds over several runs")
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-subset", type=int, default=12_000)
    parser.add_argument(
        "--pruners", default="asha", help=f"comma-separated, against none: {', '.join(PRUNERS)}"
    )
    args = parser.parse_args()
    sides = ["none", *args.pruners.split(",")]
    load = os.getloadavg()[0]
    print(
        f"commit {git_commit()} · torch {torch.__version__} · {torch.get_num_threads()} thread(s) · "
        f"load {load:.1f}"
    )
    print(
        f"paper 000's space, {args.trials} random trials × {args.epochs} epochs, batch 32, "
        f"MNIST slice of {args.train_subset} (10% validation)\n"
    )
    warm = argparse.Namespace(**vars(args) | {"trials": 1, "epochs": 1})
    run("none", 0, warm)  # data loading and first-call costs stay out of the table
    results: dict[str, list[dict]] = {side: [] for side in sides}
    print("| seed | " + " | ".join(f"{s} epochs / best (trial)" for s in sides) + " |")
    print("|---:|" + "---:|" * len(sides))
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for side in sides if seed % 2 == 0 else sides[::-1]:  # alternate, so drift hits all sides
            results[side].append(run(side, seed, args))
        cells = [f"{r[-1]['epochs']} / {r[-1]['best']:.4f} (#{r[-1]['number']})" for r in results.values()]
        print(f"| {seed} | " + " | ".join(cells) + " |", flush=True)

    print(
        "\n| pruner | epochs (mean) | CPU s (mean) | CPU × none | best val (mean) | seeds below none "
        "| mean loss |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    base = results["none"]
    for side, rs in results.items():
        lost = [b["best"] - r["best"] for b, r in zip(base, rs, strict=True)]
        below = sum(x > 1e-9 for x in lost)
        ratio = statistics.mean(r["cpu"] / b["cpu"] for b, r in zip(base, rs, strict=True))
        print(
            f"| {side} | {statistics.mean(r['epochs'] for r in rs):.1f} | "
            f"{statistics.mean(r['cpu'] for r in rs):.1f} | {ratio:.2f} | "
            f"{statistics.mean(r['best'] for r in rs):.4f} | {below}/{len(rs)} | "
            f"{statistics.mean(lost):.4f} |"
        )
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
