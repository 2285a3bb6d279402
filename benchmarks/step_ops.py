"""ATen calls per training step of a population: what an uncaptured step launches on a GPU.

The two extremes of ``population.py``'s rows (16 same-shape 64-unit MLPs on a learning-rate grid;
16 padded MLPs drawn from paper 000's space) train for one epoch and for three under the torch
profiler; the difference, divided by the extra steps, is the outermost ATen calls a step (each a
kernel launch or a view on a GPU), per-epoch evaluation included. A count, not a timing: the same on
any machine for the same code, so a CPU can say what a GPU's uncaptured step would launch.

    python benchmarks/step_ops.py
"""

from __future__ import annotations

import argparse
import collections
import math

import torch
from population import configs, space_000
from torch.profiler import ProfilerActivity, profile

from tunelab.data import load_splits
from tunelab.provenance import git_commit
from tunelab.train.population import train_population


def calls(runs: list, splits) -> collections.Counter:
    """Outermost ATen calls of training ``runs`` as one population (those no other ATen call made)."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        train_population(runs, splits)
    counted: collections.Counter = collections.Counter()
    for event in prof.events():
        parent = event.cpu_parent
        if event.name.startswith("aten::") and (parent is None or not parent.name.startswith("aten::")):
            counted[event.name] += 1
    return counted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--top", type=int, default=8, help="the most frequent calls to list")
    args = parser.parse_args()
    print(f"torch {torch.__version__} · commit {git_commit()} · digits, batch {args.batch_size}\n")
    print("| population | steps an epoch | ATen calls a step | most frequent (a step) |")
    print("|---|---:|---:|---|")
    for name, build in (("64, 16 lrs", lambda a: configs(a, [64])), ("000 space, padded", space_000)):

        def runs(epochs: int, build=build) -> list:
            spec = argparse.Namespace(
                members=args.members,
                epochs=epochs,
                batch_size=args.batch_size,
                device="cpu",
                dataset="digits",
                train_subset=None,
            )
            return build(spec)

        splits = load_splits(runs(1)[0].data)
        steps = math.ceil(len(splits.y_train) / args.batch_size)
        train_population(runs(1)[:2], splits)  # warm-up
        extra = calls(runs(3), splits) - calls(runs(1), splits)
        per_step = sum(extra.values()) / (2 * steps)
        top = ", ".join(
            f"{op.removeprefix('aten::')} {n / (2 * steps):.0f}" for op, n in extra.most_common(args.top)
        )
        print(f"| {name} | {steps} | {per_step:.0f} | {top} |")


if __name__ == "__main__":
    main()
