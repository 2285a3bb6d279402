"""``example-shapes``: generated 3×16×16 colour images of four shapes (no files, no download).

Class 0 is a horizontal bar, 1 a vertical bar, 2 a square outline, 3 a cross; each at a random
place, in a random colour, on a noisy background. The same seed always gives the same images.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from tunelab.data import DatasetInfo, RawData

SIZE, N_TRAIN, N_TEST, SEED = 16, 800, 200, 0


def _images(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    y = np.arange(n) % 4
    rng.shuffle(y)
    x = rng.uniform(0.0, 0.3, size=(n, 3, SIZE, SIZE)).astype(np.float32)
    for image, label in zip(x, y, strict=True):
        colour = rng.uniform(0.6, 1.0, size=(3, 1, 1)).astype(np.float32)
        r, c = rng.integers(3, SIZE - 3, size=2)
        mask = np.zeros((SIZE, SIZE), dtype=bool)
        if label == 0:
            mask[r, max(0, c - 3) : c + 4] = True
        elif label == 1:
            mask[max(0, r - 3) : r + 4, c] = True
        elif label == 2:
            mask[r - 2 : r + 3, c - 2 : c + 3] = True
            mask[r - 1 : r + 2, c - 1 : c + 2] = False
        else:
            mask[r, c - 2 : c + 3] = True
            mask[r - 2 : r + 3, c] = True
        image[:, mask] = np.broadcast_to(colour, (3, 1, 1))[:, 0]
    return x, y.astype(np.int64)


def read(folder: Path | None) -> RawData:
    """The images (``folder`` is None: nothing is read from disk)."""
    rng = np.random.default_rng(SEED)
    x_train, y_train = _images(N_TRAIN, rng)
    x_test, y_test = _images(N_TEST, rng)
    digest = hashlib.sha256(b"".join(a.tobytes() for a in (x_train, y_train, x_test, y_test))).hexdigest()
    return RawData(x_train, y_train, x_test, y_test, {f"generated (seed {SEED})": digest})


INFO = DatasetInfo(
    name="example-shapes",
    description="generated 16×16 colour images of four shapes (tunelab-plugin-example)",
    input_shape=(3, SIZE, SIZE),
    n_classes=4,
    n_train=N_TRAIN,
    n_test=N_TEST,
    urls=(),
    files=(),
    read=read,
)
