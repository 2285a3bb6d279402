"""CIFAR-10, KMNIST and EMNIST: downloaded with pooch from a local HTTP server, then read.

The files served are tiny stand-ins made here; the registered checksums are patched to theirs (the
official ones are kept in a test of their own, beside the official URLs).
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import pickle
import tarfile

import numpy as np
import pytest
import torch
from datafiles import cifar_batch, file_hash, make_cifar_archive, make_emnist_zip, make_idx_set

from tunelab.config import DataConfig, validate_run_config
from tunelab.data import DATASETS, RemoteFile, cifar10, emnist, fetch, load_splits, locate
from tunelab.data.download import cache_dir, default_urls
from tunelab.data.idx import IDX_FILES
from tunelab.data.splits import _read_cached
from tunelab.errors import DataError
from tunelab.train import train


def patch(monkeypatch, name: str, folder, **changes) -> None:
    """Register ``name`` with the MD5 of the stand-in files in ``folder`` (and other ``changes``)."""
    info = DATASETS[name]
    files = tuple(RemoteFile(f.name, f"md5:{file_hash(folder / f.name, 'md5')}") for f in info.files)
    monkeypatch.setitem(DATASETS, name, dataclasses.replace(info, files=files, **changes))


@pytest.fixture(autouse=True)
def _fresh():
    _read_cached.cache_clear()  # stand-ins of one name differ from test to test
    yield
    _read_cached.cache_clear()


def test_official_urls_and_checksums():
    assert default_urls("cifar10") == ("http://127.0.0.1:9/cifar10/",)  # conftest's closed mirror
    assert DATASETS["cifar10"].urls == ("https://www.cs.toronto.edu/~kriz/",)
    assert DATASETS["cifar10"].files == (
        RemoteFile("cifar-10-python.tar.gz", "md5:c58f30108f718f92721af3b95e74349a"),
    )
    assert DATASETS["kmnist"].urls == ("https://codh.rois.ac.jp/kmnist/dataset/kmnist/",)
    assert [f.known_hash for f in DATASETS["kmnist"].files] == [
        "md5:bdb82020997e1d708af4cf47b453dcf7",
        "md5:e144d726b3acfaa3e44228e80efcd344",
        "md5:5c965bf0a639b31b8f53240b1b52f4d7",
        "md5:7320c461ea6c1c855c0b718fb2a4b134",
    ]
    for name in ("emnist-balanced", "emnist-digits"):
        info = DATASETS[name]
        assert info.urls[0] == "https://biometrics.nist.gov/cs_links/EMNIST/" and info.folder == "emnist"
        assert info.files == (RemoteFile("gzip.zip", "md5:58c8d27c78d21e728a6bc7b3cc06412e"),)
    shapes = {n: (DATASETS[n].input_shape, DATASETS[n].n_classes) for n in ("cifar10", "emnist-balanced")}
    assert shapes == {"cifar10": ((3, 32, 32), 10), "emnist-balanced": ((1, 28, 28), 47)}


# ------------------------------------------------------------------------------------------ CIFAR-10
@pytest.fixture
def cifar(tmp_path, monkeypatch):
    """A served ``<root>/cifar10/cifar-10-python.tar.gz`` of 50 / 20 images, registered with its MD5."""
    root = tmp_path / "server"
    make_cifar_archive(root / "cifar10")
    patch(
        monkeypatch, "cifar10", root / "cifar10", read=functools.partial(cifar10.read, n_train=50, n_test=20)
    )
    return root


def test_cifar10_downloads_from_a_mirror_and_reads_rgb_images(cifar, serve, monkeypatch):
    monkeypatch.setenv("TUNELAB_DATA_MIRROR", serve(cifar))
    splits = load_splits(DataConfig(name="cifar10", val_fraction=0.2))
    assert splits.input_shape == (3, 32, 32) and splits.n_classes == 10
    assert tuple(splits.x_train.shape[1:]) == (3, 32, 32)
    assert (len(splits.y_train), len(splits.y_val), len(splits.y_test)) == (40, 10, 20)
    archive = cache_dir("cifar10") / "cifar-10-python.tar.gz"
    assert locate("cifar10") == cache_dir("cifar10") and archive.is_file()
    assert splits.checksums == {"cifar-10-python.tar.gz": file_hash(cifar / "cifar10" / archive.name)}
    # The test batch's first image, plane by plane, as the archive holds it.
    with tarfile.open(archive) as tar:
        stream = tar.extractfile("cifar-10-batches-py/test_batch")
        assert stream is not None
        batch = pickle.load(stream, encoding="bytes")
    expected = batch[b"data"][0].reshape(3, 32, 32) / 255
    np.testing.assert_allclose(splits.x_test[0].numpy(), expected, rtol=1e-6)
    assert splits.y_test.tolist() == batch[b"labels"]


def test_the_dataset_shape_reaches_the_model(cifar, serve, monkeypatch):
    """Three channels of 32×32 flow from the dataset into the CNN that trains on them."""
    monkeypatch.setenv("TUNELAB_DATA_MIRROR", serve(cifar))
    config = validate_run_config(
        {
            "data": {"name": "cifar10", "val_fraction": 0.2},
            "model": {"kind": "cnn", "blocks": [{"filters": 4, "kernel": 3, "pool": "max"}], "dense": []},
            "train": {"epochs": 1, "batch_size": 16, "device": "cpu"},
        }
    )
    result = train(config, load_splits(config.data))
    first = next(m for m in result.model.modules() if isinstance(m, torch.nn.Conv2d))
    assert first.in_channels == 3 and result.status == "completed" and result.test is not None


def test_cifar10_counts_are_checked(tmp_path, monkeypatch):
    make_cifar_archive(tmp_path)
    monkeypatch.setenv("TUNELAB_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match=r"cifar-10-python.tar.gz: expected 50000 training images, found 50"):
        load_splits(DataConfig(name="cifar10"))


@pytest.mark.parametrize(
    ("replace", "expected"),
    [
        ({"cifar-10-batches-py/test_batch": None}, "cifar-10-batches-py/test_batch is missing"),
        ({"cifar-10-batches-py/test_batch": b"garbage"}, "test_batch: not a CIFAR batch"),
        (
            {"cifar-10-batches-py/test_batch": pickle.dumps([1, 2])},
            "test_batch: not a CIFAR batch (expected a",
        ),
        (
            {
                "cifar-10-batches-py/test_batch": cifar_batch(
                    np.zeros((4, 3, 32, 32), np.uint8), [0, 1, 2, 12]
                )
            },
            "labels must be within 0..9, found 0..12",
        ),
    ],
    ids=["missing-batch", "not-a-pickle", "not-a-dict", "label-out-of-range"],
)
def test_bad_cifar_archives_are_one_sentence(tmp_path, replace, expected):
    make_cifar_archive(tmp_path, replace=replace)
    with pytest.raises(DataError) as info:
        cifar10.read(tmp_path, None, None)
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_a_cifar_batch_cannot_run_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("unpickling ran code",))

    make_cifar_archive(tmp_path, replace={"cifar-10-batches-py/data_batch_1": pickle.dumps(Evil())})
    with pytest.raises(DataError, match=r"data_batch_1: not a CIFAR batch \(UnpicklingError: builtins.print"):
        cifar10.read(tmp_path, None, None)


def test_a_cut_off_archive(tmp_path):
    path = make_cifar_archive(tmp_path)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DataError, match=r"cifar-10-python.tar.gz: not a readable .tar.gz archive"):
        cifar10.read(tmp_path, None, None)


# ------------------------------------------------------------------------------------------ KMNIST
def test_kmnist_downloads_from_a_mirror(tmp_path, serve, monkeypatch):
    root = tmp_path / "server"
    make_idx_set(root / "kmnist")
    from tunelab.data.idx import read_idx_dataset

    patch(monkeypatch, "kmnist", root / "kmnist", read=lambda f: read_idx_dataset(f, n_train=40, n_test=20))
    monkeypatch.setenv("TUNELAB_DATA_MIRROR", serve(root))
    splits = load_splits(DataConfig(name="kmnist", val_fraction=0.25))
    assert splits.input_shape == (1, 28, 28) and (len(splits.y_train), len(splits.y_test)) == (30, 20)
    assert set(splits.checksums) == set(IDX_FILES) and locate("kmnist") == cache_dir("kmnist")


# ------------------------------------------------------------------------------------------ EMNIST
@pytest.fixture
def nist(tmp_path, monkeypatch):
    """A served ``<root>/emnist/gzip.zip`` with both splits, registered with its MD5."""
    root = tmp_path / "server"
    make_emnist_zip(root / "emnist")
    for split in ("balanced", "digits"):
        read = functools.partial(emnist.read, split=split, n_train=94, n_test=47)
        patch(monkeypatch, f"emnist-{split}", root / "emnist", read=read)
    return root


def test_emnist_splits_share_one_download_and_stand_upright(nist, serve, monkeypatch):
    monkeypatch.setenv("TUNELAB_DATA_MIRROR", serve(nist))
    balanced = load_splits(DataConfig(name="emnist-balanced", val_fraction=0.5))
    assert cache_dir("emnist-balanced") == cache_dir("emnist-digits") == cache_dir("emnist")
    monkeypatch.setenv("TUNELAB_DATA_MIRROR", "http://127.0.0.1:9/")  # the digits need no download
    digits = load_splits(DataConfig(name="emnist-digits", val_fraction=0.5))
    assert (balanced.n_classes, digits.n_classes) == (47, 10)
    assert balanced.input_shape == digits.input_shape == (1, 28, 28)
    assert len(balanced.y_test) == len(digits.y_test) == 47
    assert balanced.checksums == {"gzip.zip": file_hash(nist / "emnist" / "gzip.zip")}
    # Each image is the archive's, transposed back (EMNIST stores them column by column).
    import zipfile

    with zipfile.ZipFile(nist / "emnist" / "gzip.zip") as zf:
        data = gzip.decompress(zf.read(emnist.member("digits", "test", "images")))
    stored = np.frombuffer(data, np.uint8, offset=16).reshape(-1, 28, 28)
    np.testing.assert_allclose(digits.x_test[3, 0].numpy(), stored[3].T / 255, rtol=1e-6)


def test_emnist_archive_without_the_split(tmp_path):
    make_emnist_zip(tmp_path, splits=("digits",))
    with pytest.raises(
        DataError, match=r"gzip.zip: gzip/emnist-balanced-train-images-idx3-ubyte.gz is missing"
    ):
        emnist.read(tmp_path, "balanced")


def test_emnist_counts_are_checked(tmp_path, monkeypatch):
    make_emnist_zip(tmp_path)
    monkeypatch.setenv("TUNELAB_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match=r"emnist-digits-train-images-idx3-ubyte.gz: expected 240000 images"):
        load_splits(DataConfig(name="emnist-digits"))


def test_fetch_names_the_shared_folder(tmp_path, serve):
    source = tmp_path / "source"
    make_emnist_zip(source)
    registry = {"gzip.zip": f"md5:{file_hash(source / 'gzip.zip', 'md5')}"}
    dest = fetch("emnist-digits", base_urls=[serve(source)], registry=registry)
    assert dest == cache_dir("emnist") and (dest / "gzip.zip").is_file()
    assert locate("emnist-balanced") == dest  # present for both splits


def test_the_cifar10_example_trains_on_the_downloaded_archive(cifar, serve, monkeypatch, tmp_path):
    """examples/cifar10-cnn.yaml as the README runs it, one epoch, on the served stand-in archive."""
    from pathlib import Path

    from typer.testing import CliRunner

    from tunelab.cli import app

    monkeypatch.setenv("TUNELAB_DATA_MIRROR", serve(cifar))
    example = Path(__file__).resolve().parents[2] / "examples" / "cifar10-cnn.yaml"
    args = [
        "train",
        str(example),
        "-s",
        "train.epochs=1",
        "-s",
        "data.val_fraction=0.2",
        "--out",
        str(tmp_path / "run"),
        "--quiet",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "model.pt").is_file()
