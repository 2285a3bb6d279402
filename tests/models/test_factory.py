"""A user's model factory: registered, validated where the study file is read, checked before training."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from tunelab.config import CustomModelConfig, validate_run_config
from tunelab.errors import ConfigError, ModelError
from tunelab.models import MODELS, Factory, build_model, register, registered
from tunelab.models.factory import reference, resolve


def small(input_shape, n_classes, width=8, dropout=0.0):
    channels, height, width_px = input_shape
    return nn.Sequential(nn.Flatten(), nn.Linear(channels * height * width_px, width), nn.ReLU(),
                         nn.Dropout(dropout), nn.Linear(width, n_classes))  # fmt: skip


class Net(nn.Module):
    """A module class is a factory too: ``Net(input_shape, n_classes, *, hidden)``."""

    def __init__(self, input_shape, n_classes, *, hidden):
        super().__init__()
        self.body = nn.Sequential(
            nn.Flatten(), nn.LazyLinear(hidden), nn.Tanh(), nn.Linear(hidden, n_classes)
        )

    def forward(self, x):
        return self.body(x)


def seven(input_shape, n_classes):
    return nn.Sequential(nn.Flatten(), nn.LazyLinear(7))


def config(kind: str, **params):
    return validate_run_config({"model": {"kind": kind, "params": params}}, "run.yaml").model


def test_a_registered_factory_is_a_model_kind_with_its_params():
    register("small", small)
    cfg = config("small", width=4)
    assert isinstance(cfg, CustomModelConfig) and cfg.params == {"width": 4}
    assert isinstance(MODELS["small"], Factory) and set(registered()) == {"small"}
    model = build_model(cfg, (3, 5, 4), 6)
    assert model[1].in_features == 60 and model[1].out_features == 4
    assert model(torch.zeros(2, 3, 5, 4)).shape == (2, 6)


def test_a_module_class_is_a_factory_and_lazy_layers_are_ready_before_training():
    register("net", Net)
    model = build_model(config("net", hidden=5), (1, 6, 6), 3)
    assert model.body[1].weight.shape == (5, 36)  # the check's batch shaped the lazy layer
    assert all(not isinstance(p, nn.parameter.UninitializedParameter) for p in model.parameters())


def test_the_init_scheme_applies_to_a_factory_network_and_the_seed_decides_its_weights():
    register("small", small)
    raw = {"model": {"kind": "small", "init": "kaiming_normal"}}
    cfg = validate_run_config(raw).model
    torch.manual_seed(0)
    first = build_model(cfg, (1, 4, 4), 3)
    torch.manual_seed(0)
    again = build_model(cfg, (1, 4, 4), 3)
    assert not first[1].bias.any()  # a scheme other than default zeroes the biases
    torch.testing.assert_close(first[1].weight, again[1].weight, rtol=0, atol=0)


def test_built_in_kinds_cannot_be_replaced_and_a_factory_must_be_callable():
    with pytest.raises(ConfigError, match="model 'mlp' is built in"):
        register("mlp", small)
    with pytest.raises(ConfigError, match="the factory must be callable, got int"):
        register("three", 3)  # type: ignore[arg-type]


def test_an_unknown_kind_names_it_and_what_is_there():
    register("small", small)
    with pytest.raises(ConfigError) as info:
        config("smal")
    assert str(info.value) == (
        "run.yaml: model.kind: unknown model 'smal'; expected mlp, cnn or lcnn, a factory registered "
        "with tunelab.models.register (small) or an installed tunelab.models plug-in (none installed)"
    )


@pytest.mark.parametrize(
    ("factory", "params", "message"),
    [
        (
            small,
            {"widht": 3},
            "model.params: model 'f' takes no parameter 'widht' (its parameters: width, dropout)",
        ),
        (Net, {}, "model.params: model 'f' needs the parameter 'hidden'; give it in model.params"),
        (
            lambda shape: None,
            {},
            "model.params: model 'f': its factory must take (input_shape, n_classes, **params)",
        ),
    ],
    ids=["unknown", "missing", "signature"],
)
def test_params_the_signature_does_not_take_are_refused_naming_them(factory, params, message):
    register("f", factory)
    with pytest.raises(ConfigError) as info:
        config("f", **params)
    assert str(info.value) == f"run.yaml: {message}"


def test_a_factory_taking_any_keywords_takes_any_params():
    register("any", lambda shape, n, **kw: small(shape, n))
    assert config("any", whatever=1).params == {"whatever": 1}


SHAPE = "for 1×8×8 images, expected (N, 10): one logit per class"
WRONG = {
    "shape": (seven, f"model 'f' returns shape (N, 7) {SHAPE}"),
    "no-head": (lambda s, n: nn.Flatten(), f"model 'f' returns shape (N, 64) {SHAPE}"),
    "not-a-module": (lambda s, n: "a network", "model 'f': its factory returned str, not a torch.nn.Module"),
    "raises": (
        lambda s, n: 1 / 0,
        "model 'f': its factory raised ZeroDivisionError: division by zero (model.params: {})",
    ),
    "forward-fails": (
        lambda s, n: nn.Linear(3, n),
        "model 'f': a batch of 1×8×8 images fails in its forward: RuntimeError: mat1 and mat2 shapes",
    ),
    "tuple": (lambda s, n: _Pair(), "model 'f' returns tuple, expected a tensor of logits of shape (N, 10)"),
}


@pytest.mark.parametrize(("factory", "message"), list(WRONG.values()), ids=list(WRONG))
def test_what_a_factory_gets_wrong_is_one_sentence_before_training(factory, message):
    register("f", factory)
    with pytest.raises(ModelError) as info:
        build_model(config("f"), (1, 8, 8), 10)
    assert str(info.value).startswith(message)


class _Pair(nn.Module):
    def forward(self, x):
        return x, x


def test_the_output_check_leaves_the_network_in_training_mode_and_its_batch_norm_untouched():
    register(
        "bn", lambda s, n: nn.Sequential(nn.Flatten(), nn.BatchNorm1d(s[1] * s[2]), nn.Linear(s[1] * s[2], n))
    )
    model = build_model(config("bn"), (1, 3, 3), 2)
    assert model.training and model[1].num_batches_tracked.item() == 0
    assert not model[1].running_mean.any()


# ------------------------------------------------------------------------ references for workers
def test_a_module_level_factory_is_imported_again_by_its_reference():
    register("small", small)
    ref = reference(MODELS["small"])  # type: ignore[arg-type]
    assert ref == f"{__name__}:small" and resolve(ref) is small


@pytest.mark.parametrize("factory", [lambda s, n: small(s, n), Factory], ids=["lambda", "object"])
def test_a_factory_workers_cannot_import_is_refused_naming_it(factory):
    if factory is Factory:
        factory = Factory("inner", small)  # an instance: no module and name
    register("inner", factory)
    with pytest.raises(ConfigError, match="model 'inner': worker processes cannot import its factory"):
        reference(MODELS["inner"])  # type: ignore[arg-type]


def test_a_scripts_factory_loads_without_its_main_block(tmp_path):
    script = tmp_path / "tune.py"
    script.write_text(
        textwrap.dedent("""
        from torch import nn
        LOADED = []

        def wide(input_shape, n_classes, width=3):
            return nn.Sequential(nn.Flatten(), nn.LazyLinear(n_classes))

        LOADED.append(__name__)
        if __name__ == "__main__":
            from tunelab.models import MODELS, register
            from tunelab.models.factory import reference
            register("wide", wide)
            print(reference(MODELS["wide"]))
    """)
    )
    printed = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True)
    ref = printed.stdout.strip()
    assert ref == f"{script.resolve()}:wide"
    factory = resolve(ref)
    assert factory.__name__ == "wide" and sys.modules[factory.__module__].LOADED == ["__tunelab_main__"]
    assert resolve(ref) is factory  # loaded once


def test_a_reference_that_does_not_import_is_one_sentence():
    with pytest.raises(
        ConfigError, match=r"model factory no_such_module:f: cannot be imported \(ModuleNotFoundError"
    ):
        resolve("no_such_module:f")


def test_the_json_schema_tells_a_factory_from_a_built_in_model():
    from tunelab.search.spec import StudySpec

    schema = StudySpec.model_json_schema()
    kind = schema["$defs"]["CustomModelConfig"]["properties"]["kind"]
    assert kind["not"] == {"enum": ["mlp", "cnn", "lcnn"]}  # {kind: mlp} matches one of the oneOf
