"""Write a finished run to a folder: history.csv, metrics.json, config.yaml and model.pt."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import torch

from tunelab.config import RunConfig
from tunelab.train.state import TrainResult


def save_run(out_dir: Path, config: RunConfig, result: TrainResult, provenance: dict[str, object]) -> Path:
    """Write the run's files into ``out_dir`` (created if needed) and return it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.yaml").write_text(config.to_yaml(), encoding="utf-8")
    write_history(out_dir / "history.csv", result.history)
    metrics = {
        "summary": result.summary(),
        "val": result.val.to_dict() if result.val else None,
        "test": result.test.to_dict() if result.test else None,
        "provenance": provenance,
    }
    (out_dir / "metrics.json").write_text(
        json.dumps(metrics, indent=2, allow_nan=True) + "\n", encoding="utf-8"
    )
    # A plain state dict of tensors: it loads with torch.load(weights_only=True), no code is pickled.
    state = {k: v.detach().cpu() for k, v in result.model.state_dict().items()}
    torch.save(state, out_dir / "model.pt")
    return out_dir


def write_history(path: Path, history: list[dict[str, float]]) -> None:
    columns = list(dict.fromkeys(key for record in history for key in record))
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(history)
