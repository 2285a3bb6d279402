"""fetch() against a local HTTP server: the real pooch download path, mirrors, checksums, failures."""

from __future__ import annotations

import re

import pytest
from datafiles import file_hash, make_esl, make_idx_set

from tunelab.config import DataConfig
from tunelab.data import DATASETS, DatasetInfo, RemoteFile, availability, fetch, load_splits, locate
from tunelab.data.download import cache_dir, default_urls
from tunelab.data.idx import IDX_FILES, read_idx_dataset
from tunelab.errors import DataError


def tiny_info(folder) -> DatasetInfo:
    """A 40 / 20 image MNIST-like dataset, registered with the real hashes of the files in ``folder``."""
    return DatasetInfo(
        name="tiny",
        description="test",
        input_shape=(1, 28, 28),
        n_classes=10,
        n_train=40,
        n_test=20,
        urls=(),
        files=tuple(RemoteFile(f, f"md5:{file_hash(folder / f, 'md5')}") for f in IDX_FILES),
        read=lambda path: read_idx_dataset(path, n_train=40, n_test=20),
    )


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """Serve-ready files under ``<root>/tiny/`` and a registered ``tiny`` dataset."""
    root = tmp_path / "server"
    make_idx_set(root / "tiny")
    monkeypatch.setitem(DATASETS, "tiny", tiny_info(root / "tiny"))
    return root


def test_load_splits_downloads_from_the_mirror_into_the_cache(tiny, serve, monkeypatch):
    assert availability("tiny") == "not downloaded"
    monkeypatch.setenv("TUNELAB_DATA_MIRROR", serve(tiny))  # laid out as <mirror>/<name>/<file>
    splits = load_splits(DataConfig(name="tiny", val_fraction=0.25))
    assert (len(splits.y_train), len(splits.y_val), len(splits.y_test)) == (30, 10, 20)
    assert splits.checksums == {f: file_hash(tiny / "tiny" / f) for f in IDX_FILES}
    assert locate("tiny") == cache_dir("tiny") and availability("tiny") == str(cache_dir("tiny"))
    # Found locally now: no download needed, even with the server gone.
    monkeypatch.setenv("TUNELAB_DATA_MIRROR", "http://127.0.0.1:9/")
    assert len(load_splits(DataConfig(name="tiny", val_fraction=0.25), download=False).y_test) == 20


def test_fetch_with_a_registry(tmp_path, serve):
    source = make_idx_set(tmp_path / "source")
    registry = {f: f"sha256:{file_hash(source / f)}" for f in IDX_FILES}
    dest = fetch("mnist", dest=tmp_path / "dest", base_urls=[serve(source)], registry=registry)
    assert dest == tmp_path / "dest" and sorted(p.name for p in dest.iterdir()) == sorted(IDX_FILES)
    raw = read_idx_dataset(dest)
    assert raw.x_train.shape == (40, 1, 28, 28) and raw.y_test.shape == (20,)


def test_checksum_mismatch(tmp_path, serve):
    source = make_idx_set(tmp_path / "source")
    other = make_idx_set(tmp_path / "other", n_train=41)
    registry = {IDX_FILES[0]: f"md5:{file_hash(other / IDX_FILES[0], 'md5')}"}
    with pytest.raises(DataError) as info:
        fetch("mnist", dest=tmp_path / "dest", base_urls=[serve(source)], registry=registry)
    message = str(info.value)
    assert message.startswith(f"mnist: {IDX_FILES[0]}: the checksum did not match")
    assert f"expected md5:{file_hash(other / IDX_FILES[0], 'md5')}" in message
    assert not (tmp_path / "dest" / IDX_FILES[0]).exists()  # a bad download is not kept


def test_falls_back_to_the_next_url(tmp_path, serve):
    source = make_idx_set(tmp_path / "source")
    url = serve(source)
    registry = {f: f"md5:{file_hash(source / f, 'md5')}" for f in IDX_FILES[2:]}
    dest = fetch("mnist", dest=tmp_path / "dest", base_urls=[url + "gone/", url], registry=registry)
    assert sorted(p.name for p in dest.iterdir()) == sorted(IDX_FILES[2:])


