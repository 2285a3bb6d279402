"""The dataset registry: a plain dict, name → :class:`DatasetInfo`, one module per dataset.

A name that is not here may be a ``tunelab.datasets`` plug-in of an installed package: its entry
point names a :class:`DatasetInfo` (or a function without arguments returning one), which is
registered under the entry point's name the first time that name is looked up.
"""

from __future__ import annotations

from dataclasses import replace

from tunelab import plugins
from tunelab.data import cifar10, digits, emnist, fashion_mnist, kmnist, mnist, usps
from tunelab.data.base import DatasetInfo
from tunelab.errors import ConfigError

DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        digits.INFO,
        mnist.INFO,
        fashion_mnist.INFO,
        usps.INFO,
        kmnist.INFO,
        emnist.BALANCED,
        emnist.DIGITS,
        cifar10.INFO,
    )
}


def find_info(name: str) -> DatasetInfo | None:
    """The dataset ``name``: registered, else an installed plug-in (loaded now); None if neither."""
    if name in DATASETS:
        return DATASETS[name]
    entry = plugins.find(plugins.DATASETS_GROUP, name)
    if entry is None:
        return None
    info = plugins.load(entry)
    if callable(info) and not isinstance(info, DatasetInfo):
        try:
            info = info()
        except Exception as exc:  # the plug-in's own code
            raise plugins.PluginError(
                f"the tunelab.datasets plug-in {name!r} ({entry.value}) raised "
                f"{exc.__class__.__name__}: {exc}"
            ) from None
    if not isinstance(info, DatasetInfo):
        raise plugins.PluginError(
            f"the tunelab.datasets plug-in {name!r} ({entry.value}, from {plugins.origin(entry)}) is a "
            f"{type(info).__name__}, not a tunelab.data.DatasetInfo"
        )
    DATASETS[name] = info if info.name == name else replace(info, name=name)
    return DATASETS[name]


def with_plugins() -> tuple[dict[str, DatasetInfo], dict[str, str]]:
    """Every dataset (the registered ones and each installed plug-in, loaded now), and what is wrong
    with each plug-in that cannot be loaded, by name."""
    problems = {}
    for name in plugins.names(plugins.DATASETS_GROUP):
        try:
            find_info(name)
        except plugins.PluginError as exc:
            problems[name] = str(exc)
    return dict(DATASETS), problems


def unknown_dataset(name: str) -> str:
    """The sentence for a name that is neither registered nor an installed plug-in."""
    installed = sorted(set(plugins.names(plugins.DATASETS_GROUP)) - set(DATASETS))
    return (
        f"unknown dataset {name!r}; expected one of {', '.join(sorted(DATASETS))}, or folder or "
        f"arrays with a path, or an installed tunelab.datasets plug-in "
        f"({', '.join(installed) or 'none installed'})"
    )


def get_info(name: str) -> DatasetInfo:
    """The dataset ``name``; an unknown name is a ConfigError listing the known ones."""
    info = find_info(name)
    if info is None:
        raise ConfigError(f"data.name: {unknown_dataset(name)}")
    return info
