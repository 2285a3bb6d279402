"""Could populations grouped by similar width pay on a CPU for paper 000's search? Op counts and the
best case measured.

A padded population (``tunelab.train.padding``) makes every member compute the population's widest
layer at its deepest depth. Part 1 counts, for draws from paper 000's space (as
``population.py``'s ``space_000``: 3-5 layers of 128..512 units, step 64), the multiply-adds a step
of the padded members against their own, for one population of all draws and for the best grouping
by width (every partition of the draws into populations of at least two, the one with the fewest
padded multiply-adds): a count, the same on any machine. Part 2 measures the best case a grouping
could reach, a population of exactly equal shapes (no padding at all) against the same runs one by
one, CPU seconds of this process (one thread), alternating, on an MNIST slice. Grouping can pay
only where part 2's speed-up exceeds part 1's padding factor.

    OMP_NUM_THREADS=1 python benchmarks/width_groups.py --data-dir ../shared/data
"""

from __future__ import annotations

import tunelab  # noqa: F401  first: OpenMP's wait policy before torch loads it

# isort: split

import argparse
import itertools
import random
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from tunelab.config import validate_run_config
from tunelab.data import load_splits
from tunelab.provenance import git_commit
from tunelab.train import train
from tunelab.train.population import train_population

IN, OUT = 784, 10


def draws(n: int, seed: int) -> list[list[int]]:
    rng = random.Random(seed)
    return [[rng.randrange(128, 513, 64) for _ in range(rng.randint(3, 5))] for _ in range(n)]


def macs(hidden: list[int]) -> int:
    """Multiply-adds of one image through an MLP of these hidden widths."""
    sizes = [IN, *hidden, OUT]
    return sum(a * b for a, b in itertools.pairwise(sizes))


def padded(group: list[list[int]]) -> int:
    """A padded population's multiply-adds an image, all members: each the widest at the deepest."""
    width, depth = max(max(h) for h in group), max(len(h) for h in group)
    return len(group) * macs([width] * depth)


def partitions(items: list[int]) -> Iterator[list[list[int]]]:
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in partitions(rest):
        for i in range(len(part)):
            yield [*part[:i], [first, *part[i]], *part[i + 1 :]]
        yield [[first], *part]


def best_grouping(nets: list[list[int]]) -> tuple[float, list[list[int]]]:
    own = sum(macs(h) for h in nets)
    best = min(
        (p for p in partitions(list(range(len(nets)))) if all(len(g) >= 2 for g in p)),
        key=lambda p: sum(padded([nets[i] for i in g]) for g in p),
    )
    return sum(padded([nets[i] for i in g]) for g in best) / own, best


def config(hidden: list[int], seed: int, args: argparse.Namespace):
    return validate_run_config(
        {
            "data": {
                "name": "mnist",
                "val_fraction": 0.1,
                "normalize": "unit",
                "train_subset": args.train_subset,
            },
            "model": {"kind": "mlp", "hidden": hidden, "batch_norm": True, "dropout": 0.2},
            "train": {
                "epochs": args.epochs,
                "batch_size": 32,
                "device": "cpu",
                "seed": seed,
                "optimizer": {"name": "adam", "lr": 1e-3, "eps": 1e-7},
            },
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--trials", default="5,8", help="draws a search makes (comma-separated)")
    parser.add_argument("--members", default="2,5", help="population sizes to measure")
    parser.add_argument("--train-subset", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parts", default="count,measure")
    args = parser.parse_args()
    print(f"commit {git_commit()} · torch {torch.__version__} · {torch.get_num_threads()} thread(s)\n")
    if "count" in args.parts:
        print(
            "| draws | seed | own MACs an image (M) | one padded population (× own) "
            "| best width grouping (× own) | groups |"
        )
        print("|---:|---:|---:|---:|---:|---|")
        for n in map(int, args.trials.split(",")):
            factors = []
            for seed in range(args.seeds):
                nets = draws(n, seed)
                own = sum(macs(h) for h in nets)
                factor, groups = best_grouping(nets)
                factors.append(factor)
                shown = " ".join("{" + ",".join(str(max(nets[i])) for i in g) + "}" for g in groups)
                print(
                    f"| {n} | {seed} | {own / 1e6:.2f} | {padded(nets) / own:.2f} | {factor:.2f} "
                    f"| widest: {shown} |"
                )
            print(f"| {n} | median | | | {statistics.median(factors):.2f} | |")
    if "measure" in args.parts:
        hidden = [320, 320, 320, 320]
        splits = load_splits(config(hidden, 0, args).data, data_dir=args.data_dir)
        print(
            f"\nexact-shape population (MLP {'-'.join(map(str, hidden))}, Adam, batch norm) "
            "against one by one, "
            f"{args.epochs} epoch(s) of {len(splits.y_train)} images, CPU s\n"
        )
        print("| members | one by one (CPU s) | population (CPU s) | speed-up (median of rounds) |")
        print("|---:|---:|---:|---:|")
        train(config(hidden, 0, args), splits)  # warm-up
        for k in map(int, args.members.split(",")):
            runs = [config(hidden, s, args) for s in range(k)]
            alone, together = [], []
            for r in range(args.rounds):
                for side in ("alone", "together") if r % 2 == 0 else ("together", "alone"):
                    c = time.process_time()
                    if side == "alone":
                        for cfg in runs:
                            train(cfg, splits)
                        alone.append(time.process_time() - c)
                    else:
                        train_population(runs, splits)
                        together.append(time.process_time() - c)
            ratios = [a / t for a, t in zip(alone, together, strict=True)]
            print(
                f"| {k} | {statistics.median(alone):.1f} | {statistics.median(together):.1f} | "
                f"{statistics.median(ratios):.2f}× ({min(ratios):.2f}–{max(ratios):.2f}) |",
                flush=True,
            )


if __name__ == "__main__":
    main()
