"""scikit-learn's bundled digits: 1,797 handwritten digits, 8×8 grey (values 0..16), no download.

The dataset has no official test split, so a fixed one is made: a stratified 75 / 25 split with
``train_test_split(random_state=0, stratify=y)``, which gives 1,347 train and 450 test images. It is
fixed on purpose: every study sees the same test images, whatever its ``split_seed``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from tunelab.data.base import DatasetInfo, RawData, read_file

N_TRAIN, N_TEST = 1_347, 450
TEST_FRACTION = 0.25
TEST_SEED = 0
FILE = "digits.csv.gz"  # what load_digits reads, inside sklearn.datasets.data


def read(folder: Path | None = None) -> RawData:
    """Load the digits from scikit-learn; ``folder`` is ignored (the data is bundled)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    _, sha = read_file(Path(str(resources.files("sklearn.datasets.data") / FILE)))
    x, y = load_digits(return_X_y=True)
    x = (x.reshape(-1, 1, 8, 8) / 16).astype(np.float32)
    y = y.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=TEST_FRACTION, random_state=TEST_SEED, stratify=y
    )
    return RawData(x_train, y_train, x_test, y_test, {FILE: sha})


INFO = DatasetInfo(
    name="digits",
    description="scikit-learn's handwritten digits, 8×8 grey (bundled, no download)",
    input_shape=(1, 8, 8),
    n_classes=10,
    n_train=N_TRAIN,
    n_test=N_TEST,
    urls=(),
    files=(),
    read=read,
)
