"""Trials per second of a batched population against training the same trials one by one.

16 trials of one MLP shape that differ in learning rate and seed (a grid, or repeats) train first
one after another with ``train()``, then together with ``train_population()``, in this process on
the same device and thread count. Both use plain SGD with momentum so the arithmetic is the same.
The last row is paper 000's search space instead: 16 random MLPs (3-5 layers of 128-512 units,
relu/tanh/silu and dropout 0.1-0.3 per layer, batch norm, Adam), all of different shapes, which a
population trains zero-padded to the widest and deepest (``tunelab.train.padding``). The captured
column trains the population again with ``train.compile: reduce-overhead``: on a GPU its whole step
is one CUDA graph replayed per batch; elsewhere the same step runs uncaptured (a check that the
captured path costs nothing there).

    python benchmarks/population.py                                     # digits, seconds
    python benchmarks/population.py --dataset mnist --data-dir ../shared/data --train-subset 10000
"""

from __future__ import annotations

import argparse
import random
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


def space_000(args: argparse.Namespace) -> list:
    """``args.members`` architectures drawn from paper 000's search space (seeded)."""
    rng = random.Random(0)
    runs = []
    for i in range(args.members):
        depth = rng.randint(3, 5)
        model = {
            "kind": "mlp",
            "batch_norm": True,
            "hidden": [rng.randrange(128, 513, 64) for _ in range(depth)],
            "activation": [rng.choice(["relu", "tanh", "silu"]) for _ in range(depth)],
            "dropout": [rng.choice([0.1, 0.15, 0.2, 0.25, 0.3]) for _ in range(depth)],
        }
        train_cfg = {
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "optimizer": {"name": "adam", "lr": rng.choice([1e-3, 1e-4])},
            "seed": i,
            "device": args.device,
        }
        data = {"name": args.dataset, "train_subset": args.train_subset}
        runs.append(validate_run_config({"data": data, "model": model, "train": train_cfg}))
    return runs


def population_arguments(parser: argparse.ArgumentParser) -> None:
    """The options :func:`configs` and :func:`space_000` read (and ``--data-dir``)."""
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--train-subset", type=int, default=None)
    parser.add_argument("--members", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    population_arguments(parser)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)

    print(f"device: {device_name(device)} · torch {torch.__version__} · commit {git_commit()}")
    print(
        f"{args.members} trials × {args.epochs} epochs, batch {args.batch_size}, SGD momentum 0.9, "
        f"lr 1e-3…1e-1, {args.dataset} (train subset {args.train_subset or 'all'})\n"
    )
    print(
        "| MLP | one by one (s) | population (s) | trials/s one by one | trials/s population | ratio "
        "| captured (s) | ratio captured |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    rows = [("-".join(map(str, h)), configs(args, h)) for h in ([64], [256, 128], [448, 192, 320, 128, 384])]
    rows.append(("000 space, 16 shapes, padded", space_000(args)))
    for shape, runs in rows:
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
        graphed = [
            c.model_copy(update={"train": c.train.model_copy(update={"compile": "reduce-overhead"})})
            for c in runs
        ]
        train_population(graphed[:2], splits)
        start = time.perf_counter()
        train_population(graphed, splits)
        captured = time.perf_counter() - start
        n = len(runs)
        print(
            f"| {shape} | {alone:.2f} | {together:.2f} | {n / alone:.2f} | {n / together:.2f} | "
            f"{alone / together:.2f}x | {captured:.2f} | {alone / captured:.2f}x |"
        )


if __name__ == "__main__":
    main()
