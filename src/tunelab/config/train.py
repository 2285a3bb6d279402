"""How a network is trained: optimizer, learning-rate schedule, early stopping, device, precision."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import Field, field_validator, model_validator

from tunelab.config.base import PositiveInt, _Frozen, _shorthand


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


class AugmentConfig(_Frozen):
    """Random crops and horizontal flips of each training batch, on the device (off unless asked).

    Suited to photographs (CIFAR-10, your own folders), not to digits and characters, whose
    mirror image is another symbol or none.
    """

    crop_padding: Annotated[int, Field(ge=0)] = Field(
        0,
        description="pad by this many pixels of zeros (of the scaled images: with normalize "
        "standardize, the training mean), then crop back to the image size at random",
    )
    flip: bool = Field(False, description="mirror half of the images left to right, at random")


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
    augment: AugmentConfig | None = Field(
        None,
        description="random crops with padding and horizontal flips of the training images (default: none)",
    )
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
        return check_device_name(value)


def check_device_name(value: str) -> str:
    """``value`` when it names a device (auto, cpu, cuda, cuda:N, mps), else a ValueError saying so.

    Shared by ``train.device`` and ``--device``; whether the device is on this machine is
    ``tunelab.train.device.resolve_device``'s to say.
    """
    base, _, index = value.partition(":")
    if base not in ("auto", "cpu", "cuda", "mps") or (index and (base != "cuda" or not index.isdigit())):
        raise ValueError(f"unknown device {value!r}; expected auto, cpu, cuda, cuda:N or mps")
    return value
