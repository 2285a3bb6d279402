"""Which device a run trains on, and the process-wide settings it trains under there."""

from __future__ import annotations

import torch

from tunelab.train.allocator import keep_freed_memory
from tunelab.train.threads import cap_threads


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks cuda, then mps, then cpu."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def prepare_device(device: torch.device) -> None:
    """The process-wide settings every run trains under on ``device``."""
    if device.type == "cuda":  # TF32 tensor cores: ~fp32 accuracy for a classifier, several times faster
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    elif device.type == "cpu":
        keep_freed_memory()  # no page faults for the tensors each step frees and allocates again
        cap_threads()  # no more threads than the cores this process may use (affinity, cgroup quota)
