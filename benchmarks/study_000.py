"""Paper 000's whole study, end to end: wall time, epochs per second, and a canonical-loop estimate.

Runs ``studies/mnist-mlp-random-search.yaml`` (25 random trials of a 3-5 layer MLP with batch norm,
batch 32, up to 37 epochs with early stopping, and, where the study file asks for it, its winner
again on fresh seeds) with ``tunelab.run_study`` into a temporary output folder, and prints the wall
time, the trials and epochs trained, epochs per second, seconds per trial, the best validation and
test accuracy, device, torch version and commit.

As a reference it times one epoch of the canonical DataLoader loop of ``train_throughput.py`` (a
per-sample ``Dataset``, a shuffling ``DataLoader``, default Adam 1e-3) for the paper's Table-I MLP
(784-448-192-320-128-384-10) at batch 32 on the same data and device, and multiplies it by the number
of epochs the study trained: an *estimate* of the same study in that loop (the study's trials are
other architectures, and the estimate leaves out evaluation, data loading and storage, which the
study's wall time includes). Ratio = estimate / tunelab wall time (above 1: tunelab is faster). The
paper reports 1,073 s for a single training of its final model (on its own hardware), for context.
``--set final=null`` leaves out the final stage (the paper's search had none); with ``--workers K``
the study runs in K processes with the cores split between them, the reference in this one.

    python benchmarks/study_000.py --data-dir ../shared/data
    python benchmarks/study_000.py --data-dir ../shared/data --workers 2
    python benchmarks/study_000.py --data-dir ../shared/data --n-trials 2 --set train.epochs=1 \\
        --set data.train_subset=2000 --threads 1                        # a quick check
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from train_throughput import PAPER_000, canonical_epochs

import tunelab
from tunelab.config import validate_run_config
from tunelab.data import load_splits
from tunelab.errors import TunelabError
from tunelab.provenance import device_name, git_commit
from tunelab.search import Observer, StudySpec, load_study_spec
from tunelab.search.execution import EpochUpdate
from tunelab.train import resolve_device

STUDY = Path(__file__).resolve().parents[1] / "studies" / "mnist-mlp-random-search.yaml"
PAPER_TRAINING_S = 1073  # paper 000: one training of its final model


class Progress(Observer):
    """On stderr, with the seconds since the start: a line per finished trial, and the epoch reached
    every 20 s, so that a run cut short by a time limit still shows how far it got."""

    def __init__(self) -> None:
        self.start = self.shown = time.perf_counter()

    def _line(self, text: str) -> None:
        self.shown = time.perf_counter()
        print(f"{self.shown - self.start:7.1f} s  {text}", file=sys.stderr, flush=True)

    def epoch(self, update: EpochUpdate) -> None:
        if time.perf_counter() - self.shown > 20:
            self._line(f"trial {update.trial}: epoch {update.epoch}/{update.epochs}")

    def trial_finished(self, number: int, outcome: Any, done: int, best: Any) -> None:
        val = (outcome.metrics or {}).get("val_accuracy")
        shown = f"val {val:.4f}" if val is not None else outcome.reason or ""
        self._line(f"trial {number} {outcome.outcome}: {shown} ({done} done)")


def run(args: argparse.Namespace, out: Path) -> Any:
    """The study through ``tunelab.run_study``, or through ``--workers`` local worker processes."""
    if args.workers == 1:
        return tunelab.run_study(
            STUDY,
            n_trials=args.n_trials,
            out=out,
            overrides=args.set,
            data_dir=args.data_dir,
            device=args.device,
            observer=Progress(),
        )
    from tunelab.search.study import StudyResult, open_study
    from tunelab.search.workers import run_local_workers

    handle = open_study(load_study_spec(STUDY, args.set), None, out)
    argv = [str(STUDY), "--storage", handle.url, "--out", str(handle.out_dir)]
    argv += [f"--set={item}" for item in args.set]
    argv += ["--data-dir", str(args.data_dir)] if args.data_dir else []
    argv += ["--n-trials", str(args.n_trials)] if args.n_trials else []
    run_local_workers(handle, args.workers, argv, args.device, Progress())
    return StudyResult(handle)


def canonical_epoch_s(spec: StudySpec, args: argparse.Namespace, device: torch.device) -> float:
    """Seconds of one canonical DataLoader epoch of the Table-I MLP at batch 32 on the study's data."""
    config = validate_run_config(
        {
            "data": spec.data.model_dump(),
            "model": PAPER_000,
            "train": {"batch_size": 32, "optimizer": {"name": "adam", "lr": 1e-3}, "seed": 0},
        },
        "Table-I MLP",
    )
    splits = load_splits(config.data, device=device, data_dir=args.data_dir)
    return canonical_epochs(config, splits, device, epochs=1, fused=False)[0]


