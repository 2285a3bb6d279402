"""Which device a run trains on, and the process-wide settings it trains under there."""

from __future__ import annotations

import torch

from tunelab.config.train import check_device_name
from tunelab.errors import ConfigError
from tunelab.train.allocator import keep_freed_memory
from tunelab.train.threads import cap_threads


def resolve_device(name: str = "auto", source: str = "train.device") -> torch.device:
    """The device ``name`` names, on this machine; ``auto`` picks cuda, then mps, then cpu.

    A name that is not a device, or a device this machine lacks, is a ConfigError naming ``source``
    (the field or option it came from), before anything is written or trained.
    """
    try:
        check_device_name(name)
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps() else torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(
                f"{source}: {name} is not available here (PyTorch sees no CUDA device); expected auto or cpu"
            )
        if device.index is not None and device.index >= count:
            raise ConfigError(
                f"{source}: {name} is not available here (PyTorch sees {count} CUDA "
                f"device{'s' if count > 1 else ''}: cuda:0 to cuda:{count - 1}); expected one of those"
            )
    if device.type == "mps" and not _mps():
        raise ConfigError(f"{source}: mps is not available here (no Apple GPU); expected auto or cpu")
    return device


def _mps() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def prepare_device(device: torch.device) -> None:
    """The process-wide settings every run trains under on ``device``."""
    if device.type == "cuda":  # TF32 tensor cores: ~fp32 accuracy for a classifier, several times faster
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    elif device.type == "cpu":
        keep_freed_memory()  # no page faults for the tensors each step frees and allocates again
        cap_threads()  # no more threads than the cores this process may use (affinity, cgroup quota)
