"""Validated, frozen configuration of one training run.

A run is ``RunConfig(data, model, train)``. Every model here is frozen and forbids unknown keys, so
a typo in a YAML file is an error that names the field rather than a silently ignored setting.
``load_run_config`` reads YAML (``yaml.safe_load``: data only), applies ``--set key=value``
overrides and turns pydantic's errors into one sentence that names the field.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from tunelab.errors import ConfigError

ACTIVATIONS = ("relu", "tanh", "silu", "sigmoid", "gelu", "leaky_relu", "elu", "linear")
Activation = Literal["relu", "tanh", "silu", "sigmoid", "gelu", "leaky_relu", "elu", "linear"]
Probability = Annotated[float, Field(ge=0.0, lt=1.0)]
PositiveInt = Annotated[int, Field(gt=0)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _shorthand(key: str) -> Any:
    """Let a bare string stand for ``{key: string}`` (``optimizer: adam``, ``init: xavier_uniform``)."""

    def before(cls: type, value: Any) -> Any:
        return {key: value} if isinstance(value, str) else value

    return before


# --------------------------------------------------------------------------------------------- data
class DataConfig(_Frozen):
    """Which dataset, how it is split and scaled."""

    name: str = "digits"
    val_fraction: float = Field(
        0.1, gt=0.0, lt=1.0, description="stratified share of train kept for validation"
    )
    normalize: Literal["unit", "standardize", "symmetric"] = Field(
        "unit", description="unit: [0, 1]; standardize: train mean 0, std 1; symmetric: [-1, 1]"
    )
    train_subset: PositiveInt | None = Field(
        None, description="use a stratified subset of this many train images"
    )
    split_seed: int = Field(0, description="seed of the train/validation split (fixed across trials)")

    @field_validator("name")
    @classmethod
    def _known_dataset(cls, name: str) -> str:
        from tunelab.data import DATASETS

        if name not in DATASETS:
            raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(sorted(DATASETS))}")
        return name


# -------------------------------------------------------------------------------------------- model
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


ModelConfig = Annotated[MLPConfig | CNNConfig | LCNNConfig, Field(discriminator="kind")]


# ----------------------------------------------------------------------------------------- training
class OptimizerConfig(_Frozen):
    """Optimizer and its settings; ``momentum``/``nesterov`` apply to SGD and RMSprop only."""

    name: Literal["sgd", "adam", "adamw", "rmsprop"] = "adam"
    lr: float = Field(1e-3, gt=0.0, description="initial learning rate")
    momentum: float = Field(0.0, ge=0.0, lt=1.0)
    nesterov: bool = False
    weight_decay: float = Field(0.0, ge=0.0)
    betas: tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(ge=0, lt=1)]] = (0.9, 0.999)
    eps: float | None = Field(None, gt=0.0, description="numerical epsilon; default: PyTorch's")

    _str = model_validator(mode="before")(_shorthand("name"))

    @model_validator(mode="after")
    def _consistent(self) -> OptimizerConfig:
        if self.nesterov and (self.name != "sgd" or self.momentum == 0):
            raise ValueError("optimizer.nesterov needs name 'sgd' and a momentum above 0")
        if self.momentum and self.name not in ("sgd", "rmsprop"):
            raise ValueError(f"optimizer.momentum applies to sgd and rmsprop, not {self.name}")
        return self


class ConstantSchedule(_Frozen):
    name: Literal["constant"] = "constant"


class StepSchedule(_Frozen):
    """lr · gamma^floor(epoch / step_size)."""

    name: Literal["step"] = "step"
    step_size: PositiveInt = 10
    gamma: float = Field(0.1, gt=0.0, le=1.0)


class ExponentialSchedule(_Frozen):
    """lr · gamma^epoch."""

    name: Literal["exponential"] = "exponential"
    gamma: float = Field(0.95, gt=0.0, le=1.0)


class TimeSchedule(_Frozen):
    """Keras' time-based decay lr / (1 + decay · t), t counting optimizer steps as Keras does."""

    name: Literal["time"] = "time"
    decay: float = Field(ge=0.0)


class CosineSchedule(_Frozen):
    """Cosine from lr to min_lr over the whole run, after an optional linear warm-up."""

    name: Literal["cosine"] = "cosine"
    min_lr: float = Field(0.0, ge=0.0)
    warmup_epochs: float = Field(0.0, ge=0.0)


class OneCycleSchedule(_Frozen):
    """Smith's one-cycle policy (as torch's OneCycleLR, cosine): lr is the peak."""

    name: Literal["onecycle"] = "onecycle"
    pct_start: float = Field(0.3, gt=0.0, lt=1.0)
    div_factor: float = Field(25.0, gt=1.0)
    final_div_factor: float = Field(1e4, ge=1.0)


class PlateauSchedule(_Frozen):
    """Multiply lr by ``factor`` after ``patience`` epochs without improvement of ``monitor``."""

    name: Literal["plateau"] = "plateau"
    monitor: Literal["val_loss", "val_accuracy"] = "val_loss"
    factor: float = Field(0.5, gt=0.0, lt=1.0)
    patience: Annotated[int, Field(ge=0)] = 2
    min_delta: float = Field(1e-4, ge=0.0)
    min_lr: float = Field(0.0, ge=0.0)


