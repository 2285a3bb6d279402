from __future__ import annotations

import re

import numpy as np
import pytest
from datafiles import esl_text, file_hash, make_esl, write_gz

from tunelab.data import usps
from tunelab.data.usps import read_esl
from tunelab.errors import DataError


def test_reads_esl_and_maps_to_unit_range(tmp_path):
    path, labels, pixels = make_esl(tmp_path / "zip.train.gz", n=30)
    x, y, sha = read_esl(path, n=30)
    assert x.shape == (30, 1, 16, 16) and x.dtype == np.float32
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, labels)
    np.testing.assert_allclose(x.reshape(30, -1), (pixels + 1) / 2, atol=1e-6)
    assert x.min() >= 0 and x.max() <= 1
    assert sha == file_hash(path)


def test_line_with_wrong_number_of_values(tmp_path):
    rng = np.random.default_rng(1)
    lines = esl_text(np.arange(5), rng.uniform(-1, 1, (5, 256))).splitlines(keepends=True)
    lines[2] = b" ".join(lines[2].split()[:200]) + b"\n"
    path = write_gz(tmp_path / "zip.test.gz", b"".join(lines))
    with pytest.raises(DataError) as info:
        read_esl(path)
    assert str(info.value).startswith(f"{path}: line 3 has 200 values, expected 257")


def test_every_line_short_and_not_numbers(tmp_path):
    short = write_gz(tmp_path / "short.gz", b"1 0.5 0.5\n2 0.5 0.5\n")
    with pytest.raises(DataError, match="line 1 has 3 values, expected 257"):
        read_esl(short)
    text = esl_text(np.arange(2), np.zeros((2, 256))).replace(b"0.0000", b"x", 1)
    words = write_gz(tmp_path / "words.gz", text)
    with pytest.raises(DataError, match=re.escape(f"{words}: line 1 holds something other than numbers")):
        read_esl(words)


@pytest.mark.parametrize(
    ("label", "value", "message"),
    [
        (10, 0.0, "labels must be within 0..9"),
        (2.5, 0.0, "whole-number label"),
        (3, 1.5, re.escape("within [-1, 1]")),
    ],
)
def test_bad_labels_and_values(tmp_path, label, value, message):
    path = write_gz(tmp_path / "zip.test.gz", esl_text(np.array([1, label]), np.full((2, 256), value)))
    with pytest.raises(DataError, match=message):
        read_esl(path)


def test_official_reader_checks_counts(tmp_path):
    make_esl(tmp_path / "zip.train.gz", n=20)
    make_esl(tmp_path / "zip.test.gz", n=10, seed=1)
    with pytest.raises(DataError, match=re.escape(f"{tmp_path / 'zip.train.gz'}: expected 7291 images")):
        usps.read(tmp_path)
