"""Paper 000's search in Keras Tuner and in tunelab, same space, budget, data and machine: wall time,
best validation accuracy, and the time until tunelab first matched Keras Tuner's best.

The space is paper 000's (3-5 layers; per layer Dense(128..512 step 64) -> BatchNormalization ->
activation {relu, tanh, silu} -> Dropout(0.1..0.3 step 0.05); Adam with lr {1e-3, 1e-4}; glorot
weights; pixels / 255), the budget 5 random trials of 3 epochs at batch 32, the data MNIST's 60,000
training images read from the idx files, of which tunelab's stratified 10% (split seed 0) validates:
this script writes that split once and Keras Tuner trains and validates on exactly those images.
Keras Tuner's ``RandomSearch`` (objective val_accuracy, one execution a trial, EarlyStopping and
ReduceLROnPlateau as the paper's notebook; neither acts within 3 epochs) runs in its own virtual
environment, found by ``--kt-venv`` or ``$TUNELAB_KT_VENV``; without one the Keras Tuner side is
skipped with a message saying how to make it:

    python3 -m venv /work/kt-venv
    /work/kt-venv/bin/pip install keras-tuner==1.4.8 tensorflow-cpu==2.21.0 tensorboard==2.21.0

tunelab runs ``tunelab run studies/mnist-mlp-random-search.yaml`` (a fresh process, as a user would)
with the same budget, in each variant of ``--variants`` (each lever on its own):

- ``tunelab``: as the study file says (one process; a small step trains with one thread);
- ``threads2``: ``--threads 2``: two threads a step, the default before the thread count followed
  the step's size (not run unless named: it is the slowest);
- ``workers2``: ``--workers 2``: two worker processes, two trials at a time (``--workers auto`` on
  a 2-core machine);
- ``asha``: successive halving across the random draws (``pruner: asha``, 1 epoch minimum, factor 3);
- ``asha+workers2``: both.

Each seed runs every side once (Keras Tuner's tuner seed and ``keras.utils.set_random_seed``;
tunelab's sampler seed and ``train.seed``), sides alternating; the table shows mean ± 95% CI (t) over
the seeds: process wall time (imports and data loading included), best validation accuracy, the
ratio of Keras Tuner's wall time to each tunelab variant's, and the seconds from tunelab's start
until the first of its trials that reached the same seed's Keras Tuner best finished.

    python benchmarks/peer_keras_tuner.py --data-dir ../shared/data                  # 3 seeds, all variants
    python benchmarks/peer_keras_tuner.py --data-dir ../shared/data --seeds 1 --variants tunelab,asha+workers2
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
STUDY = REPO / "studies" / "mnist-mlp-random-search.yaml"
PIN = "keras-tuner==1.4.8 tensorflow-cpu==2.21.0 tensorboard==2.21.0"  # Keras Tuner imports tensorboard
BATCH, VAL_FRACTION = 32, 0.1
OPENMP = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")  # tunelab's, set in this process: not Keras's business
VARIANTS: dict[str, list[str]] = {
    "tunelab": [],
    "threads2": ["--threads", "2"],  # the default before a small step trained with one thread
    "workers2": ["--workers", "2"],
    "asha": ["--set", "pruner={name: asha, min_resource: 1, reduction_factor: 3}"],
    "asha+workers2": ["--set", "pruner={name: asha, min_resource: 1, reduction_factor: 3}", "--workers", "2"],
}


# ------------------------------------------------------------------------- Keras Tuner (its own venv)
def keras_child(split: Path, seed: int, work: Path, trials: int, epochs: int) -> None:
    """Run in the Keras Tuner venv: the search on the saved split; print its result as JSON."""
    start = time.perf_counter()
    import keras
    import keras_tuner as kt
    import numpy as np

    data = np.load(split)
    x_train, y_train, x_val, y_val = (data[k] for k in ("x_train", "y_train", "x_val", "y_val"))
    keras.utils.set_random_seed(seed)

    def build(hp: Any) -> Any:
        model = keras.Sequential([keras.Input((784,))])
        for i in range(hp.Int("num_layers", 3, 5)):
            model.add(keras.layers.Dense(hp.Int(f"units_{i}", 128, 512, step=64)))
            model.add(keras.layers.BatchNormalization())
            model.add(keras.layers.Activation(hp.Choice(f"activation_{i}", ["relu", "tanh", "silu"])))
            model.add(keras.layers.Dropout(hp.Float(f"dropout_{i}", 0.1, 0.3, step=0.05)))
        model.add(keras.layers.Dense(10, activation="softmax"))
        lr = hp.Choice("learning_rate", [1e-3, 1e-4])
        model.compile(keras.optimizers.Adam(lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    tuner = kt.RandomSearch(
        build, objective="val_accuracy", max_trials=trials, seed=seed, directory=str(work), project_name="000"
    )
    callbacks = [
        keras.callbacks.EarlyStopping("val_accuracy", patience=10, restore_best_weights=True),
        keras.callbacks.ReduceLROnPlateau("val_accuracy", factor=0.5, patience=3, min_lr=1e-6),
    ]
    searching = time.perf_counter()
    tuner.search(
        x_train,
        y_train,
        epochs=epochs,
        batch_size=BATCH,
        validation_data=(x_val, y_val),
        callbacks=callbacks,
        verbose=0,
    )
    done = time.perf_counter()
    best = tuner.oracle.get_best_trials(1)[0]
    versions = {"keras": keras.__version__, "keras_tuner": kt.__version__}
    result = {"best": float(best.score), "search_s": done - searching, "setup_s": searching - start}
    print(json.dumps(result | versions))


def write_split(data_dir: Path | None, path: Path, subset: int | None) -> None:
    """tunelab's MNIST split (stratified 10% validation, pixels / 255), flattened, for Keras."""
    import numpy as np

    from tunelab.config import DataConfig
    from tunelab.data import load_splits

    config = DataConfig(name="mnist", val_fraction=VAL_FRACTION, normalize="unit", train_subset=subset)
    splits = load_splits(config, data_dir=data_dir)
    arrays = {
        "x_train": splits.x_train.reshape(len(splits.y_train), -1).numpy(),
        "y_train": splits.y_train.numpy(),
        "x_val": splits.x_val.reshape(len(splits.y_val), -1).numpy(),
        "y_val": splits.y_val.numpy(),
    }
    np.savez(path, **arrays)