ScheduleConfig = Annotated[
    ConstantSchedule
    | StepSchedule
    | ExponentialSchedule
    | TimeSchedule
    | CosineSchedule
    | OneCycleSchedule
    | PlateauSchedule,
    Field(discriminator="name"),
]


class EarlyStoppingConfig(_Frozen):
    """Stop after ``patience`` epochs without an improvement larger than ``min_delta``."""

    monitor: Literal["val_loss", "val_accuracy"] = "val_loss"
    patience: Annotated[int, Field(ge=0)] = 3
    min_delta: float = Field(0.0, ge=0.0)
    restore_best: bool = True


CompileMode = Literal["default", "reduce-overhead", "max-autotune"]
COMPILE_MODES: tuple[str, ...] = get_args(CompileMode)


class TrainConfig(_Frozen):
    """How the network is trained."""

    epochs: PositiveInt = 10
    batch_size: PositiveInt = 32
    optimizer: OptimizerConfig = OptimizerConfig()
    schedule: ScheduleConfig = ConstantSchedule()
    early_stopping: EarlyStoppingConfig | None = None
    grad_clip: float | None = Field(None, gt=0.0, description="clip the global gradient norm to this value")
    seed: int = 0
    device: str = Field("auto", description="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps")
    eval_batch_size: PositiveInt | None = Field(
        None,
        description="images per evaluation batch; default: 4096 on a GPU, and on a CPU as many as keep "
        "the layers' outputs near 128 MB (4096 for an MLP, 64 for a mid-size CNN)",
    )
    track_gradients: bool = Field(True, description="record the mean |gradient| of each layer every epoch")
    precision: Literal["fp32", "bf16"] = Field(
        "fp32", description="bf16: bfloat16 autocast of the forward pass (fast on recent GPUs)"
    )
    compile: bool | CompileMode = Field(
        False,
        description="torch.compile the model for training: false, true (= default) or a mode; "
        "reduce-overhead adds CUDA graphs on a GPU (worth it for long runs); a population "
        "(several runs trained as one) instead captures its whole step in one CUDA graph with "
        "reduce-overhead and ignores the other modes",
    )

    @field_validator("schedule", mode="before")
    @classmethod
    def _schedule_str(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @field_validator("compile", mode="before")
    @classmethod
    def _compile(cls, value: Any) -> Any:
        if isinstance(value, bool) or value in COMPILE_MODES:
            return value
        modes = ", ".join(COMPILE_MODES[:-1]) + f" or {COMPILE_MODES[-1]}"
        raise ValueError(f"must be false, true or a torch.compile mode: {modes}")

    def compile_mode(self) -> CompileMode | None:
        """The torch.compile mode to train with, or None: train the model as it is."""
        if self.compile is False:
            return None
        return "default" if self.compile is True else self.compile

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        base, _, index = value.partition(":")
        if base not in ("auto", "cpu", "cuda", "mps") or (index and (base != "cuda" or not index.isdigit())):
            raise ValueError(f"unknown device {value!r}; expected auto, cpu, cuda, cuda:N or mps")
        return value


class RunConfig(_Frozen):
    """One training run: what data, which network, how it is trained."""

    name: str = "run"
    data: DataConfig = DataConfig()
    model: ModelConfig = MLPConfig()
    train: TrainConfig = TrainConfig()

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


# ------------------------------------------------------------------------------------------ loading
def parse_overrides(items: Iterable[str]) -> list[tuple[str, Any]]:
    """Parse ``key.path=value`` strings; values are YAML scalars or flow collections."""
    out = []
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. train.epochs=5")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            raise ConfigError(f"--set {item!r}: the value is not valid YAML") from None
        out.append((key.strip(), value))
    return out


def apply_overrides(
    raw: Mapping[str, Any], overrides: Sequence[tuple[str, Any]], label: str = "--set "
) -> dict[str, Any]:
    """Return a copy of ``raw`` with each dotted key set to its value (creating missing mappings).

    A numeric part indexes a list that is already there: ``model.hidden.0=64``.
    """
    result = copy.deepcopy(dict(raw))
    for key, value in overrides:
        node: Any = result
        parts = key.split(".")
        parent = None
        while len(parts) > 1:
            # A dotted key itself (space.model.dropout), or inside one (space.model.dropout.high).
            n = next((n for n in range(len(parts), 1, -1) if _has(node, ".".join(parts[:n]))), 1)
            new_dotted = n == 1 and parent in _DOTTED_MAPPINGS and not _has(node, parts[0])
            if n == len(parts) or new_dotted:
                break
            parent = ".".join(parts[:n])
            node = _child(node, parent, f"{label}{key}", parts[n])
            parts = parts[n:]
        _assign(node, ".".join(parts), value, f"{label}{key}")
    return result


def _has(node: Any, key: str) -> bool:
    return isinstance(node, dict) and key in node


def _child(node: Any, part: str, where: str, next_part: str) -> Any:
    if isinstance(node, list):
        _assign(node, part, None, where, check_only=True)
        return node[int(part)]
    child = node.get(part)
    if child is None or isinstance(child, str):  # a shorthand string becomes a mapping
        child = {} if child is None else _expand_shorthand(part, child)
        node[part] = child
    elif not isinstance(child, dict | list):
        raise ConfigError(f"{where}: {part!r} is not a mapping, it cannot hold {next_part!r}")
    return child


def _assign(node: Any, part: str, value: Any, where: str, check_only: bool = False) -> None:
    if isinstance(node, list):
        if not part.isdigit() or int(part) >= len(node):
            raise ConfigError(f"{where}: {part!r} is not an index of a list of {len(node)} entries")
        if not check_only:
            node[int(part)] = value
    else:
        node[part] = value


def _expand_shorthand(field: str, value: str) -> dict[str, Any]:
    return {_SHORTHAND_KEYS.get(field, field): value}


_SHORTHAND_KEYS = {"optimizer": "name", "init": "scheme", "schedule": "name"} | {
    "strategy": "name",  # study files: strategy: tpe, pruner: asha, objective: val_loss
    "pruner": "name",
    "objective": "metric",
}
# Mappings whose keys are dotted run settings (study files): --set space.model.dropout=[0.1, 0.2]
_DOTTED_MAPPINGS = ("space", "set")


class _SafeLoader(yaml.SafeLoader):
    """``safe_load``'s loader, refusing a key written twice in one mapping (YAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: list[Any] = []
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # <<: *base may be overridden
                continue
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is given twice", key_node.start_mark
                )
            seen.append(key)
        return super().construct_mapping(node, deep)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping with ``safe_load``; any problem is a ConfigError naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read as a text file ({exc.__class__.__name__})") from None
    try:
        data = yaml.load(text, Loader=_SafeLoader)  # a SafeLoader: data only
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ConfigError(f"{path}: invalid YAML{where}: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: expected a mapping of settings at the top level, got {type(data).__name__}"
        )
    return data


def describe_validation_error(exc: ValidationError, source: str, labels: Iterable[str] = ()) -> str:
    """Turn pydantic's report into one sentence naming the first offending field.

    ``labels``: the tags of the caller's own unions, which pydantic puts in a location beside those
    of the run configuration's (a study file adds its parameter types and strategies).
    """
    union_labels = _UNION_LABELS | set(labels)
    problems: dict[str, Any] = {}  # pydantic's ErrorDetails by field
    for error in exc.errors(include_url=False):  # one per field: unions report each member
        problems.setdefault(_field_path(error["loc"], union_labels), error)
    # A union reports a failed scalar member at "x" and a failed list member at "x[1]": the deeper wins.
    specific = {
        p: e for p, e in problems.items() if not any(q.startswith((p + "[", p + ".")) for q in problems)
    }
    field, first = next(iter(specific.items()))
    problems = specific
    kind, given = first["type"], first.get("input")
    if kind == "extra_forbidden":
        message, given = "unknown key", None
    elif kind == "missing":
        message, given = "required but missing", None
    elif kind == "union_tag_not_found":
        message, given = f"{first['ctx']['discriminator']} is required but missing", None
    elif kind == "union_tag_invalid":
        message = f"unknown value {first['ctx']['tag']!r}; expected one of {first['ctx']['expected_tags']}"
        given = None
    elif kind == "literal_error":
        message = f"got {given!r}; " + first["msg"].lower()
        given = None
    else:
        message = first["msg"].removeprefix("Value error, ")
    if given is not None and not isinstance(given, dict | list):
        message += f" (got {given!r})"
    n_more = len(problems) - 1
    more = f" ({n_more} more problem{'s' if n_more > 1 else ''} after this one)" if n_more else ""
    return f"{source}: {field or '(top level)'}: {message}{more}"


def _field_path(loc: Sequence[int | str], labels: set[str]) -> str:
    """The dotted path of an error, without the labels pydantic adds for union members.

    Keys may be dotted themselves (``space.train.optimizer.lr``). A union's label follows the field
    it belongs to, so a name such as ``step`` right after a label (``space.x.int.step``) is a field.
    """
    parts: list[str] = []
    after_label = False
    for part in loc:
        if isinstance(part, int):
            parts[-1:] = [f"{parts[-1]}[{part}]"] if parts else [f"[{part}]"]
            after_label = False
        elif "[" in part or part.startswith("constrained-") or (part in labels and not after_label):
            after_label = True
        else:
            parts.append(part)
            after_label = False
    return ".".join(parts)


_UNION_LABELS = {
    *("mlp", "cnn", "lcnn", "constant", "step", "exponential", "time", "cosine", "onecycle", "plateau"),
    *("int", "float", "str", "bool", "list", "dict", "tuple", "none"),
}


def validate_run_config(raw: Mapping[str, Any], source: str = "config") -> RunConfig:
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, source)) from None


def load_run_config(path: str | Path, overrides: Iterable[str] = ()) -> RunConfig:
    """Load a run file, apply ``--set`` overrides and validate it."""
    raw = apply_overrides(read_yaml(path), parse_overrides(overrides))
    return validate_run_config(raw, str(path))
