"""Reading run and study files: YAML (``safe_load``, a key given twice refused) and ``--set`` overrides."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from tunelab.errors import ConfigError


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
    if data is None:  # nothing but blank lines and comments: not a file of default settings
        raise ConfigError(f"{path}: the file is empty; expected a mapping of settings")
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: expected a mapping of settings at the top level, got {type(data).__name__}"
        )
    return data
