"""Trials per second of a batched population against training the same trials one by one.

16 trials of one MLP shape that differ in learning rate and seed (a grid, or repeats) train first
one after another with ``train()``, then together with ``train_population()``, in this process on
the same device and thread count. Both use plain SGD with momentum so the arithmetic is the same.

    python benchmarks/population.py                                     # digits, seconds
    python benchmarks/population.py --dataset mnist --data-dir ../shared/data --train-subset 10000
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from tunelab.config import validate_run_config
from tunelab.data import load_splits
from tunelab.provenance import device_name, git_commit
from tunelab.train import resolve_device, train
from tunelab.train.population import train_population


def configs(args: argparse.Namespace, hidden: list[int]) -> list:
    lrs = [10 ** (-3 + 2 * i / (args.members - 1)) for i in range(args.members)]
    return [
        validate_run_config(
            {
                "data": {"name": args.dataset, "train_subset": args.train_subset},
                "model": {"kind": "mlp", "hidden": hidden},
                "train": {
                    "epochs": args.epochs,
                    "batch_size": args.batch_size,
                    "optimizer": {"name": "sgd", "lr": lr, "momentum": 0.9},
                    "seed": i,
                    "device": args.device,
                },
            }
        )
        for i, lr in enumerate(lrs)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--train-subset", type=int, default=None)
    parser.add_argument("--members", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)

    print(f"device: {device_name(device)} · torch {torch.__version__} · commit {git_commit()}")
    print(
        f"{args.members} trials × {args.epochs} epochs, batch {args.batch_size}, SGD momentum 0.9, "
        f"lr 1e-3…1e-1, {args.dataset} (train subset {args.train_subset or 'all'})\n"
    )
    print("| MLP | one by one (s) | population (s) | trials/s one by one | trials/s population | ratio |")
    print("|---|---:|---:|---:|---:|---:|")
    for hidden in ([64], [256, 128], [448, 192, 320, 128, 384]):
        runs = configs(args, hidden)
        splits = load_splits(runs[0].data, device=device, data_dir=args.data_dir)
        train(runs[0], splits)  # warm up: first-call costs stay out of both timings
        train_population(runs[:2], splits)
        start = time.perf_counter()
        for cfg in runs:
            train(cfg, splits)
        alone = time.perf_counter() - start
        start = time.perf_counter()
        train_population(runs, splits)
        together = time.perf_counter() - start
        shape = "-".join(map(str, hidden))
        n = len(runs)
        print(
            f"| {shape} | {alone:.2f} | {together:.2f} | {n / alone:.2f} | {n / together:.2f} | "
            f"{alone / together:.2f}x |"
        )


if __name__ == "__main__":
    main()
