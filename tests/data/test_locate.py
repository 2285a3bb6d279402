"""Where dataset files are looked for: --data-dir / $TUNELAB_DATA_DIR, its <name> subfolder, the cache."""

from __future__ import annotations

import os

import pytest

from tunelab.data import DATASETS, availability, locate
from tunelab.data.download import cache_dir, candidates
from tunelab.errors import ConfigError


def put_files(folder, name, skip=0):
    """Empty stand-ins of ``name``'s files: locate only looks at their presence."""
    folder.mkdir(parents=True, exist_ok=True)
    for remote in DATASETS[name].files[skip:]:
        (folder / remote.name).touch()
    return folder


def test_the_cache_is_the_tests_own():
    assert cache_dir("mnist").is_relative_to(os.environ["XDG_CACHE_HOME"])  # never the user's real cache


def test_env_folder_with_and_without_the_files(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNELAB_DATA_DIR", str(tmp_path))
    assert locate("mnist") is None and availability("mnist") == "not downloaded"
    put_files(tmp_path, "mnist", skip=1)  # one file missing is not enough
    assert locate("mnist") is None
    put_files(tmp_path, "mnist")
    assert locate("mnist") == tmp_path and availability("mnist") == str(tmp_path)


def test_subfolder_per_dataset(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNELAB_DATA_DIR", str(tmp_path))
    put_files(tmp_path / "usps", "usps")
    assert locate("usps") == tmp_path / "usps"
    assert availability("fashion-mnist") == "not downloaded"


def test_argument_before_env_before_cache(tmp_path, monkeypatch):
    put_files(cache_dir("usps"), "usps")
    assert locate("usps") == cache_dir("usps")
    env, arg = put_files(tmp_path / "env", "usps"), put_files(tmp_path / "arg", "usps")
    monkeypatch.setenv("TUNELAB_DATA_DIR", str(env))
    assert locate("usps") == env
    assert locate("usps", arg) == arg and availability("usps", str(arg)) == str(arg)
    assert candidates("usps", arg) == [arg, arg / "usps", cache_dir("usps")]


def test_bundled_and_unknown():
    assert availability("digits") == "bundled" and locate("digits") is None
    with pytest.raises(ConfigError, match="unknown dataset 'svhn'"):
        availability("svhn")


# ------------------------------------------------------------- a given folder, missing or incomplete
def test_a_data_dir_that_does_not_exist_is_said_so_not_downloaded(tmp_path, monkeypatch):
    from tunelab.data import dataset_folder
    from tunelab.errors import DataError

    missing = tmp_path / "no-such-folder"
    for name in ("mnist", "digits"):  # bundled or not: the folder was given, so it must be there
        with pytest.raises(DataError, match=f"^--data-dir {missing}: no such folder; expected the folder"):
            dataset_folder(name, missing)
    (tmp_path / "file").touch()
    with pytest.raises(DataError, match="file: not a folder"):
        dataset_folder("mnist", tmp_path / "file")
    monkeypatch.setenv("TUNELAB_DATA_DIR", str(missing))
    with pytest.raises(DataError, match=f"^TUNELAB_DATA_DIR={missing}: no such folder"):
        availability("usps")
    assert dataset_folder("digits") is None  # a stale variable does not stop the bundled dataset
    assert not cache_dir("mnist").exists()  # nothing was downloaded


@pytest.mark.parametrize("subfolder", [False, True])
def test_a_folder_with_some_of_the_files_names_the_missing_ones(tmp_path, subfolder):
    from tunelab.data import dataset_folder
    from tunelab.errors import DataError

    folder = tmp_path / "mnist" if subfolder else tmp_path
    put_files(folder, "mnist", skip=1)  # all but the first: train-images-idx3-ubyte.gz
    with pytest.raises(DataError) as info:
        dataset_folder("mnist", tmp_path)
    message = str(info.value)
    assert message == (
        f"mnist: {folder} holds some of the dataset's files but not train-images-idx3-ubyte.gz; "
        "put it there too"
    )
    assert not cache_dir("mnist").exists()  # no download of the whole set was tried
    put_files(folder, "mnist")
    assert dataset_folder("mnist", tmp_path) == folder
