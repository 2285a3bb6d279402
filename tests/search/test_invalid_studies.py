"""Every mistake in a study file, a ``--set`` or a storage URL is one sentence on stderr and exit 2.

Each case runs the real ``tunelab run`` and checks that the sentence starts with ``error:``, names
what is wrong (the field, the file or the URL) and carries no traceback. Nothing here trains, except
the resume test at the end (two one-epoch trials on the bundled digits).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from optuna.trial import TrialState
from typer.testing import CliRunner

from tunelab.cli import app
from tunelab.search import load_study

runner = CliRunner()

HEAD = """\
name: bad
data: {name: digits, val_fraction: 0.2}
model: {kind: mlp, hidden: [16]}
train: {epochs: 1, batch_size: 64, device: cpu}
"""
SPACE = "space:\n  train.optimizer.lr: {low: 1.0e-4, high: 1.0e-1, log: true}\n"
RANDOM = "strategy: random\nbudget: {n_trials: 1}\n"
VALID = HEAD + SPACE + RANDOM


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def write(tmp_path: Path, text: str, name: str = "study.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def assert_one_sentence(result, *expected: str) -> str:
    """Exit 2, one line starting with ``error:``, naming each of ``expected``; returns the line."""
    output = result.output.strip()
    assert result.exit_code == 2, output
    assert "Traceback" not in output, output
    assert len(output.splitlines()) == 1, output
    assert output.startswith("error:"), output
    for text in expected:
        assert text in output, output
    return output


# ------------------------------------------------------------------------------------ study files
# id: (file name, contents, substrings the message must contain)
BAD_STUDIES = {
    "yaml-syntax": (
        "broken.yaml",
        HEAD + "space: {train.optimizer.lr: [0.1, 0.01\n",
        ["broken.yaml", "invalid YAML at line"],
    ),
    "top-level-list": (
        "listy.yaml",
        "- name: bad\n- strategy: grid\n",
        ["listy.yaml", "expected a mapping", "list"],
    ),
    "top-level-scalar": ("scalar.yaml", "just a string\n", ["scalar.yaml", "expected a mapping", "str"]),
    "empty-file": ("empty.yaml", "", ["empty.yaml", "name", "required"]),
    "missing-name": (
        "noname.yaml",
        VALID.replace("name: bad\n", ""),
        ["noname.yaml", "name: required but missing"],
    ),
    "bad-name-characters": (
        "study.yaml",
        VALID.replace("name: bad", "name: my study/1"),
        ["name:", "letters, digits"],
    ),
    "unknown-top-level-key": ("study.yaml", VALID + "spaces: {}\n", ["spaces: unknown key"]),
    "unknown-strategy": (
        "study.yaml",
        HEAD + SPACE + "strategy: bayes\nbudget: {n_trials: 1}\n",
        ["strategy", "'bayes'"],
    ),
    "empty-space-random": ("study.yaml", HEAD + "space: {}\n" + RANDOM, ["space has nothing to search"]),
    "only-fixed-values": (
        "study.yaml",
        HEAD + "space:\n  train.optimizer.lr: 0.01\n  model.dropout: {value: 0.1}\n" + RANDOM,
        ["space has nothing to search"],
    ),
    "float-low-above-high": (
        "study.yaml",
        HEAD + "space:\n  train.optimizer.lr: {low: 0.1, high: 0.01}\n" + RANDOM,
        ["space.train.optimizer.lr", "low (0.1) must be below high (0.01)"],
    ),
    "int-low-above-high": (
        "study.yaml",
        HEAD + "space:\n  train.batch_size: {low: 128, high: 16}\n" + RANDOM,
        ["space.train.batch_size", "low (128) must be below high (16)"],
    ),
    "log-low-zero": (
        "study.yaml",
        HEAD + "space:\n  train.optimizer.lr: {low: 0.0, high: 0.1, log: true}\n" + RANDOM,
        ["space.train.optimizer.lr", "log scale needs low > 0"],
    ),
    "log-with-step": (
        "study.yaml",
        HEAD + "space:\n  train.optimizer.lr: {low: 0.001, high: 0.1, log: true, step: 0.001}\n" + RANDOM,
        ["space.train.optimizer.lr", "log and step"],
    ),
    "categorical-no-choices": (
        "study.yaml",
        HEAD + "space:\n  train.batch_size: {type: categorical, choices: []}\n" + RANDOM,
        ["space.train.batch_size.choices", "at least 1"],
    ),
    "duplicate-choices": (
        "study.yaml",
        HEAD + "space:\n  train.batch_size: [32, 64, 32]\n" + RANDOM,
        ["space.train.batch_size.choices", "distinct"],
    ),
    "unknown-param-type": (
        "study.yaml",
        HEAD + "space:\n  train.optimizer.lr: {type: loguniform, low: 0.001, high: 0.1}\n" + RANDOM,
        ["space.train.optimizer.lr", "'loguniform'"],
    ),
    "per-layer-without-depth": (
        "study.yaml",
        HEAD + "space:\n  model.hidden: {low: 16, high: 64, per_layer: n_layers}\n" + RANDOM,
        ["space.model.hidden", "'n_layers'", "not in space"],
    ),
    "per-layer-depth-is-float": (
        "study.yaml",
        HEAD
        + "space:\n  n_layers: {low: 1.0, high: 3.0}\n  model.hidden: {low: 16, high: 64, per_layer: n_layers}\n"
        + RANDOM,
        ["space.n_layers", "must be an int"],
    ),
    "free-parameter-unused": (
        "study.yaml",
        HEAD + SPACE + "  width: [16, 32]\n" + RANDOM,
        ["space.width", "not a run setting"],
    ),
    "space-key-not-a-setting": (
        "study.yaml",
        HEAD + "space:\n  model.hiden: [16, 32]\n" + RANDOM,
        ["space.model.hiden: model.hiden: unknown key"],
    ),
    "categorical-list-choices": (
        "study.yaml",
        HEAD + "space:\n  model.hidden: [[16], [32, 16]]\n" + RANDOM,
        ["space.model.hidden.choices", "[16] is a list", "per_layer"],
    ),
    "space-dropout-out-of-range": (
        "study.yaml",
        HEAD + "space:\n  model.dropout: {low: 0.0, high: 1.5}\n" + RANDOM,
        ["space.model.dropout", "less than 1", "1.5"],
    ),
    "space-lr-low-zero": (
        "study.yaml",
        HEAD + "space:\n  train.optimizer.lr: {low: 0, high: 0.1}\n" + RANDOM,
        ["space.train.optimizer.lr", "greater than 0"],
    ),
    "grid-float-without-step": (
        "study.yaml",
        HEAD + "space:\n  model.dropout: {low: 0.0, high: 0.5}\nstrategy: grid\n",
        ["study.yaml: space.model.dropout", "without step"],
    ),
    "grid-too-large": (
        "study.yaml",
        HEAD
        + "space:\n  train.batch_size: {low: 1, high: 1000}\n  train.epochs: {low: 1, high: 101}\nstrategy: grid\n",
        ["study.yaml: space:", "100,000 points"],
    ),
    "grid-int-range-too-large": (
        "study.yaml",
        HEAD + "space:\n  train.seed: {low: 0, high: 1000000000}\nstrategy: grid\n",
        ["study.yaml: space:", "100,000 points"],
    ),
    "random-without-budget": (
        "study.yaml",
        HEAD + SPACE + "strategy: random\n",
        ["random needs a budget", "budget.n_trials"],
    ),
    "negative-n-trials": (
        "study.yaml",
        HEAD + SPACE + "strategy: random\nbudget: {n_trials: -3}\n",
        ["budget.n_trials", "greater than 0"],
    ),
    "repeats-zero": ("study.yaml", VALID + "repeats: 0\n", ["repeats", "greater than or equal to 1"]),
    "asha-with-val-f1": (
        "study.yaml",
        VALID + "pruner: asha\nobjective: val_f1\n",
        ["pruner asha", "val_f1"],
    ),
    "unknown-pruner": ("study.yaml", VALID + "pruner: sometimes\n", ["pruner", "'sometimes'"]),
    "unknown-objective-metric": ("study.yaml", VALID + "objective: val_auc\n", ["objective", "'val_auc'"]),
    "listed-with-space": (
        "study.yaml",
        HEAD + SPACE + "strategy:\n  name: listed\n  configs:\n    - {name: a, set: {model.hidden: [32]}}\n",
        ["listed", "strategy.configs, not space"],
    ),
    "listed-duplicate-names": (
        "study.yaml",
        HEAD
        + "strategy:\n  name: listed\n  configs:\n    - {name: a, set: {model.hidden: [32]}}\n    - {name: a, set: {model.hidden: [64]}}\n",
        ["strategy.configs", "distinct"],
    ),
    "listed-unknown-key": (
        "study.yaml",
        HEAD + "strategy:\n  name: listed\n  configs:\n    - {name: wide, set: {model.widht: 64}}\n",
        ["configuration 'wide'", "model.widht", "unknown key"],
    ),
    "staged-space-and-configs": (
        "study.yaml",
        HEAD
        + "strategy:\n  name: staged\n  stages:\n    - name: one\n      space: {train.batch_size: [32, 64]}\n      configs: [{name: a, set: {model.hidden: [32]}}]\n",
        ["strategy.stages[0]", "not both"],
    ),
    "staged-key-twice": (
        "study.yaml",
        HEAD
        + "strategy:\n  name: staged\n  stages:\n    - {name: one, space: {train.batch_size: [32, 64]}}\n    - {name: two, space: {train.batch_size: [16, 128]}}\n",
        ["train.batch_size", "'one'", "'two'"],
    ),
    "staged-stage-key-not-a-setting": (
        "study.yaml",
        HEAD + "strategy:\n  name: staged\n  stages:\n    - {name: one, space: {batch_size: [32, 64]}}\n",
        ["strategy.stages[0].space.batch_size", "not a run setting"],
    ),
    "staged-stage-float-without-step": (
        "study.yaml",
        HEAD
        + "strategy:\n  name: staged\n  stages:\n    - {name: one, space: {train.batch_size: [32, 64]}}\n    - {name: two, space: {model.dropout: {low: 0.0, high: 0.5}}}\n",
        ["strategy.stages[1].space.model.dropout", "without step"],
    ),
    "staged-stage-value-out-of-range": (
        "study.yaml",
        HEAD
        + "strategy:\n  name: staged\n  stages:\n    - {name: one, space: {train.batch_size: [0, 64]}}\n",
        ["train.batch_size", "greater than 0"],
    ),
    "coarse-to-fine-top-fraction-zero": (
        "study.yaml",
        HEAD
        + SPACE
        + "strategy: {name: coarse_to_fine, coarse_trials: 4, fine_trials: 2, top_fraction: 0}\n",
        ["strategy.top_fraction", "greater than 0"],
    ),
    "storage-garbage-in-file": (
        "study.yaml",
        VALID + "storage: notaurl\n",
        ["storage", "not a database URL"],
    ),
}


@pytest.mark.parametrize(("name", "text", "expected"), list(BAD_STUDIES.values()), ids=list(BAD_STUDIES))
def test_bad_study_file_is_one_sentence_and_exit_2(tmp_path, name, text, expected):
    out = tmp_path / "out"
    result = invoke("run", write(tmp_path, text, name), "--out", out, "--quiet")
    assert_one_sentence(result, *expected)
    trials = load_study(out).study.trials if (out / "study.yaml").exists() else []
    assert not trials  # nothing was trained


# ------------------------------------------------------------------------- storage, options, data
@pytest.mark.parametrize(
    ("args", "expected", "secret"),
    [
        (["--storage", "postgresql://postgres@127.0.0.1:1/test"], ["storage", "cannot connect"], None),
        (
            ["--storage", "postgresql://user:s3cret@127.0.0.1:1/db"],
            ["storage", "***", "cannot connect"],
            "s3cret",
        ),
        (["--storage", "notaurl"], ["storage", "not a database URL"], None),
        (["--storage", "sqlite:///{tmp}/no/such/folder/study.db"], ["storage", "does not exist"], None),
        (["--storage", "nosuchdb://x@localhost/db"], ["storage", "no driver"], None),
        (["--set", "budget.n_trials"], ["--set", "expected key=value"], None),
        (["--set", "budget.n_trials=[1"], ["--set", "not valid YAML"], None),
        (["--set", "strategy=bayes"], ["strategy", "'bayes'"], None),
        (["--set", "train.epochs.max=3"], ["train.epochs", "not a mapping"], None),
        (["--n-trials", "0"], ["--n-trials"], None),
        (["--timeout", "-1"], ["--timeout"], None),
    ],
    ids=[
        "storage-unreachable",
        "storage-password-masked",
        "storage-garbage",
        "storage-sqlite-missing-folder",
        "storage-unknown-driver",
        "set-without-equals",
        "set-bad-yaml",
        "set-unknown-strategy",
        "set-into-a-scalar",
        "n-trials-zero",
        "timeout-negative",
    ],
)
def test_bad_arguments_exit_2(tmp_path, args, expected, secret):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    start = time.monotonic()
    result = invoke("run", write(tmp_path, VALID), "--out", tmp_path / "out", "--quiet", *args)
    assert time.monotonic() - start < 15  # an unreachable server fails at once (connect_timeout)
    if args[0].startswith("--n-trials") or args[0].startswith("--timeout"):
        # click's own validation: exit 2 with a usage box naming the option
        assert result.exit_code == 2 and expected[0] in result.output
        return
    output = assert_one_sentence(result, *expected)
    if secret is not None:
        assert secret not in output


def test_storage_password_in_study_file_is_masked(tmp_path):
    text = VALID + "storage: postgresql://user:s3cret@127.0.0.1:1/db\n"
    output = assert_one_sentence(invoke("run", write(tmp_path, text), "--out", tmp_path / "out"))
    assert "s3cret" not in output and "***" in output and "cannot connect" in output


def test_missing_study_file_exit_2(tmp_path):
    assert_one_sentence(
        invoke("run", tmp_path / "nope.yaml", "--out", tmp_path / "out"), "nope.yaml", "file not found"
    )


def test_study_file_is_a_folder_exit_2(tmp_path):
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    assert_one_sentence(invoke("run", folder, "--out", tmp_path / "out"), "folder.yaml", "cannot be read")


def test_missing_data_file_names_the_file(tmp_path):
    empty = tmp_path / "data"
    empty.mkdir()
    study = write(tmp_path, VALID.replace("name: digits", "name: mnist"))
    result = invoke("run", study, "--out", tmp_path / "out", "--data-dir", empty, "--quiet")
    output = assert_one_sentence(result, "mnist")
    assert "ubyte" in output or ".gz" in output  # which file is missing
    assert not load_study(tmp_path / "out").study.trials


# ------------------------------------------------------------------------------------------ resume
def test_resume_with_a_changed_space_is_refused_and_keeps_the_trials(tmp_path):
    grid = HEAD + "space:\n  train.optimizer.lr: [0.001, 0.01]\nstrategy: grid\n"
    out = tmp_path / "out"
    first = invoke("run", write(tmp_path, grid), "--out", out, "--quiet")
    assert first.exit_code == 0, first.output
    done = load_study(out).study.get_trials(states=(TrialState.COMPLETE,))
    assert len(done) == 2

    changed = grid.replace("[0.001, 0.01]", "[0.001, 0.1]")
    result = invoke("run", write(tmp_path, changed), "--out", out, "--quiet")
    assert_one_sentence(result, "'bad'", "made from a different study file", "space")

    after = load_study(out).study.get_trials(states=(TrialState.COMPLETE,))
    assert [t.params for t in after] == [t.params for t in done]
    status = invoke("status", out)
    assert status.exit_code == 0, status.output
