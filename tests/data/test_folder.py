"""The folder dataset: one subfolder of PNG/JPEG images per class, decoded with Pillow."""

from __future__ import annotations

import numpy as np
import pytest
from datafiles import make_image_folder
from PIL import Image

from tunelab.config import DataConfig
from tunelab.data import folder as folder_module
from tunelab.data import load_splits
from tunelab.data.folder import content_hash, list_images, read_images
from tunelab.data.local import _load_folder, cache_folder, load_local
from tunelab.errors import DataError


def load(path, **data):
    return load_splits(DataConfig(name="folder", path=str(path), **({"val_fraction": 0.25} | data)))


@pytest.fixture(autouse=True)
def _fresh():
    """Each test reads its folder afresh: the in-process cache is keyed by files, not by test."""
    _load_folder.cache_clear()
    yield
    _load_folder.cache_clear()


def test_rgb_pngs_keep_their_pixels_classes_and_shape(tmp_path):
    root = make_image_folder(tmp_path / "images")  # cat, dog, owl: 8 RGB 8×8 images each
    raw, n_classes = load_local(DataConfig(name="folder", path=str(root)))
    assert n_classes == 3 and raw.x_train.shape[1:] == (3, 8, 8) and raw.x_train.dtype == np.float32
    assert (len(raw.y_train), len(raw.y_test)) == (19, 5)  # a stratified 0.2 held out for test
    assert sorted(np.bincount(raw.y_test).tolist()) == [1, 2, 2]
    # the pixels of each image, scaled to [0, 1], channels first
    files = list_images(root).files
    decoded = np.stack([np.asarray(Image.open(f)) for f in files]).transpose(0, 3, 1, 2) / 255
    both = np.concatenate([raw.x_train, raw.x_test])
    assert sorted(map(bytes, both.astype(np.float32))) == sorted(map(bytes, decoded.astype(np.float32)))
    assert raw.checksums == {"images/": content_hash(list_images(root))}
    splits = load(root, val_fraction=0.25)
    assert splits.input_shape == (3, 8, 8) and splits.n_classes == 3 and splits.name == "folder"
    assert (len(splits.y_train), len(splits.y_val), len(splits.y_test)) == (14, 5, 5)


def test_the_second_load_reads_the_cache_and_does_not_decode(tmp_path, monkeypatch):
    root = make_image_folder(tmp_path / "images")
    calls = []
    decode = folder_module.decode
    monkeypatch.setattr(folder_module, "decode", lambda path: calls.append(path) or decode(path))
    first = load(root)
    assert len(calls) == 24 and len(list(cache_folder().glob("*.npz"))) == 1
    _load_folder.cache_clear()  # as a new process would: only the file cache is left
    second = load(root)
    assert len(calls) == 24  # nothing decoded again
    assert np.array_equal(first.x_test.numpy(), second.x_test.numpy())
    assert first.checksums == second.checksums
    # An edited image changes the content hash: decoded again, under a new cache file.
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "dog" / "000.png")
    third = load(root)
    assert len(calls) == 48 and len(list(cache_folder().glob("*.npz"))) == 2
    assert third.checksums != first.checksums


def test_grey_images_have_one_channel_and_a_mix_is_read_as_rgb(tmp_path):
    grey = make_image_folder(tmp_path / "grey", mode="L", size=(6, 5))
    assert load(grey).input_shape == (1, 6, 5)
    Image.fromarray(np.full((6, 5, 3), 255, np.uint8)).save(grey / "cat" / "rgb.png")
    _load_folder.cache_clear()
    splits = load(grey)
    assert splits.input_shape == (3, 6, 5)
    x = np.concatenate([splits.x_train.numpy(), splits.x_val.numpy(), splits.x_test.numpy()])
    assert np.isclose(x, 1.0).all(axis=(1, 2, 3)).sum() == 1  # the white colour image, intact
    assert (x[:, 0] == x[:, 1]).all() and (x[:, 1] == x[:, 2]).all()  # grey ones repeated


def test_jpeg_palette_and_alpha_images(tmp_path):
    root = tmp_path / "images"
    make_image_folder(root, n=4)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(root / "cat" / "photo.JPG")
    Image.fromarray(rng.integers(0, 256, (8, 8, 4), dtype=np.uint8), "RGBA").save(root / "dog" / "a.png")
    Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).convert("P").save(root / "owl" / "p.png")
    (root / "owl" / "notes.txt").write_text("not an image, skipped")
    raw, _ = load_local(DataConfig(name="folder", path=str(root)))
    assert len(raw.y_train) + len(raw.y_test) == 15 and raw.x_train.shape[1] == 3


def test_mixed_sizes_need_size_and_size_resizes_all(tmp_path):
    root = make_image_folder(tmp_path / "images")
    Image.fromarray(np.zeros((10, 12, 3), np.uint8)).save(root / "owl" / "big.png")
    with pytest.raises(DataError) as info:
        load(root)
    message = str(info.value)
    assert message.startswith(str(root / "owl" / "big.png")), message
    assert "images differ in size (000.png is 8×8, big.png is 10×12); set data.size" in message
    assert load(root, size=[6, 7]).input_shape == (3, 6, 7)
    assert load(root, size=16).input_shape == (3, 16, 16)


def test_a_separate_test_folder(tmp_path):
    train = make_image_folder(tmp_path / "train")
    test = make_image_folder(tmp_path / "test", classes=("dog", "owl"), n=3)
    splits = load(train, test_path=str(test), val_fraction=0.25)
    assert (len(splits.y_train) + len(splits.y_val), len(splits.y_test)) == (24, 6)
    assert sorted(set(splits.y_test.tolist())) == [1, 2]  # dog and owl keep the training labels
    assert set(splits.checksums) == {"train/", "test/"}
    make_image_folder(tmp_path / "test", classes=("eel",), n=1)
    with pytest.raises(DataError, match=r"test/eel: class 'eel' is not among the training classes"):
        load(train, test_path=str(test))


def test_read_images_resizes_with_pillow(tmp_path):
    root = make_image_folder(tmp_path / "images", n=1, size=(4, 4))
    x = read_images(list_images(root), (8, 8))
    assert x.shape == (3, 3, 8, 8) and x.dtype == np.uint8


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda root: None, "images: folder not found"),
        (lambda root: root.write_text("x"), "images: not a folder"),
        (lambda root: root.mkdir(), "images: no class subfolders; expected one subfolder of PNG or JPEG"),
        (lambda root: (root / "cat").mkdir(parents=True), "cat: empty class folder (no .png, .jpg"),
        (
            lambda root: (root / "cat").mkdir(parents=True) or (root / "cat" / "1.png").write_bytes(b"no"),
            "cat/1.png: not a readable image",
        ),
    ],
    ids=["missing", "a-file", "no-classes", "empty-class", "unreadable-image"],
)
def test_bad_folders_are_one_sentence_naming_the_file(tmp_path, setup, expected):
    root = tmp_path / "images"
    setup(root)
    with pytest.raises(DataError) as info:
        load(root)
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_a_class_folder_among_full_ones_that_is_empty(tmp_path):
    root = make_image_folder(tmp_path / "images")
    (root / "eel").mkdir()
    with pytest.raises(DataError, match=r"images/eel: empty class folder"):
        load(root)


def test_too_few_images_for_a_stratified_test_split(tmp_path):
    from tunelab.errors import ConfigError

    root = make_image_folder(tmp_path / "images", n=1)
    with pytest.raises(
        ConfigError, match=r"data.test_fraction: cannot hold out a stratified 0.2 of 3 images"
    ):
        load(root)
