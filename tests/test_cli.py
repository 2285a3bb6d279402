from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from tunelab.cli import app
from tunelab.config import load_run_config
from tunelab.models import build_model

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = REPO / "examples" / "quickstart.yaml"
CUDA_ABSENT = f"cuda:{torch.cuda.device_count()}" if torch.cuda.is_available() else "cuda"
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_train_writes_artifacts_and_json(tmp_path):
    result = invoke(
        "train", QUICKSTART, "--set", "train.epochs=3", "--out", tmp_path / "run", "--json", "--quiet"
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["status"] == "completed" and summary["epochs"] == 3
    assert 0.5 < summary["test_accuracy"] <= 1.0
    run = tmp_path / "run"
    history = (run / "history.csv").read_text().splitlines()
    assert history[0].startswith("epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr,time_s")
    assert len(history) == 4
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["confusion"] and metrics["provenance"]["torch"] == torch.__version__
    assert metrics["provenance"]["dataset_sha256"]
    # The resolved config reproduces the run, and the weights load without unpickling code.
    cfg = load_run_config(run / "config.yaml")
    assert cfg.train.epochs == 3
    state = torch.load(run / "model.pt", weights_only=True)
    model = build_model(cfg.model, (1, 8, 8), 10)
    model.load_state_dict(state)


def test_train_prints_progress_and_summary(tmp_path):
    result = invoke("train", QUICKSTART, "-s", "train.epochs=2", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert "epoch 2/2" in result.output and "accuracy" in result.output
    assert re.search(r"on cpu \(\d+ threads?\) · [\d,]+ parameters", result.output)  # what it trained with


def test_train_uses_the_threads_asked_for(tmp_path, monkeypatch):
    from tunelab.train import threads

    monkeypatch.setattr(threads, "_requested", None)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        result = invoke(
            "train", QUICKSTART, "-s", "train.epochs=1", "--threads", "1", "-q", "--out", tmp_path
        )
        assert result.exit_code == 0, result.output
        assert torch.get_num_threads() == 1
        assert "1 threads" in json.loads((tmp_path / "metrics.json").read_text())["provenance"]["device"]
    finally:
        torch.set_num_threads(before)


def test_datasets_lists_every_dataset():
    result = invoke("datasets")
    assert result.exit_code == 0
    for name in ("digits", "mnist", "fashion-mnist", "usps", "bundled"):
        assert name in result.stdout


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and "tunelab" in result.stdout


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


BAD_FILES = {
    "unknown key": ("model: {kind: mlp, hiden: [32]}", "model.hiden: unknown key"),
    "wrong type": ("train: {epochs: many}", "train.epochs"),
    "negative dropout": ("model: {kind: mlp, hidden: [32], dropout: -0.1}", "model.dropout"),
    "lr not positive": ("train: {optimizer: {name: adam, lr: 0}}", "train.optimizer.lr"),
    "per-layer length": (
        "model: {kind: mlp, hidden: [32, 16], activation: [relu]}",
        "model.activation: has 1 entries but there are 2 layers",
    ),
    "unknown dataset": ("data: {name: cifar100}", "unknown dataset 'cifar100'"),
    "unknown model": ("model: {kind: transformer}", "model.kind: unknown model 'transformer'"),
    "unknown optimizer": ("train: {optimizer: adagrad}", "train.optimizer.name"),
    "unknown schedule": ("train: {schedule: {name: warm}}", "train.schedule: unknown value 'warm'"),
    "missing schedule field": ("train: {schedule: {name: time}}", "train.schedule.decay: required"),
    "nesterov without momentum": ("train: {optimizer: {name: sgd, nesterov: true}}", "nesterov"),
    "bad device": ("train: {device: tpu}", "train.device: unknown device 'tpu'"),
    "invalid yaml": ("model: {kind: mlp\n  hidden: [", "invalid YAML at line"),
    "empty file": ("", "run.yaml: the file is empty"),
    "comments only": ("# a run, later\n\n", "run.yaml: the file is empty"),
    "device not here": (f"train: {{device: {CUDA_ABSENT}}}", f"train.device: {CUDA_ABSENT} is not available"),
    "not a mapping": ("- a\n- b\n", "expected a mapping"),
    "cnn without blocks": ("model: {kind: cnn, blocks: []}", "model.blocks"),
    "init bounds": ("model: {kind: mlp, init: {scheme: uniform, low: 1, high: 0}}", "init.low"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_run_file_is_one_sentence_and_exit_2(tmp_path, case):
    text, expected = BAD_FILES[case]
    result = invoke("train", write(tmp_path, text), "--out", tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1  # one sentence
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--set", "train.epochs"], "expected key=value"),
        (["--set", "train.epochs=[1"], "not valid YAML"),
        (["--set", "train.epoch=3"], "train.epoch: unknown key"),
        (["--set", "train.epochs=0"], "train.epochs: Input should be greater than 0"),
        (["--device", "gpu"], "--device: unknown device 'gpu'"),
        (["--device", CUDA_ABSENT], f"--device: {CUDA_ABSENT} is not available here"),
        (
            ["--data-dir", "{tmp}/nowhere", "--set", "data.name=mnist"],
            "--data-dir {tmp}/nowhere: no such folder",
        ),
        (["--threads", "0"], "--threads"),
    ],
)
def test_bad_overrides_exit_2(tmp_path, args, expected):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = invoke("train", QUICKSTART, *args, "--out", tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert expected.replace("{tmp}", str(tmp_path)) in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_missing_run_file_exit_2(tmp_path):
    result = invoke("train", tmp_path / "nope.yaml")
    assert result.exit_code == 2
    assert "nope.yaml: file not found" in result.output


def test_missing_data_files_exit_2(tmp_path):
    # The autouse fixture points downloads at a closed local port, so the files cannot be fetched.
    result = invoke(
        "train", QUICKSTART, "--set", "data.name=mnist", "--data-dir", tmp_path, "--out", tmp_path / "o"
    )
    assert result.exit_code == 2, result.output
    assert "mnist" in result.output and "--data-dir" in result.output
    assert "Traceback" not in result.output


def test_unknown_cli_option_exit_2():
    result = invoke("train", QUICKSTART, "--epochs", "3")
    assert result.exit_code == 2
