"""Epoch time of tunelab's training loop against a canonical PyTorch Dataset + DataLoader loop.

Both train the same model (paper 000's MNIST MLP, 784-448-192-320-128-384-10) with the same optimizer,
batch size, thread count and device, in this one process. The canonical loop is the tutorial one: a
``Dataset`` whose ``__getitem__`` returns one image, a shuffling ``DataLoader`` (num_workers=0), and
``loss.item()`` accumulated each step, and ``torch.optim.Adam`` as constructed by default. A second
canonical column gives that loop PyTorch's fused Adam too, which tunelab uses, so the table shows how
much of the difference is the optimizer and how much the data path. All loops are timed on training
steps only (no evaluation).

    python benchmarks/train_throughput.py --data-dir ../shared/data/mnist
    python benchmarks/train_throughput.py --dataset digits            # no download, seconds
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from tunelab.config import RunConfig
from tunelab.data import load_splits
from tunelab.models import build_model
from tunelab.provenance import device_name, git_commit
from tunelab.train import resolve_device, train

PAPER_000 = {
    "kind": "mlp",
    "hidden": [448, 192, 320, 128, 384],
    "activation": ["silu", "relu", "relu", "silu", "relu"],
    "dropout": [0.15, 0.15, 0.25, 0.10, 0.25],
}


class ImageDataset(Dataset):
    """The canonical per-sample dataset: one (image, label) pair per ``__getitem__``."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.labels[index]


def canonical_epochs(
    config: RunConfig, splits, device: torch.device, epochs: int, fused: bool
) -> list[float]:
    torch.manual_seed(config.train.seed)
    model = build_model(config.model, splits.input_shape, splits.n_classes).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.train.optimizer.lr, fused=fused or None)
    loader = DataLoader(
        ImageDataset(splits.x_train.cpu(), splits.y_train.cpu()),
        batch_size=config.train.batch_size,
        shuffle=True,
    )
    return [canonical_epoch(model, optimizer, loader, device) for _ in range(epochs)]


def canonical_epoch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loader: DataLoader,
    device: torch.device,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
) -> float:
    """One epoch of the tutorial loop (a ``scheduler`` steps after every batch); its seconds."""
    model.train()
    start = time.perf_counter()
    running_loss = 0.0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        running_loss += loss.item()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def tunelab_epochs(config: RunConfig, splits, device: torch.device) -> list[float]:
    result = train(config, splits, device=device)
    return [record["time_s"] for record in result.history]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--batch-sizes", default="32,256")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per loop; the first is a warm-up")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument(
        "--no-grad-tracking", action="store_true", help="turn off per-layer gradient tracking"
    )
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first epoch is a warm-up)")

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    base = RunConfig.model_validate({"data": {"name": args.dataset, "val_fraction": 0.1}, "model": PAPER_000})
    splits = load_splits(base.data, device=device, data_dir=args.data_dir)
    print(
        f"# {args.dataset}: {len(splits.y_train)} training images · device {device_name(device)} · "
        f"torch {torch.__version__} · commit {git_commit()}"
    )
    print(
        f"# median epoch time over epochs 2..{args.epochs} (epoch 1 is a warm-up); Adam lr 1e-3; "
        "ratio = DataLoader time / tunelab time (above 1: tunelab is faster)"
    )
    print(
        "| batch | tunelab epoch (s) | DataLoader epoch (s) | ratio | DataLoader + fused Adam (s) | ratio |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for batch in (int(b) for b in args.batch_sizes.split(",")):
        config = base.model_copy(
            update={
                "train": base.train.model_copy(
                    update={
                        "epochs": args.epochs,
                        "batch_size": batch,
                        "track_gradients": not args.no_grad_tracking,
                    }
                )
            }
        )
        ours = statistics.median(tunelab_epochs(config, splits, device)[1:])
        plain = statistics.median(canonical_epochs(config, splits, device, args.epochs, fused=False)[1:])
        fused = statistics.median(canonical_epochs(config, splits, device, args.epochs, fused=True)[1:])
        cells = [f"{ours:.3f}", f"{plain:.3f}", f"{plain / ours:.2f}×", f"{fused:.3f}"]
        cells.append(f"{fused / ours:.2f}×")
        print(f"| {batch} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
