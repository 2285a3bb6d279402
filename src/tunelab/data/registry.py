"""The dataset registry: a plain dict, name → :class:`DatasetInfo`, one module per dataset."""

from __future__ import annotations

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


def get_info(name: str) -> DatasetInfo:
    """The registered dataset ``name``; an unknown name is a ConfigError listing the known ones."""
    try:
        return DATASETS[name]
    except KeyError:
        known = ", ".join(sorted(DATASETS))
        raise ConfigError(f"data.name: unknown dataset {name!r}; expected one of {known}") from None
