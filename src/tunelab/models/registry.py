"""The model registry: a plain dict, kind → builder ``(cfg, input_shape, n_classes) -> nn.Module``.

The built-in kinds (``mlp``, ``cnn``, ``lcnn``) build from their own config models. Any other kind
is a model factory (:mod:`tunelab.models.factory`): registered in this process with
:func:`register` (or ``run_study(..., models={...})``), or installed by a package as a
``tunelab.models`` entry point, which is loaded and registered the first time its name is looked up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from tunelab import plugins
from tunelab.config.model import BUILT_IN
from tunelab.errors import ConfigError
from tunelab.models.cnn import build_cnn, build_lcnn
from tunelab.models.factory import Factory
from tunelab.models.mlp import build_mlp

Builder = Callable[[Any, tuple[int, int, int], int], nn.Module]

MODELS: dict[str, Builder] = {
    "mlp": build_mlp,
    "cnn": build_cnn,
    "lcnn": build_lcnn,
}


def register(name: str, factory: Callable[..., nn.Module]) -> None:
    """Make ``factory(input_shape, n_classes, **params)`` the model ``kind: name`` of study files.

    Registering a name again replaces its factory (a notebook cell run twice); the built-in kinds
    cannot be replaced. Worker processes of ``run --workers`` import it again by its module and
    name, so give a function or class defined at the top level of a module (or of the script).
    """
    if not isinstance(name, str) or not name:
        raise ConfigError(f"a model's name must be a non-empty string, got {name!r}")
    if name in BUILT_IN:
        raise ConfigError(f"model {name!r} is built in; register the factory under another name")
    if not callable(factory):
        raise ConfigError(f"model {name!r}: the factory must be callable, got {type(factory).__name__}")
    MODELS[name] = Factory(name, factory)


def registered() -> dict[str, Factory]:
    """The factories registered in this process (plug-ins loaded so far excluded)."""
    return {k: v for k, v in MODELS.items() if isinstance(v, Factory) and v.plugin is None}


def find_factory(kind: str) -> Factory | None:
    """The factory of ``kind``: registered, else an installed plug-in (loaded now); None if neither.

    A plug-in that is installed but cannot be loaded raises :class:`~tunelab.plugins.PluginError`.
    """
    builder = MODELS.get(kind)
    if isinstance(builder, Factory):
        return builder
    if builder is not None:
        return None  # built in
    entry = plugins.find(plugins.MODELS_GROUP, kind)
    if entry is None:
        return None
    function = plugins.load(entry)
    if not callable(function):
        raise plugins.PluginError(
            f"the tunelab.models plug-in {kind!r} ({entry.value}, from {plugins.origin(entry)}) is a "
            f"{type(function).__name__}, not a model factory"
        )
    factory = Factory(kind, function, plugin=f"{entry.name} = {entry.value}")
    MODELS[kind] = factory
    return factory


def unknown_kind(kind: str) -> str:
    """The sentence for a kind that is neither built in, registered nor installed."""
    mine = sorted(registered())
    installed = sorted(set(plugins.names(plugins.MODELS_GROUP)) - set(mine))
    return (
        f"unknown model {kind!r}; expected {', '.join(BUILT_IN[:-1])} or {BUILT_IN[-1]}, a factory "
        f"registered with tunelab.models.register ({', '.join(mine) or 'none'}) or an installed "
        f"tunelab.models plug-in ({', '.join(installed) or 'none installed'})"
    )
