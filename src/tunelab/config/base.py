"""What every configuration model shares: frozen, unknown keys refused, a few constrained types."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

Probability = Annotated[float, Field(ge=0.0, lt=1.0)]
PositiveInt = Annotated[int, Field(gt=0)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _shorthand(key: str) -> Any:
    """Let a bare string stand for ``{key: string}`` (``optimizer: adam``, ``init: xavier_uniform``)."""

    def before(cls: type, value: Any) -> Any:
        return {key: value} if isinstance(value, str) else value

    return before
