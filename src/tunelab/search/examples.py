"""The example studies bundled with tunelab: what ``tunelab init`` writes into a folder.

They are package data (``tunelab/examples/*.yaml``, in a checkout a link to ``studies/examples``),
read with :mod:`importlib.resources`, so an installed wheel has them too. Each runs on the digits
that scikit-learn bundles: no download, seconds to minutes on a laptop CPU.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable

from tunelab.errors import ConfigError

DEFAULT = "digits-grid"
PREFIX = "digits-"


def bundled() -> dict[str, Traversable]:
    """Every bundled example study by name (``digits-grid``, ...), in name order."""
    folder = files("tunelab") / "examples"
    found = [p for p in folder.iterdir() if p.name.endswith(".yaml")] if folder.is_dir() else []
    return {p.name.removesuffix(".yaml"): p for p in sorted(found, key=lambda p: p.name)}


def describe(example: Traversable) -> str:
    """The first comment line of an example study: what it shows."""
    for line in example.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
    return ""


def find(name: str) -> tuple[str, Traversable]:
    """The example study called ``name`` (``digits-grid``, ``grid`` or ``digits-grid.yaml``)."""
    examples = bundled()
    key = name.removesuffix(".yaml")
    for candidate in (key, PREFIX + key):
        if candidate in examples:
            return candidate, examples[candidate]
    known = ", ".join(examples) or "none (this installation has no example studies)"
    raise ConfigError(f"init: no bundled example study {name!r}; choose one of: {known}")


def text_of(example: Traversable) -> str:
    """The study file as written out: its usage comment names the file in the current folder."""
    return example.read_text(encoding="utf-8").replace("studies/examples/", "")
