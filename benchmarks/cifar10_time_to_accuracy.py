"""Time to a target CIFAR-10 test accuracy: tunelab's train() against a canonical DataLoader loop.

The same protocol as ``time_to_accuracy.py`` (which it reuses): a fixed CNN recipe trains until its
test accuracy reaches the target, checked after every epoch; reported seconds are the training steps
of the epochs up to and including the first that reaches it (evaluation not timed). The reference is
the same recipe in the canonical loop (a per-sample ``Dataset``, a shuffling ``DataLoader``, the
optimizer as constructed by default, ``OneCycleLR`` stepped per batch). With ``--augment`` both
train on random 4-pixel-padded crops and horizontal flips: tunelab's ``train.augment`` on the
device, once a batch; the reference's in ``__getitem__``, once an image, as torchvision's
``RandomCrop(32, padding=4)`` and ``RandomHorizontalFlip()`` do.

The data is CIFAR-10 when its archive is found (``--data-dir``, ``$TUNELAB_DATA_DIR`` or the
download cache: nothing is downloaded here); ``--synthetic`` (or no archive) uses a synthetic dataset of the
same shape instead — 3×32×32 colour images of 10 classes, each a class's smooth random pattern,
shifted by up to 4 pixels, with noise — written to an ``.npz`` and read through the ``arrays``
dataset. ``--train-subset`` keeps a stratified subset of the training images (a small subset is
what a CPU allows).

    python benchmarks/cifar10_time_to_accuracy.py --data-dir ../shared/data/cifar10 --train-subset 5000
    python benchmarks/cifar10_time_to_accuracy.py --synthetic --train-subset 5000 --target 0.7
    python benchmarks/cifar10_time_to_accuracy.py --synthetic --augment --threads 1
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from time_to_accuracy import all_train_test_as_val, canonical_to_target, cells, tunelab_to_target
from train_throughput import ImageDataset

from tunelab.config import RunConfig, validate_run_config
from tunelab.data import Splits, load_splits
from tunelab.errors import DataError
from tunelab.models import build_model
from tunelab.provenance import device_name, git_commit
from tunelab.train import evaluate, resolve_device

RECIPE = (
    "conv32-pool-conv64-pool-conv128-pool-128 (BN, ReLU), dropout 0.2; "
    "SGD nesterov 0.9, wd 5e-4; onecycle peak 0.05"
)
MODEL = {
    "kind": "cnn",
    "blocks": [
        {"filters": 32, "kernel": 3, "batch_norm": True, "pool": "max"},
        {"filters": 64, "kernel": 3, "batch_norm": True, "pool": "max"},
        {"filters": 128, "kernel": 3, "batch_norm": True, "pool": "max"},
    ],
    "dense": [128],
    "dropout": 0.2,
}


def synthetic_npz(folder: Path, n_train: int, n_test: int, seed: int = 0) -> Path:
    """CIFAR-10's shape with a learnable task: per class a smooth random colour pattern; each image
    its class's pattern shifted by up to 4 pixels, with Gaussian noise, as uint8."""
    rng = np.random.default_rng(seed)
    # low contrast and strong noise: a few epochs of 5,000 images, not one, to reach 70%
    coarse = torch.from_numpy(rng.uniform(0.4, 0.6, (10, 3, 4, 4)).astype(np.float32))
    patterns = F.interpolate(coarse, size=(40, 40), mode="bicubic", align_corners=False).numpy()

    def images(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.arange(n) % 10
        rng.shuffle(labels)
        dy, dx = rng.integers(0, 9, n), rng.integers(0, 9, n)
        x = np.stack([patterns[c, :, a : a + 32, b : b + 32] for c, a, b in zip(labels, dy, dx, strict=True)])
        x = x + rng.normal(0, 0.6, x.shape)
        return (np.clip(x, 0, 1) * 255).astype(np.uint8), labels

    x_train, y_train = images(n_train)
    x_test, y_test = images(n_test)
    path = folder / "synthetic-cifar.npz"
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


def run_config(args: argparse.Namespace, data: dict) -> RunConfig:
    train = {
        "epochs": args.epochs,
        "batch_size": 128,
        "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4},
        "schedule": {"name": "onecycle", "pct_start": 0.25},
        "track_gradients": False,
        "seed": 0,
    }
    if args.augment:
        train["augment"] = {"crop_padding": 4, "flip": True}
    return validate_run_config(
        {"name": "cifar10-time-to-accuracy", "data": data, "model": MODEL, "train": train}, "recipe"
    )


class AugmentedDataset(ImageDataset):
    """The canonical per-sample augmentation: pad by 4, crop 32×32 at random, flip half."""

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, label = super().__getitem__(index)
        padded = F.pad(image, (4, 4, 4, 4))
        top, left = torch.randint(0, 9, (2,)).tolist()
        image = padded[:, top : top + 32, left : left + 32]
        if torch.rand(()) < 0.5:
            image = image.flip(-1)
        return image, label


def warm_up(config: RunConfig, splits: Splits, device: torch.device) -> None:
    """A few untimed steps at each batch shape the runs will see (a full batch and the last, shorter
    one), so that neither run pays for the first convolutions oneDNN prepares: whichever ran first did."""
    torch.manual_seed(1)
    model = build_model(config.model, splits.input_shape, splits.n_classes).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    n, batch = len(splits.y_train), config.train.batch_size
    for size in {batch, n % batch or batch}:
        for _ in range(2):
            loss = F.cross_entropy(model(splits.x_train[:size]), splits.y_train[:size])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    evaluate(model, splits.x_test, splits.y_test, splits.n_classes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="the cifar10 folder, or its parent")
    parser.add_argument("--synthetic", action="store_true", help="a synthetic dataset of CIFAR-10's shape")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--epochs", type=int, default=10, help="the one-cycle schedule's length")
    parser.add_argument("--target", type=float, default=0.7, help="test accuracy to reach")
    parser.add_argument("--train-subset", type=int, default=5000, help="stratified training images (0: all)")
    parser.add_argument("--test-size", type=int, default=2000, help="synthetic test images")
    parser.add_argument("--augment", action="store_true", help="random crops (padding 4) and flips")
    parser.add_argument("--no-reference", action="store_true", help="skip the canonical DataLoader loop")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    subset = args.train_subset or None
    with tempfile.TemporaryDirectory() as tmp:
        source = "cifar10"
        data: dict = {"name": "cifar10", "normalize": "standardize", "train_subset": subset}
        if not args.synthetic:
            try:
                cfg = run_config(args, data).data
                splits = load_splits(cfg, device=device, data_dir=args.data_dir, download=False)
            except DataError as exc:
                print(f"# CIFAR-10 not found ({str(exc)[:100]}…): synthetic data of the same shape")
                args.synthetic = True
        if args.synthetic:
            path = synthetic_npz(Path(tmp), subset or 50_000, args.test_size)
            data = {"name": "arrays", "path": str(path), "normalize": "standardize", "train_subset": subset}
            source = "synthetic 3×32×32 (10 classes)"
            splits = load_splits(run_config(args, data).data, device=device)
        config = run_config(args, data)
        splits = all_train_test_as_val(splits)
        print(
            f"# {source}: {len(splits.y_train)} training images, {len(splits.y_test)} test images · "
            f"device {device_name(device)} · torch {torch.__version__} · commit {git_commit()}"
        )
        print(
            "# seconds: training steps of the epochs up to the first whose test accuracy reaches the "
            "target (evaluation not timed); ratio = DataLoader seconds / tunelab seconds (above 1: tunelab "
            "is faster); CPU s: process CPU time of each whole run to the target, evaluation included "
            "(steadier than wall time on a loaded machine)"
        )
        print(
            "| data | recipe | target | tunelab epochs | tunelab s | tunelab final acc "
            "| DataLoader epochs | DataLoader s | DataLoader final acc | ratio "
            "| s/epoch tunelab / DataLoader | CPU s tunelab / DataLoader |"
        )
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        recipe = f"{RECIPE}, {config.train.epochs} ep; batch 128" + (
            "; crop 4 + flip" if args.augment else ""
        )
        warm_up(config, splits, device)
        cpu = time.process_time()
        ours = tunelab_to_target(config, splits, device, args.target)
        cpu_ours, cpu = time.process_time() - cpu, time.process_time()
        ref = (
            None
            if args.no_reference
            else canonical_to_target(
                config,
                splits,
                device,
                args.target,
                AugmentedDataset if config.train.augment else ImageDataset,
            )
        )
        cpu_ref = time.process_time() - cpu
        ratio, per_epoch, cpu_cells = "—", "—", f"{cpu_ours:.1f} / —"
        if ref is not None:
            cpu_cells = f"{cpu_ours:.1f} / {cpu_ref:.1f}"
        if ref is not None and ref.seconds is not None and ours.seconds and ours.epochs and ref.epochs:
            ratio = f"{ref.seconds / ours.seconds:.2f}×"
            per_epoch = f"{ours.seconds / ours.epochs:.2f} / {ref.seconds / ref.epochs:.2f}"
        row = [source, recipe, f"{args.target:.2f}", *cells(ours), *cells(ref), ratio, per_epoch, cpu_cells]
        print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
