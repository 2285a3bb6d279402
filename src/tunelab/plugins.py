"""Plug-ins: models and datasets that installed packages register through entry points.

A package names them in its ``pyproject.toml``::

    [project.entry-points."tunelab.models"]
    example-cnn = "tunelab_plugin_example.models:tiny_cnn"

    [project.entry-points."tunelab.datasets"]
    example-shapes = "tunelab_plugin_example.data:INFO"

so a study file names a plug-in by its entry point's name and stays data only. Entry points are
read from the installed distributions each time a name is looked up (cheap, and it sees a package
installed while the process runs); what they load is kept by the registry that asked.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Any

from tunelab.errors import ConfigError

MODELS_GROUP = "tunelab.models"
DATASETS_GROUP = "tunelab.datasets"


class PluginError(ConfigError):
    """An installed plug-in cannot be loaded."""


def find(group: str, name: str) -> EntryPoint | None:
    """The entry point ``name`` of ``group`` in the installed packages (the first, if several)."""
    found = entry_points(group=group).select(name=name)
    return next(iter(found), None)


def names(group: str) -> list[str]:
    """The names of every installed plug-in of ``group``, sorted."""
    return sorted({entry.name for entry in entry_points(group=group)})


def load(entry: EntryPoint) -> Any:
    """The object ``entry`` refers to; a failing import is one sentence naming the plug-in."""
    try:
        return entry.load()
    except Exception as exc:  # its package's own code: any error means it cannot be used
        message = str(exc).splitlines()[0] if str(exc) else ""
        raise PluginError(
            f"the {entry.group} plug-in {entry.name!r} ({entry.value}, from {origin(entry)}) cannot be "
            f"loaded: {exc.__class__.__name__}{': ' + message if message else ''}"
        ) from None


def origin(entry: EntryPoint) -> str:
    """The package that installed ``entry``, as ``name version``."""
    dist = entry.dist
    return f"{dist.name} {dist.version}" if dist is not None else "an unknown package"
