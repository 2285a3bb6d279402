"""CPU training with glibc's malloc defaults against tunelab's (freed tensor memory kept mapped).

Each workload runs in two fresh processes side by side, one with ``TUNELAB_KEEP_FREED_MEMORY=0``
(glibc's defaults: large freed blocks go back to the kernel and fault in again at the next step) and
one as tunelab runs by default (``tunelab.train.allocator``); each process warms up first, then
times the workload and counts its minor page faults. Best of ``--repeats``; the two settings
alternate so that a noisy neighbour hits both.

    python benchmarks/cpu_memory.py                                      # digits
    python benchmarks/cpu_memory.py --dataset mnist --data-dir ../shared/data --train-subset 10000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import torch
from population import configs, population_arguments, space_000

from tunelab.data import load_splits
from tunelab.provenance import device_name, git_commit
from tunelab.train import train
from tunelab.train.allocator import keep_freed_memory
from tunelab.train.population import train_population

TABLE_I = [448, 192, 320, 128, 384]  # paper 000's final MLP
WORKLOADS = {
    "MLP 256-128, one by one": ("alone", [256, 128]),
    "MLP 256-128, population": ("population", [256, 128]),
    "Table-I MLP, one by one": ("alone", TABLE_I),
    "Table-I MLP, population": ("population", TABLE_I),
    "000 space, padded population": ("population", None),
}


def child(args: argparse.Namespace) -> None:
    """Run one workload in this process; print its seconds and minor page faults as JSON."""
    how, hidden = WORKLOADS[args.child]
    runs = space_000(args) if hidden is None else configs(args, hidden)
    splits = load_splits(runs[0].data, data_dir=args.data_dir)
    train(runs[0], splits)  # warm up: first-call costs stay out of the timing
    train_population(runs[:2], splits)
    faults, start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
    if how == "alone":
        for run in runs:
            train(run, splits)
    else:
        train_population(runs, splits)
    seconds = time.perf_counter() - start
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    print(json.dumps({"seconds": seconds, "faults": faults, "kept": keep_freed_memory()}))


def measure(name: str, keep: bool, argv: list[str]) -> dict:
    env = dict(os.environ, TUNELAB_KEEP_FREED_MEMORY="1" if keep else "0")
    out = subprocess.run(
        [sys.executable, __file__, "--child", name, *argv],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    population_arguments(parser)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--child", choices=list(WORKLOADS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.device = "cpu"
    if args.child:
        child(args)
        return
    argv = sys.argv[1:]  # each child parses the same options, and --child
    print(f"device: {device_name(torch.device('cpu'))} · torch {torch.__version__} · commit {git_commit()}")
    print(
        f"{args.dataset} (train subset {args.train_subset or 'all'}), {args.epochs} epochs, "
        f"batch {args.batch_size}, best of {args.repeats}\n"
    )
    print("| workload | glibc defaults (s) | page faults | kept (s) | page faults | ratio |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in WORKLOADS:
        runs: dict[bool, list[dict]] = {False: [], True: []}
        for _ in range(args.repeats):
            for keep in (False, True):
                runs[keep].append(measure(name, keep, argv))
        plain, kept = (min(runs[k], key=lambda r: r["seconds"]) for k in (False, True))
        if not kept["kept"]:
            print(f"(this platform keeps glibc's settings: {name} is the same run twice)")
        print(
            f"| {args.members} × {name} | {plain['seconds']:.2f} | {plain['faults']:,} | "
            f"{kept['seconds']:.2f} | {kept['faults']:,} | {plain['seconds'] / kept['seconds']:.2f}× |"
        )


if __name__ == "__main__":
    main()
