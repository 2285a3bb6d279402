"""Datasets: a registry (name → :class:`DatasetInfo`), local lookup and download, device-resident splits.

``load_splits(cfg.data, device)`` is what training uses; ``DATASETS`` lists what can be named in
``data.name``; ``locate`` / ``dataset_folder`` / ``fetch`` / ``availability`` find and download the
files.
"""

from __future__ import annotations

from tunelab.data.base import DatasetInfo, RawData, RemoteFile
from tunelab.data.download import availability, dataset_folder, fetch, locate
from tunelab.data.registry import DATASETS
from tunelab.data.splits import Splits, load_raw, load_splits

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "RawData",
    "RemoteFile",
    "Splits",
    "availability",
    "dataset_folder",
    "fetch",
    "load_raw",
    "load_splits",
    "locate",
]
