"""On-device augmentation of training batches: random crops with zero padding, horizontal flips.

Off unless a run's ``train.augment`` asks for it (never on by default, for any dataset: a flipped
digit is another digit). Each member draws its crops and flips once an epoch, one per training image,
from its own batch-order generator (:attr:`~tunelab.train.state.RunState.order`, seeded by
``train.seed`` and checkpointed with the run): so a run is the same for the same seed, continues
where it stopped after a resume, and a member augmented in a population sees the crops and flips of
its lone run. Applying them is one gather per batch on the device, inside both engines (and inside a
population's captured CUDA graph: the draws live in tensors the graph reads). The padding is zeros
of the images as scaled (``data.normalize``): black for ``unit``, the training mean for
``standardize``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from tunelab.config import AugmentConfig


def wanted(configs: Sequence[AugmentConfig | None]) -> bool:
    """Whether any member augments its batches."""
    return any(c is not None and (c.crop_padding or c.flip) for c in configs)


class Augmenter:
    """The crops and flips of each training image for each member (rows), redrawn every epoch."""

    def __init__(self, configs: Sequence[AugmentConfig | None], n_train: int, device: torch.device) -> None:
        self.pads = [c.crop_padding if c else 0 for c in configs]
        self.flips = [bool(c and c.flip) for c in configs]
        self.margin = max(self.pads)  # every image is padded by the largest padding of the members
        members = len(self.pads)
        # offsets of each crop's top-left corner in the padded image; margin: no shift
        self.offsets = torch.full((members, n_train, 2), self.margin, dtype=torch.long, device=device)
        self.flipped = torch.zeros((members, n_train), dtype=torch.bool, device=device)

    def draw(self, generators: Sequence[torch.Generator]) -> None:
        """This epoch's crop and flip of every image, each member from its own generator (in place:
        a captured step keeps reading the same tensors)."""
        n, device = self.offsets.shape[1], self.offsets.device
        for row, generator in enumerate(generators):
            pad = self.pads[row]
            if pad:
                shift = torch.randint(0, 2 * pad + 1, (n, 2), generator=generator, device=device)
                self.offsets[row].copy_(shift + (self.margin - pad))
            if self.flips[row]:
                self.flipped[row].copy_(torch.rand(n, generator=generator, device=device) < 0.5)

    def keep(self, rows: Sequence[int]) -> None:
        """Only the members in ``rows`` go on (the others have finished)."""
        self.pads = [self.pads[r] for r in rows]
        self.flips = [self.flips[r] for r in rows]
        self.offsets, self.flipped = self.offsets[list(rows)], self.flipped[list(rows)]

    def __call__(self, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """The batch ``x`` (members × batch × C × H × W) of the training images ``index`` (members ×
        batch), each cropped and flipped as drawn for its member."""
        rows = torch.arange(len(index), device=index.device)[:, None]
        return crop_flip(x, self.offsets[rows, index], self.flipped[rows, index], self.margin)


def crop_flip(x: torch.Tensor, offsets: torch.Tensor, flipped: torch.Tensor, margin: int) -> torch.Tensor:
    """Images ``x`` (…, C, H, W) zero-padded by ``margin``, cropped back to H × W at ``offsets``
    (…, 2: top, left, in the padded image) and mirrored left to right where ``flipped`` (…)."""
    *lead, c, h, w = x.shape
    flat = x.reshape(-1, c, h, w)
    if margin:
        flat = F.pad(flat, (margin, margin, margin, margin))
    offsets, flipped = offsets.reshape(-1, 2), flipped.reshape(-1)
    along_h = torch.arange(h, device=x.device)
    along_w = torch.arange(w, device=x.device)
    top = offsets[:, :1] + along_h  # (B, H): the rows each crop takes
    left = offsets[:, 1:] + torch.where(flipped[:, None], w - 1 - along_w, along_w)  # (B, W), mirrored
    batch = torch.arange(len(flat), device=x.device)[:, None, None]
    out = flat[batch, :, top[:, :, None], left[:, None, :]]  # (B, H, W, C): the indexed dims come first
    return out.permute(0, 3, 1, 2).reshape(*lead, c, h, w)
