"""Seconds to evaluate MNIST's 10,000 test images at 4096 images a batch against the default batch.

The two fixed recipes of ``time_to_accuracy.py`` (an MLP of 784-1024-1024-10 and a CNN of three
conv-BN-ReLU blocks), with their initial weights, through ``tunelab.train.evaluate``: once at the
old fixed 4096 images a batch, once at ``eval_batch_size``'s default (on a CPU, as many images as
keep all layers' outputs near 128 MB). Best of three, same process and threads. Ratio = 4096 /
default (above 1: the default is faster).

    python benchmarks/eval_batch.py --data-dir ../shared/data/mnist
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from time_to_accuracy import RECIPES

from tunelab.config import validate_run_config
from tunelab.data import load_splits
from tunelab.models import build_model
from tunelab.provenance import device_name, git_commit
from tunelab.train import evaluate, resolve_device
from tunelab.train.evaluation import eval_batch_size


def best_of_three(model: torch.nn.Module, splits, batch: int) -> float:
    evaluate(model, splits.x_test[:batch], splits.y_test[:batch], splits.n_classes, batch)  # warm-up
    times = []
    for _ in range(3):
        start = time.perf_counter()
        evaluate(model, splits.x_test, splits.y_test, splits.n_classes, batch)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="the mnist folder, or its parent")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)
    print(f"device: {device_name(device)} · torch {torch.__version__} · commit {git_commit()}\n")
    print("| model | 4096 a batch (s) | default batch | default (s) | ratio |")
    print("|---|---:|---:|---:|---:|")
    for name, recipe in RECIPES.items():
        config = validate_run_config({"data": {"name": "mnist"}, "model": recipe["model"]})
        splits = load_splits(config.data, device=device, data_dir=args.data_dir)
        torch.manual_seed(0)
        model = build_model(config.model, splits.input_shape, splits.n_classes).to(device)
        batch = eval_batch_size(model, splits.x_test)
        old, new = best_of_three(model, splits, 4096), best_of_three(model, splits, batch)
        print(f"| {name} | {old:.2f} | {batch} | {new:.2f} | {old / new:.2f}x |")


if __name__ == "__main__":
    main()
