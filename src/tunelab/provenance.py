"""Where a result came from: versions, code revision, device and the exact data files."""

from __future__ import annotations

import datetime as dt
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import torch

import tunelab


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def git_commit(path: Path | None = None) -> str | None:
    """The commit of the checkout holding tunelab (``+dirty`` when it has local changes), if any."""
    where = path or Path(tunelab.__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+dirty" if dirty else head


def device_name(device: torch.device | str) -> str:
    device = torch.device(device)
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    return str(device)


def provenance(device: torch.device | str, checksums: dict[str, str] | None = None) -> dict[str, object]:
    """A JSON-ready record of the software, code revision, device and dataset files behind a result."""
    return {
        "tunelab": tunelab.__version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "optuna": _version("optuna"),
        "numpy": _version("numpy"),
        "device": device_name(device),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "dataset_sha256": dict(checksums or {}),
    }
