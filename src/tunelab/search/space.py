"""A search space: draws a trial's parameters and turns them into run-configuration overrides.

Parameters are named by the dotted run setting they set (``train.optimizer.lr``). A per-layer
parameter (``per_layer: n_layers``) is drawn once per layer under the names ``model.hidden.0``,
``model.hidden.1``, ... after its depth parameter, and becomes one list: Keras Tuner's conditional
``units_i`` of paper 000. A named-configuration parameter (``listed``) has configuration names as
choices; each name stands for a set of overrides.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from pydantic import TypeAdapter

from tunelab.errors import ConfigError
from tunelab.search.params import (
    RUN_SECTIONS,
    CategoricalParam,
    FixedParam,
    FloatParam,
    IntParam,
    ListedConfig,
    Param,
    values_of,
)

_PARAM = TypeAdapter(Param)
GRID_LIMIT = 100_000


@dataclass(frozen=True)
class Space:
    """``params`` by name (a per-layer template, or ``key.i`` for one layer); ``named`` configurations."""

    params: Mapping[str, Param]
    named: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)

    @classmethod
    def listed(cls, name: str, configs: list[ListedConfig]) -> Space:
        """One categorical parameter ``name`` whose choices are the configurations' names."""
        choices = CategoricalParam(choices=[c.name for c in configs])
        return cls({name: choices}, {name: {c.name: dict(c.set) for c in configs}})

    # ------------------------------------------------------------------------------------ drawing
    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Draw (or, for an enqueued trial, read) every parameter; depth parameters come first."""
        params: dict[str, Any] = {}
        for name, param in self.params.items():
            if param.per_layer is None and not self._is_layer(name) and not isinstance(param, FixedParam):
                params[name] = _suggest(trial, name, param)
        for name, i, param in self._layers(params):
            if not isinstance(param, FixedParam):
                params[f"{name}.{i}"] = _suggest(trial, f"{name}.{i}", param)
        return params

    def overrides(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The dotted run settings that ``params`` (and the fixed values) stand for."""
        out: dict[str, Any] = {}
        for name, param in self.params.items():
            if isinstance(param, FixedParam) and param.per_layer is None and name.startswith(RUN_SECTIONS):
                out[name] = param.value
        for name, value in params.items():
            if name in self.named:
                out.update(self.named[name][value])
            elif (
                name.startswith(RUN_SECTIONS) and name in self.params and self.params[name].per_layer is None
            ):
                out[name] = value
        lists: dict[str, list[Any]] = {}
        for name, i, param in self._layers(params):
            value = param.value if isinstance(param, FixedParam) else params[f"{name}.{i}"]
            lists.setdefault(name, []).append(value)
        return out | lists

    def covers(self, name: str) -> bool:
        """Whether parameter ``name`` is the space's own (drawn, fixed, a layer of a per-layer one)."""
        return name in self.params or name in self.named or self._is_layer(name)

    def uses(self, name: str, params: Mapping[str, Any]) -> bool:
        """Whether a trial with ``params`` has parameter ``name``: not a layer beyond its depth."""
        key, _, index = name.rpartition(".")
        template = self.params.get(key)
        if not index.isdigit() or template is None or template.per_layer is None:
            return True
        return int(index) < self._depth(template.per_layer, params)

    def _is_layer(self, name: str) -> bool:
        key, _, index = name.rpartition(".")
        return index.isdigit() and key in self.params and self.params[key].per_layer is not None

    def _layers(self, params: Mapping[str, Any]) -> Iterator[tuple[str, int, Param]]:
        """``(key, layer, param)`` of every per-layer value, in order, for the depths in ``params``."""
        for name, template in self.params.items():
            if template.per_layer is None:
                continue
            for i in range(self._depth(template.per_layer, params)):
                yield name, i, self.params.get(f"{name}.{i}", template)

    def _depth(self, name: str, params: Mapping[str, Any]) -> int:
        param = self.params[name]
        return int(param.value if isinstance(param, FixedParam) else params[name])

    # ---------------------------------------------------------------------------------------- grid
    def grid(self) -> list[dict[str, Any]]:
        """Every combination of the discrete values, per-layer parameters expanded for each depth."""
        points: list[dict[str, Any]] = [{}]
        for name, param in self.params.items():
            if param.per_layer is None and not self._is_layer(name) and not isinstance(param, FixedParam):
                values = _values(name, param)
                _check_size(len(points) * len(values))  # before building it: a huge grid fails at once
                points = [p | {name: v} for p in points for v in values]
        expanded: list[dict[str, Any]] = []
        for point in points:
            slots = [(f"{n}.{i}", p) for n, i, p in self._layers(point) if not isinstance(p, FixedParam)]
            choices = [_values(n, p) for n, p in slots]
            _check_size(len(expanded) + math.prod(map(len, choices)))
            for combo in itertools.product(*choices):
                expanded.append(point | {n: v for (n, _), v in zip(slots, combo, strict=True)})
        return expanded

    # ------------------------------------------------------------------------------ serialisation
    def to_raw(self) -> dict[str, Any]:
        return {
            "params": {
                k: p.model_dump(mode="json", exclude_defaults=True) | {"type": p.type}
                for k, p in self.params.items()
            },
            "named": {k: {n: dict(o) for n, o in v.items()} for k, v in self.named.items()},
        }

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> Space:
        params = {k: _PARAM.validate_python(v) for k, v in raw["params"].items()}
        return cls(params, raw.get("named", {}))


def pinned_distribution(value: Any, known: BaseDistribution | None) -> BaseDistribution | None:
    """The distribution under which a trial records ``value`` of a parameter it did not draw.

    One value only where the storage allows it: a float or int range of that one value (Optuna's
    storage requires the same kind and log scale as the study's other trials of that name), the
    study's own choices for a categorical one (it refuses any other choices). None where the value
    cannot be recorded so (not a scalar, not of the parameter's kind): it stays in the overrides only.
    """
    if isinstance(value, list | dict | tuple):
        return None
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if known is None:
        return CategoricalDistribution([value])
    if isinstance(known, CategoricalDistribution):
        return known if any(value == c and type(value) is type(c) for c in known.choices) else None
    if isinstance(known, IntDistribution) and number and float(value).is_integer():
        ok = not known.log or value >= 1
        return IntDistribution(int(value), int(value), log=known.log) if ok else None
    if isinstance(known, FloatDistribution) and number:
        ok = not known.log or value > 0
        return FloatDistribution(float(value), float(value), log=known.log) if ok else None
    return None


def _suggest(trial: optuna.Trial, name: str, param: Param) -> Any:
    match param:
        case FloatParam():
            return trial.suggest_float(name, param.low, param.high, log=param.log, step=param.step)
        case IntParam():
            return trial.suggest_int(name, param.low, param.high, step=param.step, log=param.log)
        case CategoricalParam():
            return trial.suggest_categorical(name, param.choices)
    raise AssertionError(param)


def _values(name: str, param: Param) -> list[Any]:
    if isinstance(param, IntParam | FloatParam) and param.step is not None and not param.log:
        _check_size(math.floor((param.high - param.low) / param.step + 1e-9) + 1)  # before listing them
    try:
        return values_of(param)
    except ValueError as exc:
        raise ConfigError(f"space.{name}: {exc}") from None


def _check_size(n: int) -> None:
    if n > GRID_LIMIT:
        raise ConfigError(f"space: the grid has more than {GRID_LIMIT:,} points; use a sampling strategy")
