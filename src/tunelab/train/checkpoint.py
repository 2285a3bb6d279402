"""Per-epoch checkpoints of a running training, so that a rerun continues instead of starting over.

The loop hands a :class:`Checkpointer` its complete state after each epoch (weights, optimizer,
schedule and early-stopping state, RNG states, history) and asks it once, at the start, whether
there is one to continue from. Where the bytes go is the checkpointer's business: a file here, a row
beside the study's storage in :mod:`tunelab.search.checkpoints`.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Protocol

import torch


class Checkpointer(Protocol):
    def load(self) -> dict[str, Any] | None:
        """The last saved state, or None."""
        ...

    def due(self) -> bool:
        """Whether a save now would be kept: the loop builds a state only then."""
        ...

    def save(self, state: dict[str, Any]) -> None:
        """Keep ``state``, replacing the previous one."""
        ...


def to_bytes(state: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def from_bytes(data: bytes) -> dict[str, Any]:
    # weights_only: a checkpoint is data (tensors, numbers, lists, dicts); loading it runs no code.
    return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")


class FileCheckpointer:
    """A checkpoint in one file, written atomically (a crash mid-write leaves the previous one)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def load(self) -> dict[str, Any] | None:
        return from_bytes(self.path.read_bytes()) if self.path.is_file() else None

    def due(self) -> bool:
        return True

    def save(self, state: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        partial.write_bytes(to_bytes(state))
        partial.replace(self.path)
