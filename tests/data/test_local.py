"""The user's own data end to end: data.path in run and study files, `tunelab run` on a folder of
PNGs and on an .npz, and bad input answered with one sentence and exit code 2."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from datafiles import make_image_folder
from typer.testing import CliRunner

from tunelab.cli import app
from tunelab.config import DataConfig, load_run_config
from tunelab.errors import ConfigError
from tunelab.search import load_study, load_study_spec
from tunelab.search.record import StudyRecord

runner = CliRunner()

STUDY = """\
name: {name}
data: {data}
model: {{kind: cnn, blocks: [{{filters: 4, kernel: 3, pool: max}}], dense: [16]}}
train: {{epochs: 2, batch_size: 8, device: cpu}}
space:
  train.optimizer.lr: {{low: 1.0e-3, high: 1.0e-1, log: true}}
strategy: random
budget: {{n_trials: 2}}
"""


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def write_study(folder, data: str, name: str = "own") -> object:
    path = folder / "study.yaml"
    path.write_text(STUDY.format(name=name, data=data), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------ config
def test_relative_paths_are_relative_to_the_file_and_to_the_cwd_for_set(tmp_path, monkeypatch):
    (tmp_path / "project").mkdir()
    run = tmp_path / "project" / "run.yaml"
    run.write_text("data: {name: folder, path: images, test_path: ../held-out}\n")
    monkeypatch.chdir(tmp_path)
    cfg = load_run_config(run)
    assert cfg.data.path == str(tmp_path / "project" / "images")
    assert os.path.normpath(cfg.data.test_path) == str(tmp_path / "held-out")
    assert load_run_config(run, ["data.path=other"]).data.path == str(tmp_path / "other")
    study = write_study(tmp_path / "project", "{name: arrays, path: data.npz}")
    assert load_study_spec(study).data.path == str(tmp_path / "project" / "data.npz")
    assert DataConfig(name="arrays", path="/abs/x.npz").path == "/abs/x.npz"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"name": "folder"}, "data.path: the folder dataset needs a path (a folder of class subfolders)"),
        ({"name": "arrays"}, "data.path: the arrays dataset needs a path (an .npz file)"),
        ({"name": "mnist", "path": "x"}, "data.path: applies to the folder and arrays datasets, not mnist"),
        ({"name": "digits", "size": 8}, "data.size: applies to the folder and arrays datasets, not digits"),
        (
            {"name": "arrays", "path": "x.npz", "size": 8},
            "data.size: applies to the folder dataset, not arrays",
        ),
        ({"name": "folder", "path": "a", "test_path": "b", "test_fraction": 0.2}, "data.test_fraction: not"),
        ({"name": "folder", "path": "a", "size": [0, 3]}, "data.size[0]"),
        ({"name": "folder", "path": "a", "test_fraction": 1.5}, "data.test_fraction"),
    ],
)
def test_bad_data_settings_name_the_field(tmp_path, data, expected):
    from tunelab.config import validate_run_config

    with pytest.raises(ConfigError) as info:
        validate_run_config({"data": data}, "run.yaml")
    assert str(info.value).startswith(f"run.yaml: {expected}"), str(info.value)


# ------------------------------------------------------------------------------------------ end to end
def test_a_random_study_on_a_folder_of_pngs(tmp_path):
    make_image_folder(tmp_path / "images", n=12)  # 3 classes of 8×8 RGB PNGs
    study = write_study(tmp_path, "{name: folder, path: images, val_fraction: 0.25}")
    out = tmp_path / "out"
    result = invoke("run", study, "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    best = json.loads(invoke("best", out, "--json").stdout)
    assert 0.0 <= best["value"] <= 1.0
    handle = load_study(out)  # study.yaml beside the results names the folder by its absolute path
    assert handle.spec.data.path == str(tmp_path / "images")
    trials = handle.study.get_trials()
    assert len(trials) == 2 and all(t.state.name == "COMPLETE" for t in trials)
    provenance = StudyRecord.from_study(handle.study).provenance
    from tunelab.data.folder import content_hash, list_images

    assert provenance["dataset_sha256"] == {"images/": content_hash(list_images(tmp_path / "images"))}
    from tunelab.analysis.summaries import StudyData, study_summary

    summary = study_summary(StudyData.from_handle(handle)).set_index("item")["value"]
    assert summary["dataset"] == f"folder {tmp_path / 'images'} (validation fraction 0.25)"


def test_a_random_study_on_an_npz(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (60, 8, 8, 3), dtype=np.uint8)
    np.savez(tmp_path / "data.npz", x_train=x, y_train=np.arange(60) % 3)
    study = write_study(tmp_path, "{name: arrays, path: data.npz, val_fraction: 0.25}", name="own-npz")
    out = tmp_path / "out"
    result = invoke("run", study, "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    handle = load_study(out)
    assert [t.state.name for t in handle.study.get_trials()] == ["COMPLETE", "COMPLETE"]
    assert list(StudyRecord.from_study(handle.study).provenance["dataset_sha256"]) == ["data.npz"]


def test_tunelab_train_on_an_npz_with_its_own_test_set(tmp_path):
    rng = np.random.default_rng(1)
    np.savez(
        tmp_path / "data.npz",
        x_train=rng.normal(size=(40, 1, 6, 6)).astype(np.float32),
        y_train=np.arange(40) % 2,
        x_test=rng.normal(size=(10, 1, 6, 6)).astype(np.float32),
        y_test=np.arange(10) % 2,
    )
    run = tmp_path / "run.yaml"
    run.write_text(
        "data: {name: arrays, path: data.npz, val_fraction: 0.25}\nmodel: {kind: mlp, hidden: [8]}\n"
    )
    result = invoke("train", run, "--set", "train.epochs=1", "--out", tmp_path / "r", "--json", "--quiet")
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert sum(sum(row) for row in metrics["test"]["confusion"]) == 10


def one_sentence(result, *expected: str) -> str:
    output = result.output.strip()
    assert result.exit_code == 2, output
    assert "Traceback" not in output and len(output.splitlines()) == 1, output
    for text in expected:
        assert text in output, output
    return output


@pytest.mark.parametrize(
    ("make", "data", "expected"),
    [
        (
            lambda p: make_image_folder(p / "images") and (p / "images" / "eel").mkdir(),
            "{name: folder, path: images}",
            "images/eel: empty class folder",
        ),
        (
            lambda p: make_image_folder(p / "images") and (p / "images" / "cat" / "x.png").write_bytes(b"?"),
            "{name: folder, path: images}",
            "images/cat/x.png: not a readable image",
        ),
        (lambda p: None, "{name: folder, path: nowhere}", "nowhere: folder not found"),
        (
            lambda p: np.savez(p / "d.npz", y_train=[0, 1]),
            "{name: arrays, path: d.npz}",
            "d.npz: x_train is missing",
        ),
        (
            lambda p: np.savez(p / "d.npz", x_train=np.zeros((3, 4, 4)), y_train=[0.5, 1, 2]),
            "{name: arrays, path: d.npz}",
            "d.npz: y_train must hold integer class labels",
        ),
        (
            lambda p: np.savez(p / "d.npz", x_train=np.zeros((3, 4, 4)), y_train=[0, 1]),
            "{name: arrays, path: d.npz}",
            "d.npz: x_train holds 3 images but y_train holds 2 labels",
        ),
        (lambda p: None, "{name: arrays, path: gone.npz}", "gone.npz: file not found"),
    ],
    ids=["empty-class", "unreadable-image", "no-folder", "no-x-train", "float-labels", "length", "no-npz"],
)
def test_bad_data_is_one_sentence_and_exit_2(tmp_path, make, data, expected):
    make(tmp_path)
    study = write_study(tmp_path, data)
    result = invoke("run", study, "--out", tmp_path / "out", "--quiet")
    one_sentence(result, expected)
    if (tmp_path / "out" / "study.db").exists():  # refused before any trial trained
        assert load_study(tmp_path / "out").study.get_trials() == []
