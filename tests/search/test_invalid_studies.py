"""Every mistake in a study file, a ``--set`` or a storage URL is one sentence on stderr and exit 2.

Each case runs the real ``tunelab run`` and checks that the sentence starts with ``error:``, names
what is wrong (the field, the file or the URL) and carries no traceback. Nothing here trains, except
the resume test at the end (two one-epoch trials on the bundled digits).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
import torch
from optuna.trial import TrialState
from typer.testing import CliRunner

from tunelab.cli import app
from tunelab.errors import ConfigError
from tunelab.search import load_study

runner = CliRunner()

HEAD = """\
name: bad
data: {name: digits, val_fraction: 0.2}
model: {kind: mlp, hidden: [16]}
train: {epochs: 1, batch_size: 64, device: cpu}
"""
RANDOM = "strategy: random\nbudget: {n_trials: 1}\n"
LR = "train.optimizer.lr: {low: 1.0e-4, high: 1.0e-1, log: true}"


def study(*space: str, strategy: str = RANDOM, extra: str = "") -> str:
    """A study file: the fixed settings, then ``space`` (one parameter per line) and ``strategy``."""
    lines = "".join(f"  {line}\n" for line in space)
    return HEAD + (f"space:\n{lines}" if space else "") + strategy + extra


def listed(*configs: str) -> str:
    return "strategy:\n  name: listed\n  configs:\n" + "".join(f"    - {c}\n" for c in configs)


def staged(*stages: str) -> str:
    return "strategy:\n  name: staged\n  stages:\n" + "".join(f"    - {s}\n" for s in stages)


VALID = study(LR)


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
def case(id: str, text: str, *expected: str, name: str = "study.yaml"):
    """A bad study file ``text`` (written as ``name``) whose message must contain ``expected``."""
    return pytest.param(name, text, expected, id=id)


BAD_STUDIES = [
    # the file itself
    case(
        "yaml-syntax", HEAD + "space: {x: [0.1\n", "broken.yaml", "invalid YAML at line", name="broken.yaml"
    ),
    case(
        "yaml-duplicate-key",
        VALID + "strategy: grid\n",
        "twice.yaml",
        "'strategy' is given twice",
        name="twice.yaml",
    ),
    case(
        "top-level-list",
        "- name: bad\n- strategy: grid\n",
        "list.yaml",
        "expected a mapping",
        name="list.yaml",
    ),
    case(
        "top-level-scalar",
        "just a string\n",
        "scalar.yaml",
        "expected a mapping",
        "got str",
        name="scalar.yaml",
    ),
    case("empty-file", "", "empty.yaml: the file is empty", name="empty.yaml"),
    case(
        "comments-only-file",
        "# a study, one day\n\n  # nothing yet\n",
        "comments.yaml: the file is empty",
        name="comments.yaml",
    ),
    # top-level fields
    case("missing-name", VALID.replace("name: bad\n", ""), "name: required but missing"),
    case("bad-name-characters", VALID.replace("name: bad", "name: my study/1"), "name: use letters, digits"),
    case(
        "population-padding-word",
        VALID + "population_padding: maybe\n",
        "population_padding: must be true, false or auto, got 'maybe'",
    ),
    case("unknown-top-level-key", VALID + "spaces: {}\n", "spaces: unknown key"),
    case("model-without-kind", study(LR).replace("kind: mlp, ", ""), "model: 'kind' is required but missing"),
    case(
        "unknown-strategy",
        study(LR, strategy="strategy: bayes\nbudget: {n_trials: 1}\n"),
        "strategy",
        "'bayes'",
    ),
    case(
        "strategy-without-name",
        study(LR, strategy="strategy: {n_startup_trials: 3}\n"),
        "strategy: 'name' is required",
    ),
    case(
        "random-without-budget",
        study(LR, strategy="strategy: random\n"),
        "random needs a budget",
        "budget.n_trials",
    ),
    case(
        "negative-n-trials",
        study(LR, strategy="strategy: tpe\nbudget: {n_trials: -3}\n"),
        "budget.n_trials",
        "greater than 0",
    ),
    case("repeats-zero", VALID + "repeats: 0\n", "repeats", "greater than or equal to 1 (got 0)"),
    case("unknown-objective-metric", VALID + "objective: val_auc\n", "objective.metric", "'val_auc'"),
    case("unknown-pruner", VALID + "pruner: sometimes\n", "pruner.name", "'sometimes'"),
    case("asha-with-val-f1", VALID + "pruner: asha\nobjective: val_f1\n", "pruner asha", "val_f1"),
    # the space
    case("empty-space-random", study(extra="space: {}\n"), "space has nothing to search"),
    case(
        "only-fixed-values",
        study("train.optimizer.lr: 0.01", "model.dropout: {value: 0.1}"),
        "space has nothing to search",
    ),
    case(
        "float-low-above-high",
        study("train.optimizer.lr: {low: 0.1, high: 0.01}"),
        "space.train.optimizer.lr: low (0.1) must be below high (0.01)",
    ),
    case(
        "int-low-above-high",
        study("train.batch_size: {low: 128, high: 16}"),
        "space.train.batch_size: low (128) must be below high (16)",
    ),
    case(
        "log-low-zero",
        study("train.optimizer.lr: {low: 0.0, high: 0.1, log: true}"),
        "space.train.optimizer.lr: a log scale needs low > 0",
    ),
    case(
        "log-with-step",
        study("train.optimizer.lr: {low: 0.001, high: 0.1, log: true, step: 0.01}"),
        "space.train.optimizer.lr: log and step",
    ),
    case(
        "step-zero",
        study("train.batch_size: {low: 16, high: 64, step: 0}"),
        "space.train.batch_size.step",
        "greater than 0",
    ),
    case(
        "categorical-no-choices",
        study("train.batch_size: {type: categorical, choices: []}"),
        "space.train.batch_size.choices",
        "at least 1",
    ),
    case(
        "duplicate-choices",
        study("train.batch_size: [32, 64, 32]"),
        "space.train.batch_size.choices: choices must be distinct",
    ),
    case(
        "list-as-a-choice",
        study("model.hidden: [[16], [32, 16]]"),
        "space.model.hidden.choices: choice [16] is a list",
        "per_layer",
    ),
    case(
        "unknown-param-type",
        study("train.optimizer.lr: {type: loguniform, low: 0.001, high: 0.1}"),
        "space.train.optimizer.lr",
        "'loguniform'",
    ),
    case(
        "per-layer-without-depth",
        study("model.hidden: {low: 16, high: 64, per_layer: n_layers}"),
        "space.model.hidden: per_layer names 'n_layers'",
        "not in space",
    ),
    case(
        "per-layer-depth-is-float",
        study("n_layers: {low: 1.0, high: 3.0}", "model.hidden: {low: 16, high: 64, per_layer: n_layers}"),
        "space.n_layers: a depth parameter must be an int",
    ),
    case("free-parameter-unused", study(LR, "width: [16, 32]"), "space.width: not a run setting"),
    case(
        "space-key-not-a-setting",
        study("model.hiden: [16, 32]"),
        "space.model.hiden: model.hiden: unknown key",
    ),
    case(
        "space-dropout-out-of-range",
        study("model.dropout: {low: 0.0, high: 1.5}"),
        "space.model.dropout: model.dropout: Input should be less than 1 (got 1.5)",
    ),
    case(
        "space-lr-low-zero",
        study("train.optimizer.lr: {low: 0, high: 0.1}"),
        "space.train.optimizer.lr: train.optimizer.lr: Input should be greater than 0",
    ),
    # grids
    case(
        "grid-float-without-step",
        study("model.dropout: {low: 0.0, high: 0.5}", strategy="strategy: grid\n"),
        "study.yaml: space.model.dropout: a float range without step has no grid",
    ),
    case(
        "grid-log-int",
        study("train.batch_size: {type: int, low: 16, high: 256, log: true}", strategy="strategy: grid\n"),
        "space.train.batch_size: a log-scaled int has no grid",
    ),
    case(
        "grid-too-large",
        study(
            "train.batch_size: {low: 1, high: 1000}",
            "train.epochs: {low: 1, high: 101}",
            strategy="strategy: grid\n",
        ),
        "study.yaml: space: the grid has more than 100,000 points",
    ),
    case(
        "grid-one-huge-range",
        study("train.seed: {low: 0, high: 1000000000}", strategy="strategy: grid\n"),
        "study.yaml: space: the grid has more than 100,000 points",
    ),
    # listed, staged, coarse_to_fine
    case(
        "listed-with-space",
        study(LR, strategy=listed("{name: a, set: {model.hidden: [32]}}")),
        "strategy listed takes its values from strategy.configs, not space",
    ),
    case(
        "listed-duplicate-names",
        study(
            strategy=listed("{name: a, set: {model.hidden: [32]}}", "{name: a, set: {model.hidden: [64]}}")
        ),
        "strategy.configs: configuration names must be distinct",
    ),
    case(
        "listed-unknown-key",
        study(strategy=listed("{name: wide, set: {model.widht: 64}}")),
        "configuration 'wide': model.widht: unknown key",
    ),
    case(
        "listed-bad-value",
        study(strategy=listed("{name: deep, set: {model.hidden: [64, 0]}}")),
        "configuration 'deep': model.hidden[1]",
        "greater than 0",
    ),
    case(
        "staged-space-and-configs",
        study(strategy=staged("{name: one, space: {train.batch_size: [32, 64]}, configs: [{name: a}]}")),
        "strategy.stages[0]: give either space",
        "not both",
    ),
    case(
        "staged-stage-empty",
        study(strategy=staged("{name: one}")),
        "strategy.stages[0]: give either space",
        "or neither",
    ),
    case(
        "staged-key-twice",
        study(
            strategy=staged(
                "{name: one, space: {train.batch_size: [32, 64]}}",
                "{name: two, space: {train.batch_size: [16, 128]}}",
            )
        ),
        "train.batch_size is varied in stage 'one' and again in 'two'",
    ),
    case(
        "staged-stage-key-not-a-setting",
        study(strategy=staged("{name: one, space: {batch_size: [32, 64]}}")),
        "strategy.stages[0].space.batch_size: not a run setting",
    ),
    case(
        "staged-stage-float-without-step",
        study(
            strategy=staged(
                "{name: one, space: {train.batch_size: [32, 64]}}",
                "{name: two, space: {model.dropout: {low: 0.0, high: 0.5}}}",
            )
        ),
        "strategy.stages[1].space.model.dropout: a float range without step",
    ),
    case(
        "staged-stage-value-out-of-range",
        study(strategy=staged("{name: one, space: {train.batch_size: [0, 64]}}")),
        "strategy.stages[0].space.train.batch_size: train.batch_size: Input should be greater than 0",
    ),
    case(
        "coarse-to-fine-top-fraction-zero",
        study(LR, strategy="strategy: {name: coarse_to_fine, top_fraction: 0}\n"),
        "strategy.top_fraction: Input should be greater than 0 (got 0)",
    ),
    # storage written in the file
    case("storage-garbage-in-file", VALID + "storage: notaurl\n", "storage notaurl: not a database URL"),
]


@pytest.mark.parametrize(("name", "text", "expected"), BAD_STUDIES)
def test_bad_study_file_is_one_sentence_and_exit_2(tmp_path, name, text, expected):
    out = tmp_path / "out"
    result = invoke("run", write(tmp_path, text, name), "--out", out, "--quiet")
    assert_one_sentence(result, *expected)
    assert not (out / "study.yaml").exists()  # refused before the study was created


def test_the_valid_base_study_is_valid(tmp_path):
    """The cases above are one mistake away from a study that runs."""
    from tunelab.search import load_study_spec

    assert load_study_spec(write(tmp_path, VALID)).name == "bad"


# ------------------------------------------------------------------------- storage, --set, options
BAD_ARGUMENTS = [
    pytest.param(
        ["--storage", "postgresql://postgres@127.0.0.1:1/test"],
        ["storage postgresql://postgres@127.0.0.1:1/test: cannot connect"],
        id="storage-unreachable",
    ),
    pytest.param(
        ["--storage", "postgresql://user:s3cret@127.0.0.1:1/db"],
        ["storage postgresql://user:***@127.0.0.1:1/db: cannot connect"],
        id="storage-password-masked",
    ),
    pytest.param(["--storage", "notaurl"], ["storage notaurl: not a database URL"], id="storage-garbage"),
    pytest.param(
        ["--storage", "user:s3cret@host/db"],
        ["storage …: not a database URL"],
        id="storage-garbage-with-password",
    ),
    pytest.param(
        ["--storage", "sqlite:///{tmp}/no/such/folder/study.db"],
        ["storage sqlite:///", "/no/such/folder does not exist"],
        id="storage-sqlite-missing-folder",
    ),
    pytest.param(
        ["--storage", "nosuchdb://x:s3cret@localhost/db"],
        ["storage nosuchdb://x:***@localhost/db: no driver for 'nosuchdb'"],
        id="storage-unknown-driver",
    ),
    pytest.param(
        ["--set", "budget.n_trials"], ["--set 'budget.n_trials': expected key=value"], id="set-without-equals"
    ),
    pytest.param(
        ["--set", "budget.n_trials=[1"],
        ["--set 'budget.n_trials=[1': the value is not valid YAML"],
        id="set-bad-yaml",
    ),
    pytest.param(["--set", "strategy=bayes"], ["strategy: unknown value 'bayes'"], id="set-unknown-strategy"),
    pytest.param(
        ["--set", "train.epochs.max=3"],
        ["--set train.epochs.max: 'epochs' is not a mapping"],
        id="set-into-a-scalar",
    ),
    pytest.param(["--set", "train.epoch=3"], ["train.epoch: unknown key"], id="set-unknown-key"),
    pytest.param(
        ["--set", "space.train.optimizer.lr.high=1e-5"],
        ["space.train.optimizer.lr: low (0.0001) must be below high (1e-05)"],
        id="set-inside-a-dotted-key",
    ),
    pytest.param(
        ["--set", "space.model.dropout=[0.1, 1.5]"],
        ["space.model.dropout: model.dropout: Input should be less than 1 (got 1.5)"],
        id="set-a-new-space-key",
    ),
    pytest.param(
        ["--set", "strategy.n_startup_trials=3"],
        ["strategy.n_startup_trials: unknown key"],
        id="set-strategy-field-random-lacks",
    ),
]


def test_a_postgresql_server_that_does_not_answer_is_given_up_after_a_few_seconds(monkeypatch):
    """Not timed (a loaded machine makes any threshold flaky): the driver is told to give up."""
    from tunelab.search import storage

    seen = {}

    def rdb(url, *, engine_kwargs, **kwargs):
        seen.update(engine_kwargs)
        raise OSError("refused")

    monkeypatch.setattr(storage.optuna.storages, "RDBStorage", rdb)
    # the schema lock connects first, through tunelab's engine (connect_timeout 5 as well)
    monkeypatch.setattr(storage, "schema_lock", lambda url: contextlib.nullcontext())
    with pytest.raises(ConfigError, match="cannot connect"):
        storage.open_storage("postgresql://postgres@127.0.0.1:1/test")
    assert 0 < seen["connect_args"]["connect_timeout"] <= 10


@pytest.mark.parametrize(("args", "expected"), BAD_ARGUMENTS)
def test_bad_arguments_exit_2(tmp_path, args, expected):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = invoke("run", write(tmp_path, VALID), "--out", tmp_path / "out", "--quiet", *args)
    output = assert_one_sentence(result, *expected)
    assert "s3cret" not in output


def test_set_reaches_a_shorthand_strategy(tmp_path):
    """``strategy: tpe`` is ``{name: tpe}``: a --set inside it keeps the name."""
    text = VALID.replace("strategy: random", "strategy: tpe")
    result = invoke(
        "run", write(tmp_path, text), "--out", tmp_path / "out", "-s", "strategy.n_startup_trials=-1"
    )
    assert_one_sentence(result, "strategy.n_startup_trials: Input should be greater than or equal to 0")


def test_storage_password_in_study_file_is_masked(tmp_path):
    text = VALID + "storage: postgresql://user:s3cret@127.0.0.1:1/db\n"
    output = assert_one_sentence(invoke("run", write(tmp_path, text), "--out", tmp_path / "out"))
    assert "s3cret" not in output and "user:***@127.0.0.1:1/db" in output and "cannot connect" in output


CUDA_ABSENT = f"cuda:{torch.cuda.device_count()}" if torch.cuda.is_available() else "cuda"


@pytest.mark.parametrize(
    ("command", "args", "expected"),
    [
        ("run", ["--n-trials", "0"], "--n-trials: expected 1 or more, got '0'"),
        ("run", ["--n-trials", "many"], "--n-trials: expected a whole number, got 'many'"),
        ("run", ["--timeout", "0"], "--timeout: expected 0.001 or more, got '0'"),
        ("run", ["--timeout", "soon"], "--timeout: expected a number, got 'soon'"),
        ("run", ["--workers", "0"], "--workers: expected 1 or more, or auto, got '0'"),
        ("run", ["--workers", "2.5"], "--workers: expected a whole number or auto, got '2.5'"),
        ("run", ["--device", "bogus"], "--device: unknown device 'bogus'; expected auto, cpu, cuda"),
        ("run", ["--device", CUDA_ABSENT], f"--device: {CUDA_ABSENT} is not available here"),
        ("run", ["--device", CUDA_ABSENT, "--workers", "2"], f"--device: {CUDA_ABSENT} is not available"),
        ("worker", ["--threads", "0"], "--threads: expected 1 or more, got '0'"),
        ("worker", ["--device", "tpu"], "--device: unknown device 'tpu'"),
        ("worker", ["--device", CUDA_ABSENT], f"--device: {CUDA_ABSENT} is not available here"),
        ("worker", ["--n-trials", "-1"], "--n-trials: expected 1 or more, got '-1'"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_a_bad_option_value_is_one_sentence(tmp_path, command, args, expected):
    """Typer's own checks of type and range, and the device, say it as a study file's would be."""
    result = invoke(command, write(tmp_path, VALID), "--out", tmp_path / "out", *args)
    assert_one_sentence(result, expected)
    assert not (tmp_path / "out").exists()


def test_missing_study_file_exit_2(tmp_path):
    result = invoke("run", tmp_path / "nope.yaml", "--out", tmp_path / "out")
    assert_one_sentence(result, "nope.yaml: file not found")


def test_study_file_is_a_folder_exit_2(tmp_path):
    (tmp_path / "folder.yaml").mkdir()
    result = invoke("run", tmp_path / "folder.yaml", "--out", tmp_path / "out")
    assert_one_sentence(result, "folder.yaml: cannot be read as a text file")


def test_missing_data_file_names_the_file(tmp_path):
    # The autouse fixture points downloads at a closed local port, so the files cannot be fetched.
    empty = tmp_path / "data"
    empty.mkdir()
    text = VALID.replace("name: digits", "name: mnist")
    result = invoke("run", write(tmp_path, text), "--out", tmp_path / "out", "--data-dir", empty, "--quiet")
    assert_one_sentence(result, "mnist", "train-images-idx3-ubyte.gz", "--data-dir", str(empty))
    assert not (tmp_path / "out").exists()  # it failed before the study was written


# ------------------------------------------------------------------------------------------ resume
def test_resume_with_a_changed_space_is_refused_and_keeps_the_trials(tmp_path):
    grid = study("train.optimizer.lr: [0.001, 0.01]", strategy="strategy: grid\n")
    out = tmp_path / "out"
    first = invoke("run", write(tmp_path, grid), "--out", out, "--quiet")
    assert first.exit_code == 0, first.output
    done = load_study(out).study.get_trials(states=(TrialState.COMPLETE,))
    assert sorted(t.params["train.optimizer.lr"] for t in done) == [0.001, 0.01]

    changed = grid.replace("[0.001, 0.01]", "[0.001, 0.1]")
    result = invoke("run", write(tmp_path, changed), "--out", out, "--quiet")
    assert_one_sentence(
        result,
        "study 'bad'",
        "made with other settings: space.train.optimizer.lr (",
        "[0.001, 0.01]",
        "[0.001, 0.1]",
        "--out",
    )

    after = load_study(out)
    assert [t.params for t in after.study.trials] == [t.params for t in done]  # nothing lost or added
    assert after.spec.space["train.optimizer.lr"].choices == [0.001, 0.01]  # study.yaml not rewritten
    status = invoke("status", out)
    assert status.exit_code == 0, status.output
    assert "2" in status.output


def test_a_study_made_before_a_setting_existed_resumes(tmp_path):
    grid = study("train.optimizer.lr: [0.001, 0.01]", strategy="strategy: grid\n")
    out = tmp_path / "out"
    assert invoke("run", write(tmp_path, grid), "--out", out, "--quiet").exit_code == 0
    handle = load_study(out)
    older = dict(handle.study.user_attrs["tunelab.spec"])
    del older["final"]  # as an older tunelab, which had no final stage, stored it
    handle.study.set_user_attr("tunelab.spec", older)
    again = invoke("run", write(tmp_path, grid), "--out", out, "--quiet")
    assert again.exit_code == 0, again.output
    assert len(load_study(out).study.get_trials()) == 2
