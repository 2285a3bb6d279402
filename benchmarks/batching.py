"""One study, trained three ways: trial by trial, in populations of one shape, and padded populations.

Runs a study file with ``tunelab.run_study`` into temporary folders, in this process on one device,
once per mode, and prints wall time, runs and epochs trained, the mean population size and the best
validation score of each, with the speed-up against trial by trial:

- ``one-by-one``: ``population=1``: every run alone (what the papers' scripts did);
- ``exact``: ``population_padding=false``: runs of exactly one architecture share a population;
- ``padded``: ``population_padding=true``: MLPs of any widths, depths, activations and dropout rates
  share one, zero-padded to the largest (the default on a GPU; on a CPU the default pads only MLPs
  whose layers have the same sizes).

The modes train the same configurations (same sampler seed) with the same seeds; members of a
population draw other dropout masks than lone runs, so their scores differ by a little.

    python benchmarks/batching.py studies/mnist-mlp-grid.yaml --data-dir ../shared/data \\
        --set data.train_subset=10000 --set final=null                 # paper 001's grid
    python benchmarks/batching.py studies/examples/digits-deep-mlp.yaml
    python benchmarks/batching.py studies/mnist-mlp-random-search.yaml --data-dir ../shared/data \\
        --device cuda --modes one-by-one,padded                        # paper 000's study on a GPU
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from study_000 import summary

import tunelab
from tunelab.provenance import device_name, git_commit
from tunelab.search import load_study_spec
from tunelab.train import resolve_device

MODES = {
    "one-by-one": ["population=1"],
    "exact": ["population_padding=false"],
    "padded": ["population_padding=true"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", type=Path)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--device", default=None, help="default: the study's (auto)")
    parser.add_argument("--n-trials", type=int, default=None)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated: {', '.join(MODES)}")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    modes = args.modes.split(",")
    if unknown := [m for m in modes if m not in MODES]:
        parser.error(f"--modes: unknown {', '.join(unknown)}; expected some of {', '.join(MODES)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    spec = load_study_spec(args.study, args.set)
    device = resolve_device(args.device or spec.train.device)

    print(f"device: {device_name(device)} · torch {torch.__version__} · commit {git_commit()}")
    print(f"study: {args.study} {' '.join(f'--set {s}' for s in args.set)}\n")
    print("| mode | wall (s) | runs | epochs | mean population | best val (trial) | speed-up |")
    print("|---|---:|---:|---:|---:|---|---:|")
    reference = None
    warm_up = ["train.epochs=1", "final=null", "population=2"]  # first-call costs stay out of the table
    for mode, overrides, n_trials in [("warm-up", warm_up, 2)] + [
        (m, MODES[m], args.n_trials) for m in modes
    ]:
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            result = tunelab.run_study(
                args.study,
                n_trials=n_trials,
                out=Path(out),
                overrides=[*args.set, *overrides],
                data_dir=args.data_dir,
                device=args.device,
            )
            wall = time.perf_counter() - start
            if mode == "warm-up":
                continue
            counts = summary(result)
            runs = [
                r
                for t in result.study.get_trials(deepcopy=False)
                for r in t.user_attrs.get("tunelab.runs") or []
            ]
            population = statistics.mean(r.get("population", 1) for r in runs)
        reference = reference or wall
        best = counts["best"]
        shown = f"{best.value:.4f} (#{best.number})" if best else "—"
        print(
            f"| {mode} | {wall:.1f} | {counts['runs']} | {counts['epochs']} | {population:.1f} | {shown} | "
            f"{reference / wall:.2f}× |",
            flush=True,
        )


if __name__ == "__main__":
    main()
