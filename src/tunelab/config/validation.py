"""Pydantic's validation errors as one sentence that names the field."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import ValidationError


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
    named = isinstance(given, str) and repr(given) in message  # the message quotes it already
    if given is not None and not isinstance(given, dict | list) and not named:
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
    *(
        "mlp",
        "cnn",
        "lcnn",
        "custom",
        "constant",
        "step",
        "exponential",
        "time",
        "cosine",
        "onecycle",
        "plateau",
    ),
    *("int", "float", "str", "bool", "list", "dict", "tuple", "none"),
}