def summary(result: Any) -> dict[str, Any]:
    """Trials, runs and epochs trained, and the best search trial and final-stage trial."""
    trials = [t for t in result.study.get_trials(deepcopy=False) if t.user_attrs.get("tunelab.runs")]
    search = [t for t in trials if not t.user_attrs.get("tunelab.final")]
    final = [t for t in trials if t.user_attrs.get("tunelab.final")]
    sign = 1.0 if result.spec.objective.goal == "maximize" else -1.0
    scored = [t for t in search if t.value is not None]
    best = max(scored, key=lambda t: (sign * t.value, -t.number)) if scored else None
    return {
        "search": search,
        "final": final,
        "runs": sum(len(t.user_attrs["tunelab.runs"]) for t in trials),
        "epochs": sum(int(r.get("epochs") or 0) for t in trials for r in t.user_attrs["tunelab.runs"]),
        "best": best,
    }


def metric(trial: Any, name: str) -> str:
    metrics: Mapping[str, float] = (trial.user_attrs.get("tunelab.metrics") or {}) if trial else {}
    value = metrics.get(name)
    if value is None:
        return "—"
    half = metrics.get(f"{name}_ci95")  # a mean over seeds has one; a single run's is NaN
    return f"{value:.4f} ± {half:.4f}" if half and math.isfinite(half) else f"{value:.4f}"


def rows(
    args: argparse.Namespace,
    spec: StudySpec,
    device: torch.device,
    wall: float,
    counts: dict[str, Any],
    epoch_s: float | None,
) -> list[tuple[str, str]]:
    n_trials = len(counts["search"]) + len(counts["final"])
    epochs, best = counts["epochs"], counts["best"]
    where = device_name(device)
    if args.workers > 1:
        threads = max(1, (os.cpu_count() or 1) // args.workers)  # as run_local_workers splits the cores
        where += f"; {args.workers} workers" + (f" of {threads} threads" if device.type == "cpu" else "")
    out = [
        ("study", " ".join([STUDY.name, *(f"--set {s}" for s in args.set)])),
        (
            "budget",
            f"{args.n_trials or spec.budget.n_trials} trials, ≤ {spec.train.epochs} epochs, batch "
            f"{spec.train.batch_size}, final: {spec.final.model_dump() if spec.final else 'none'}",
        ),
        ("wall time (s)", f"{wall:.1f}"),
        (
            "trials",
            f"{len(counts['search'])} search + {len(counts['final'])} final ({counts['runs']} training runs)",
        ),
        ("epochs trained in total", str(epochs)),
        ("epochs/s", f"{epochs / wall:.3f}"),
        ("seconds per trial", f"{wall / max(1, n_trials):.1f}"),
        (
            "best search trial: validation / test accuracy",
            f"#{best.number}: {metric(best, 'val_accuracy')} / {metric(best, 'test_accuracy')}"
            if best
            else "—",
        ),
    ]
    for trial in counts["final"]:
        seeds = len(trial.user_attrs["tunelab.runs"])
        out.append(
            (
                f"final #{trial.number} ({seeds} fresh seeds): validation / test accuracy",
                f"{metric(trial, 'val_accuracy')} / {metric(trial, 'test_accuracy')}",
            )
        )
    out += [("device", where), ("torch", torch.__version__), ("commit", str(git_commit()))]
    if epoch_s is not None:
        estimate = epoch_s * epochs
        out += [
            ("canonical DataLoader epoch, Table-I MLP, batch 32 (s)", f"{epoch_s:.2f}"),
            (f"estimate: canonical loop for the same {epochs} epochs (s)", f"{estimate:.1f}"),
            ("ratio: estimate / tunelab wall time", f"{estimate / wall:.2f}×"),
        ]
    out.append(("paper 000: one training of its final model (s, its own hardware)", f"{PAPER_TRAINING_S:,}"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="the mnist folder, or its parent")
    parser.add_argument("--device", default=None, help="default: the study's (auto)")
    parser.add_argument("--n-trials", type=int, default=None, help="default: the study's 25")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a study setting, e.g. train.epochs=3 (repeatable)",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="local worker processes (tunelab run --workers)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, default=None, help="keep the study here (default: a temp folder)")
    parser.add_argument("--no-reference", action="store_true", help="skip the canonical DataLoader epoch")
    args = parser.parse_args()
    if args.n_trials is not None and args.n_trials < 1:
        parser.error("--n-trials must be at least 1")
    if args.workers < 1:
        parser.error("--workers must be at least 1")

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        spec = load_study_spec(STUDY, args.set)  # validates the overrides before anything runs
    except TunelabError as exc:
        parser.exit(2, f"error: {exc}\n")
    device = resolve_device(args.device or spec.train.device)
    with tempfile.TemporaryDirectory(prefix="tunelab-study-000-") as tmp:
        out = args.out or Path(tmp) / spec.name
        start = time.perf_counter()
        result = run(args, out)
        wall = time.perf_counter() - start
        counts = summary(result)  # before the temporary folder, and the study's storage in it, goes
    epoch_s = None if args.no_reference else canonical_epoch_s(spec, args, device)
    print("| | |\n|---|---|")
    for key, value in rows(args, spec, device, wall, counts, epoch_s):
        print(f"| {key} | {value} |")


if __name__ == "__main__":
    main()
