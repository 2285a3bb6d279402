from __future__ import annotations

import gzip
import re

import numpy as np
import pytest
from datafiles import file_hash, idx_bytes, make_idx_set, write_gz

from tunelab.data import mnist
from tunelab.data.idx import (
    IDX_FILES,
    IMAGES_MAGIC,
    LABELS_MAGIC,
    read_idx_dataset,
    read_idx_images,
    read_idx_labels,
    read_idx_pair,
)
from tunelab.errors import DataError


def test_reads_a_valid_set(tmp_path):
    folder = make_idx_set(tmp_path, n_train=40, n_test=20, size=(5, 4))
    raw = read_idx_dataset(folder, size=(5, 4), n_train=40, n_test=20)
    assert raw.x_train.shape == (40, 1, 5, 4) and raw.x_test.shape == (20, 1, 5, 4)
    assert raw.x_train.dtype == np.float32 and raw.y_train.dtype == np.int64
    pixels, _ = read_idx_images(folder / IDX_FILES[0])
    np.testing.assert_array_equal(raw.x_train[:, 0], pixels / np.float32(255))  # row-major, scaled to [0, 1]
    np.testing.assert_array_equal(raw.y_test, np.arange(20) % 10)
    assert raw.checksums == {name: file_hash(folder / name) for name in IDX_FILES}


def test_truncated_file_says_what_was_expected(tmp_path):
    full = idx_bytes(np.zeros((100, 28, 28)))
    path = write_gz(tmp_path / "train-images-idx3-ubyte.gz", full[: 16 + 1000])
    with pytest.raises(DataError) as info:
        read_idx_images(path)
    assert str(info.value) == f"{path}: truncated IDX file: expected 78400 bytes of pixels, found 1000"


def test_truncated_header_and_trailing_bytes(tmp_path):
    path = write_gz(tmp_path / "labels.gz", LABELS_MAGIC.to_bytes(4, "big") + b"\x00\x00")
    with pytest.raises(DataError, match="truncated IDX file: expected a 8-byte header"):
        read_idx_labels(path)
    path = write_gz(tmp_path / "long.gz", idx_bytes(np.zeros(5)) + b"\x00")
    with pytest.raises(DataError, match="too long: expected 5 bytes of labels, found 6"):
        read_idx_labels(path)


def test_wrong_magic_number(tmp_path):
    labels = write_gz(tmp_path / "train-labels-idx1-ubyte.gz", idx_bytes(np.zeros(10)))
    with pytest.raises(DataError) as info:
        read_idx_images(labels)  # a labels file where images were expected
    assert str(labels) in str(info.value)
    assert f"magic number 0x{LABELS_MAGIC:08X}, expected 0x{IMAGES_MAGIC:08X}" in str(info.value)
    signed = write_gz(tmp_path / "int8.gz", idx_bytes(np.zeros(10), magic=0x0901))
    with pytest.raises(DataError, match="not an IDX label file"):
        read_idx_labels(signed)


def test_image_and_label_counts_must_agree(tmp_path):
    images = write_gz(tmp_path / "images.gz", idx_bytes(np.zeros((10, 28, 28))))
    labels = write_gz(tmp_path / "labels.gz", idx_bytes(np.zeros(9)))
    with pytest.raises(DataError) as info:
        read_idx_pair(images, labels)
    assert f"{images} holds 10 images but {labels} holds 9 labels" == str(info.value)


def test_labels_out_of_range(tmp_path):
    path = write_gz(tmp_path / "labels.gz", idx_bytes(np.array([0, 3, 12])))
    with pytest.raises(DataError, match=r"labels\.gz: labels must be within 0\.\.9, found 0\.\.12"):
        read_idx_labels(path)


def test_bad_and_cut_gzip(tmp_path):
    raw = tmp_path / "train-images-idx3-ubyte.gz"
    raw.write_bytes(idx_bytes(np.zeros((2, 28, 28))))  # not compressed at all
    with pytest.raises(DataError, match=re.escape(f"{raw}: not a valid gzip file")):
        read_idx_images(raw)
    cut = tmp_path / "cut.gz"
    cut.write_bytes(gzip.compress(idx_bytes(np.ones((50, 28, 28))))[:-40])  # download stopped early
    with pytest.raises(DataError, match=re.escape(f"{cut}: not a valid gzip file")):
        read_idx_images(cut)


def test_missing_file_and_wrong_size(tmp_path):
    with pytest.raises(DataError, match=re.escape(f"{tmp_path / 'nothing.gz'}: file not found")):
        read_idx_images(tmp_path / "nothing.gz")
    folder = make_idx_set(tmp_path / "big", n_train=10, n_test=10, size=(32, 32))
    with pytest.raises(DataError, match="images are 32×32, expected 28×28"):
        read_idx_dataset(folder, size=(28, 28))


def test_official_reader_checks_counts(tmp_path):
    folder = make_idx_set(tmp_path)  # a valid IDX set, but not of MNIST's size
    with pytest.raises(DataError) as info:
        mnist.read(folder)
    assert str(folder / IDX_FILES[0]) in str(info.value)
    assert "expected 60000 images, found 40" in str(info.value)