def idx_images(path: Path) -> int:
    """The number of images in an idx file (a check that the data directory is MNIST's)."""
    with gzip.open(path) as fh:
        return int.from_bytes(fh.read(8)[4:8], "big")


def run_keras(python: Path, split: Path, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as work:
        env = {k: v for k, v in os.environ.items() if k not in OPENMP}
        env |= {"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ""}
        start = time.perf_counter()
        cmd = [str(python), __file__, "--keras-child", str(split), "--seed", str(seed), "--work", work]
        cmd += ["--trials", str(args.trials), "--epochs", str(args.epochs)]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"Keras Tuner failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]) | {"wall": wall}


# ------------------------------------------------------------------------------------------ tunelab
def run_tunelab(variant: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """``tunelab run`` of paper 000's study at the budget above; its wall time, best and trial times."""
    from tunelab.search import load_study
    from tunelab.search.record import TrialRecord

    overrides = [
        f"data.val_fraction={VAL_FRACTION}",
        f"train.epochs={args.epochs}",
        f"train.batch_size={BATCH}",
        "final=null",
        f"seed={seed}",
        f"train.seed={seed}",
    ] + ([f"data.train_subset={args.train_subset}"] if args.train_subset else [])
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "tunelab.cli", "run", str(STUDY), "--n-trials", str(args.trials)]
        cmd += ["--out", out, "--quiet", *[a for o in overrides for a in ("--set", o)], *VARIANTS[variant]]
        cmd += ["--data-dir", str(args.data_dir)] if args.data_dir else []
        env = os.environ | {"PYTHONPATH": str(REPO / "src")}
        began = time.time()
        start = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        trials = load_study(out).study.get_trials(deepcopy=False)
        records = [(t, TrialRecord.from_trial(t)) for t in trials]
        finished = sorted(
            (t.datetime_complete.timestamp() - began, t.value, r.outcome)
            for t, r in records
            if t.datetime_complete
        )
        epochs = sum(int(run.get("epochs") or 0) for _, r in records for run in r.runs)
    values = [v for _, v, outcome in finished if outcome == "completed" and v is not None]
    return {"wall": wall, "best": max(values), "finished": finished, "epochs": epochs}


def matched_after(finished: list[tuple[float, Any, Any]], target: float) -> float | None:
    """Seconds from the start until the first completed trial that reached ``target`` finished."""
    for at, value, outcome in finished:
        if outcome == "completed" and value is not None and value >= target:
            return at
    return None


# ------------------------------------------------------------------------------------------- table
def mean_ci(values: list[float]) -> str:
    from tunelab.stats import mean_ci as stats

    if not values:
        return "—"
    mean, _, half = stats(values)
    return f"{mean:.1f} ± {half:.1f}" if len(values) > 1 else f"{mean:.1f}"


def accuracy(values: list[float]) -> str:
    from tunelab.stats import mean_ci as stats

    mean, _, half = stats(values)
    return f"{mean:.4f} ± {half:.4f}" if len(values) > 1 else f"{mean:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="holds mnist/ (default: tunelab's)")
    parser.add_argument("--kt-venv", type=Path, default=os.environ.get("TUNELAB_KT_VENV"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-subset", type=int, default=None, help="a quick check: fewer training images")
    parser.add_argument(
        "--variants",
        default=",".join(v for v in VARIANTS if v != "threads2"),
        help=f"comma-separated: {', '.join(VARIANTS)}",
    )
    parser.add_argument("--keras-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.keras_child:
        keras_child(args.keras_child, args.seed, args.work, args.trials, args.epochs)
        return
    variants = args.variants.split(",")
    if unknown := [v for v in variants if v not in VARIANTS]:
        parser.error(f"--variants: unknown {', '.join(unknown)}; expected some of {', '.join(VARIANTS)}")
    python = args.kt_venv / "bin" / "python" if args.kt_venv else None
    if python is None or not python.is_file():
        print(
            f"Keras Tuner skipped: no virtual environment at {args.kt_venv or '$TUNELAB_KT_VENV (unset)'}; "
            f"make one with `python3 -m venv DIR && DIR/bin/pip install {PIN}` and pass --kt-venv DIR"
        )
        python = None

    sys.path.insert(0, str(REPO / "src"))
    from tunelab.provenance import git_commit

    if args.data_dir:
        n = idx_images(args.data_dir / "mnist" / "train-images-idx3-ubyte.gz")
        assert n == 60000, f"{args.data_dir}/mnist: {n} training images, expected 60000"
    load = os.getloadavg()
    print(
        f"commit {git_commit()} · {os.cpu_count()} CPUs · load average {load[0]:.2f} {load[1]:.2f} at start"
    )
    subset = f" of {args.train_subset} training images" if args.train_subset else ""
    print(f"paper 000's space, {args.trials} random trials × {args.epochs} epochs, batch {BATCH}, ", end="")
    print(f"{VAL_FRACTION:.0%} validation{subset}")
    results: dict[str, list[dict[str, Any]]] = {
        name: [] for name in (["keras_tuner"] if python else []) + variants
    }
    with tempfile.TemporaryDirectory() as tmp:
        split = Path(tmp) / "split.npz"
        if python:
            write_split(args.data_dir, split, args.train_subset)
        for seed in range(args.seeds):
            sides = list(results)
            for side in sides if seed % 2 == 0 else sides[::-1]:  # alternate, so drift hits all sides
                if side == "keras_tuner":
                    result = run_keras(python, split, seed, args)  # type: ignore[arg-type]
                else:
                    result = run_tunelab(side, seed, args)
                results[side].append(result)
                shown = f"{result['wall']:.1f} s, best val {result['best']:.4f}"
                print(f"  seed {seed} {side}: {shown}", file=sys.stderr, flush=True)
    table(results, args.trials * args.epochs)
    if python:
        versions = results["keras_tuner"][0]
        print(f"\nKeras Tuner {versions['keras_tuner']}, Keras {versions['keras']} (TensorFlow CPU)")
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} at the end")


def table(results: dict[str, list[dict[str, Any]]], budget: int) -> None:
    n = len(next(iter(results.values())))
    print(f"\nmean ± 95% CI over {n} seeds\n")
    columns = ["wall (s)", "best val accuracy", "epochs", "KT wall / this", "matched KT's best after (s)"]
    print(f"| side | {' | '.join(columns)} |")
    print("|---|---:|---:|---:|---:|---:|")
    kt = results.get("keras_tuner")
    for side, runs in results.items():
        walls = [r["wall"] for r in runs]
        ratio, matched, epochs = "—", "—", "—"
        if side != "keras_tuner":
            epochs = mean_ci([float(r["epochs"]) for r in runs])
            if kt:
                ratio = mean_ci([k["wall"] / r["wall"] for k, r in zip(kt, runs, strict=True)]) + "×"
                times = [matched_after(r["finished"], k["best"]) for k, r in zip(kt, runs, strict=True)]
                reached = [t for t in times if t is not None]
                matched = f"{mean_ci(reached)} ({len(reached)}/{len(times)} seeds)"
        else:
            epochs = str(budget)
        cells = [mean_ci(walls), accuracy([r["best"] for r in runs]), epochs, ratio, matched]
        print(f"| {side} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
