"""What pruning buys: the same 20-trial random study on an MNIST subset, without and with ASHA.

Both studies draw the same 20 configurations (same sampler seed, same space); ASHA (successive
halving, Optuna's ``SuccessiveHalvingPruner``) stops a trial at 1, 3 or 9 epochs when its validation
accuracy is not in the top third of the trials that reached that epoch. The table shows wall time,
epochs trained and the best validation accuracy each study found, and the ratios.

    python benchmarks/pruning.py --data-dir ../shared/data            # MNIST subset, CPU, minutes
    python benchmarks/pruning.py --dataset digits --train-subset 0    # no download, seconds
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from optuna.trial import TrialState

from tunelab.provenance import device_name, git_commit
from tunelab.search import run_study
from tunelab.train import resolve_device


def study(dataset: str, subset: int | None, epochs: int, pruner: str, trials: int) -> dict:
    return {
        "name": f"pruning-{pruner}",
        "data": {"name": dataset, "val_fraction": 0.1, "normalize": "unit", "train_subset": subset},
        "model": {"kind": "mlp", "hidden": [256, 128]},
        "train": {"epochs": epochs, "batch_size": 64, "optimizer": {"name": "sgd", "momentum": 0.9}},
        "space": {
            "train.optimizer.lr": {"low": 1.0e-5, "high": 1.0, "log": True},
            "model.dropout": {"low": 0.0, "high": 0.5},
            "train.optimizer.momentum": {"low": 0.0, "high": 0.99},
        },
        "strategy": "random",
        "budget": {"n_trials": trials},
        "pruner": {"name": pruner, "min_resource": 1, "reduction_factor": 3},
        "seed": 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--train-subset", type=int, default=10_000, help="0: the whole train split")
    parser.add_argument("--epochs", type=int, default=9)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    rows = []
    warm = study(args.dataset, args.train_subset or None, 1, "none", 1)
    with tempfile.TemporaryDirectory() as out:  # load the data and warm up torch outside the timings
        run_study(warm, out=out, data_dir=args.data_dir, device=args.device)
    for pruner in ("none", "asha"):
        spec = study(args.dataset, args.train_subset or None, args.epochs, pruner, args.trials)
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            result = run_study(spec, out=out, data_dir=args.data_dir, device=args.device)
            wall = time.perf_counter() - start
            trials = result.study.get_trials()
            epochs = sum(len(t.user_attrs["tunelab.runs"][0]["history"]["epoch"]) for t in trials)
            pruned = sum(t.state == TrialState.PRUNED for t in trials)
            rows.append((pruner, wall, epochs, pruned, result.best.value, result.best.number))

    print(f"device: {device_name(resolve_device(args.device))} · commit {git_commit()}")
    print(
        f"{args.trials} random trials, {args.dataset} train subset {args.train_subset or 'all'}, "
        f"up to {args.epochs} epochs, batch 64, SGD; the same configurations in both studies\n"
    )
    print("| pruner | wall time (s) | epochs trained | pruned trials | best val accuracy (trial) |")
    print("|---|---:|---:|---:|---:|")
    for pruner, wall, epochs, pruned, best, number in rows:
        print(f"| {pruner} | {wall:.1f} | {epochs} | {pruned} | {best:.4f} (#{number}) |")
    base, asha = rows
    print(
        f"\nASHA: {base[1] / asha[1]:.2f}x faster, {base[2] / asha[2]:.2f}x fewer epochs, "
        f"best val accuracy {asha[4] - base[4]:+.4f}"
    )


if __name__ == "__main__":
    main()