def test_every_url_failing_says_what_to_do(tmp_path, serve):
    url = serve(tmp_path)  # serves nothing useful: 404
    with pytest.raises(DataError) as info:
        fetch("mnist", dest=tmp_path / "dest", base_urls=[url, "http://127.0.0.1:9/"])
    message = str(info.value)
    tried = f"{url}, http://127.0.0.1:9/"
    assert message.startswith(f"mnist: could not download train-images-idx3-ubyte.gz from {tried} (")
    assert f"{url}train-images-idx3-ubyte.gz: HTTP 404" in message
    assert message.endswith("; put the files in a folder and pass --data-dir or set TUNELAB_DATA_DIR")


def test_not_found_without_download(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNELAB_DATA_DIR", str(tmp_path))
    expected = f"usps: files not found (zip.train.gz, zip.test.gz) in {tmp_path}, {tmp_path / 'usps'}, "
    with pytest.raises(DataError, match=re.escape(expected)):
        load_splits(DataConfig(name="usps"), download=False)
    with pytest.raises(DataError) as info:  # download allowed, but the mirror (conftest's) is closed
        load_splits(DataConfig(name="usps"))
    assert str(info.value).startswith("usps: could not download zip.train.gz from http://127.0.0.1:9/usps/")
    searched = f"{tmp_path}, {tmp_path / 'usps'}, {cache_dir('usps')}"
    assert str(info.value).endswith(f"(not found in {searched} either)")
    with pytest.raises(DataError, match="nothing to download"):
        fetch("digits")


def test_default_urls(monkeypatch):
    monkeypatch.delenv("TUNELAB_DATA_MIRROR")
    assert default_urls("mnist") == (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://yann.lecun.com/exdb/mnist/",
    )
    assert default_urls("fashion-mnist") == ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
    assert default_urls("usps") == ("https://hastie.su.domains/ElemStatLearn/datasets/",)
    monkeypatch.setenv("TUNELAB_DATA_MIRROR", "http://a.example/data, http://b.example/")
    assert default_urls("usps") == ("http://a.example/data/usps/", "http://b.example/usps/")


# ------------------------------------------------------------- the official hashes, on the real files
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_official_hashes_download_the_real_test_files(name, shared_data, serve, tmp_path):
    registry = {f.name: f.known_hash for f in DATASETS[name].files if f.name.startswith("t10k")}
    dest = fetch(name, dest=tmp_path, base_urls=[serve(shared_data / name)], registry=registry)
    assert sorted(p.name for p in dest.iterdir()) == sorted(registry)


def test_official_hash_downloads_the_real_usps_test_file(shared_data, serve, tmp_path):
    registry = {f.name: f.known_hash for f in DATASETS["usps"].files if f.name == "zip.test.gz"}
    official = "sha256:8dacc3c6e136af6c3488de9e5113a7daf140c8c2f1f0b61c54ee02f03f1a962f"
    assert registry == {"zip.test.gz": official}
    fetch("usps", dest=tmp_path, base_urls=[serve(shared_data / "usps")], registry=registry)
    assert (tmp_path / "zip.test.gz").is_file()


def test_official_hashes_match_every_shared_file(shared_data):
    for name in ("mnist", "fashion-mnist", "usps"):
        for remote in DATASETS[name].files:
            algorithm, _, expected = remote.known_hash.partition(":")
            assert file_hash(shared_data / name / remote.name, algorithm) == expected, remote


def test_generated_usps_mirror(tmp_path, serve, monkeypatch):
    """A mirror holding files of the wrong size downloads fine but is refused when read."""
    (tmp_path / "usps").mkdir()
    for f in DATASETS["usps"].files:
        make_esl(tmp_path / "usps" / f.name, n=12)
    registry = {f.name: None for f in DATASETS["usps"].files}  # no hash known for these stand-ins
    dest = fetch("usps", base_urls=[serve(tmp_path) + "usps/"], registry=registry)
    assert dest == cache_dir("usps") and locate("usps") == dest
    with pytest.raises(DataError, match="expected 7291 images, found 12"):
        load_splits(DataConfig(name="usps"))
