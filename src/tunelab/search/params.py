"""The parameters of a search space, as a study file writes them, and named configurations.

A parameter is a float or int range, a list of choices or a fixed value; ``expand_shorthand`` turns
the short forms (``[a, b]``, a scalar, ``{low, high}``) into these models. The study file
(:mod:`tunelab.search.spec`), the space (:mod:`tunelab.search.space`) and the strategies all use them.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from tunelab.config import _Frozen

Scalar = bool | int | float | str | None
RUN_SECTIONS = ("data.", "model.", "train.")


class _Param(_Frozen):
    per_layer: str | None = Field(
        None, description="name of the depth parameter: one value is drawn per layer (model.hidden.0, ...)"
    )


class FloatParam(_Param):
    type: Literal["float"] = "float"
    low: float
    high: float
    log: bool = False
    step: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _range(self) -> FloatParam:
        _check_range(self.low, self.high, self.log)
        if self.log and self.step is not None:
            raise ValueError("log and step cannot be used together")
        return self


class IntParam(_Param):
    type: Literal["int"] = "int"
    low: int
    high: int
    step: int = Field(1, gt=0)
    log: bool = False

    @model_validator(mode="after")
    def _range(self) -> IntParam:
        _check_range(self.low, self.high, self.log)
        if self.log and self.step != 1:
            raise ValueError("log and step cannot be used together")
        return self


class CategoricalParam(_Param):
    type: Literal["categorical"] = "categorical"
    choices: list[Scalar] = Field(min_length=1)

    @field_validator("choices", mode="before")
    @classmethod
    def _scalars(cls, choices: Any) -> Any:
        for choice in choices if isinstance(choices, list) else []:
            if isinstance(choice, list | dict):
                raise ValueError(
                    f"choice {choice!r} is a {type(choice).__name__}; a choice must be a number, string, "
                    "boolean or null (vary a list with per_layer, or use strategy listed)"
                )
        return choices

    @field_validator("choices")
    @classmethod
    def _distinct(cls, choices: list[Scalar]) -> list[Scalar]:
        if len({repr(c) for c in choices}) != len(choices):
            raise ValueError("choices must be distinct")
        return choices


class FixedParam(_Param):
    type: Literal["fixed"] = "fixed"
    value: Any


Param = Annotated[FloatParam | IntParam | CategoricalParam | FixedParam, Field(discriminator="type")]


def expand_shorthand(value: Any) -> Any:
    """A space (a mapping of parameters) with each parameter's short form expanded."""
    return {k: _param_shorthand(v) for k, v in value.items()} if isinstance(value, dict) else value


def _check_range(low: float, high: float, log: bool) -> None:
    if not low < high:
        raise ValueError(f"low ({low}) must be below high ({high})")
    if log and low <= 0:
        raise ValueError(f"a log scale needs low > 0 (got {low})")


def _param_shorthand(value: Any) -> Any:
    """``[a, b]`` is categorical, a scalar is fixed, ``{low, high}`` is int when both are ints."""
    if isinstance(value, list):
        return {"type": "categorical", "choices": value}
    if not isinstance(value, dict):
        return {"type": "fixed", "value": value}
    if "type" in value:
        return value
    if "choices" in value:
        return {"type": "categorical", **value}
    if "value" in value:
        return {"type": "fixed", **value}
    ints = all(isinstance(value.get(k), int) and not isinstance(value.get(k), bool) for k in ("low", "high"))
    return {"type": "int" if ints and not value.get("log") else "float", **value}


class ListedConfig(_Frozen):
    """One named configuration: dotted run settings, e.g. ``{model.hidden: [128, 64]}``."""

    name: str = Field(min_length=1)
    set: dict[str, Any] = Field(default_factory=dict)


def values_of(param: Param) -> list[Any]:
    """The finite values of a discrete parameter (used by the grid and to validate extremes)."""
    if isinstance(param, CategoricalParam):
        return list(param.choices)
    if isinstance(param, FixedParam):
        return [param.value]
    if isinstance(param, IntParam):
        if param.log:
            raise ValueError("a log-scaled int has no grid; give choices instead")
        return list(range(param.low, param.high + 1, param.step))
    if param.step is None:
        raise ValueError("a float range without step has no grid; give a step or choices")
    n = math.floor((param.high - param.low) / param.step + 1e-9)
    return [round(param.low + i * param.step, 12) for i in range(n + 1)]
