"""The network: an MLP, a CNN, a locally-connected network or a model factory, and its initialisation."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, ValidationInfo, field_validator, model_validator

from tunelab.config.base import PositiveInt, Probability, _Frozen, _shorthand
from tunelab.errors import ConfigError

BUILT_IN = ("mlp", "cnn", "lcnn")
KNOWN_MODELS = "known_models"  # validation context key: False accepts a kind no factory is found for
ACTIVATIONS = ("relu", "tanh", "silu", "sigmoid", "gelu", "leaky_relu", "elu", "linear")
Activation = Literal["relu", "tanh", "silu", "sigmoid", "gelu", "leaky_relu", "elu", "linear"]


class InitConfig(_Frozen):
    """Weight initialisation; biases are always zero except under ``default``."""

    scheme: Literal[
        "default", "normal", "uniform", "xavier_normal", "xavier_uniform", "kaiming_normal", "kaiming_uniform"
    ] = "default"
    std: float = Field(0.05, gt=0.0, description="standard deviation of 'normal'")
    low: float = Field(-0.05, description="lower bound of 'uniform'")
    high: float = Field(0.05, description="upper bound of 'uniform'")

    _str = model_validator(mode="before")(_shorthand("scheme"))

    @model_validator(mode="after")
    def _bounds(self) -> InitConfig:
        if self.low >= self.high:
            raise ValueError(f"init.low ({self.low}) must be below init.high ({self.high})")
        return self


def _per_layer(value: Any, n: int) -> list[Any]:
    """Broadcast a scalar to ``n`` layers (a list was checked to have ``n`` entries already)."""
    return list(value) if isinstance(value, list | tuple) else [value] * n


def _check_length(value: Any, layers: list[int] | None) -> Any:
    if isinstance(value, list) and layers is not None and len(value) != len(layers):
        raise ValueError(
            f"has {len(value)} entries but there are {len(layers)} layers; give one value or one per layer"
        )
    return value


class MLPConfig(_Frozen):
    """A multi-layer perceptron; ``activation`` and ``dropout`` are one value or one per hidden layer."""

    kind: Literal["mlp"] = "mlp"
    hidden: list[PositiveInt] = Field(default_factory=lambda: [128], description="units of each hidden layer")
    activation: Activation | list[Activation] = "relu"
    dropout: Probability | list[Probability] = 0.0
    batch_norm: bool = False
    init: InitConfig = InitConfig()

    @field_validator("activation", "dropout")
    @classmethod
    def _one_per_layer(cls, value: Any, info: ValidationInfo) -> Any:
        return _check_length(value, info.data.get("hidden"))

    def activations(self) -> list[str]:
        return _per_layer(self.activation, len(self.hidden))

    def dropouts(self) -> list[float]:
        return _per_layer(self.dropout, len(self.hidden))


class BlockConfig(_Frozen):
    """One convolutional (or locally-connected) layer, optionally followed by pooling."""

    filters: PositiveInt
    kernel: PositiveInt = 3
    stride: PositiveInt = 1
    padding: Literal["same", "valid"] | Annotated[int, Field(ge=0)] = "same"
    activation: Activation = "relu"
    pool: Literal["max", "avg"] | None = None
    pool_size: PositiveInt = 2
    batch_norm: bool = False
    dropout: Probability = 0.0
    bias: bool = Field(True, description="a bias per filter (per output position for lcnn)")


class _SpatialConfig(_Frozen):
    blocks: list[BlockConfig] = Field(min_length=1)
    dense: list[PositiveInt] = Field(default_factory=lambda: [128], description="hidden units of the head")
    dense_activation: Activation | list[Activation] = "relu"
    dropout: Probability | list[Probability] = 0.0
    batch_norm: bool = False
    init: InitConfig = InitConfig()

    @field_validator("dense_activation", "dropout")
    @classmethod
    def _one_per_layer(cls, value: Any, info: ValidationInfo) -> Any:
        return _check_length(value, info.data.get("dense"))

    def activations(self) -> list[str]:
        return _per_layer(self.dense_activation, len(self.dense))

    def dropouts(self) -> list[float]:
        return _per_layer(self.dropout, len(self.dense))


class CNNConfig(_SpatialConfig):
    """Convolution blocks (shared weights), then a dense head."""

    kind: Literal["cnn"] = "cnn"


class LCNNConfig(_SpatialConfig):
    """Locally-connected blocks (one weight set per output position), then a dense head."""

    kind: Literal["lcnn"] = "lcnn"


class CustomModelConfig(_Frozen):
    """A model factory's network: ``kind`` names the factory, ``params`` are its keyword arguments.

    The factory is registered in this process (``tunelab.models.register``) or installed as a
    ``tunelab.models`` plug-in; it is called as ``factory(input_shape, n_classes, **params)``, so the
    study file's space can search ``model.params.<name>``. An unknown kind, or parameters its
    signature does not take, are refused here, naming them; reading a finished study where the
    factory is absent (``tunelab report``) passes ``known_models=False`` in the validation context.
    """

    kind: str = Field(
        min_length=1,
        description="a registered model factory or an installed plug-in",
        json_schema_extra={"not": {"enum": list(BUILT_IN)}},  # so the schema's oneOf picks one model
    )
    params: dict[str, Any] = Field(default_factory=dict, description="the factory's keyword arguments")
    init: InitConfig = InitConfig()

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str, info: ValidationInfo) -> str:
        from tunelab.models.registry import find_factory, unknown_kind  # models import this module

        try:
            found = find_factory(kind)
        except ConfigError as exc:  # an installed plug-in that cannot be loaded
            if _strict(info):
                raise ValueError(str(exc)) from None
            return kind
        if found is None and _strict(info):
            raise ValueError(unknown_kind(kind))
        return kind

    @field_validator("params")
    @classmethod
    def _takes_params(cls, params: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        from tunelab.models.factory import check_params
        from tunelab.models.registry import find_factory

        kind = info.data.get("kind")  # absent when it failed
        try:
            factory = find_factory(kind) if isinstance(kind, str) else None
        except ConfigError:  # a plug-in that cannot be loaded, accepted by a lenient read
            return params
        if isinstance(kind, str) and factory is not None:
            check_params(kind, factory, params)
        return params


def _strict(info: ValidationInfo) -> bool:
    return not (isinstance(info.context, dict) and info.context.get(KNOWN_MODELS) is False)


def model_tag(value: Any) -> str | None:
    """Which model config validates ``value``: a built-in kind's, else a factory's (None: no kind)."""
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    if kind is None:
        return None
    return kind if kind in BUILT_IN else "custom"


ModelConfig = Annotated[
    Annotated[MLPConfig, Tag("mlp")]
    | Annotated[CNNConfig, Tag("cnn")]
    | Annotated[LCNNConfig, Tag("lcnn")]
    | Annotated[CustomModelConfig, Tag("custom")],
    Discriminator(
        model_tag,
        custom_error_type="missing_kind",
        custom_error_message="'kind' is required but missing",
    ),
]
