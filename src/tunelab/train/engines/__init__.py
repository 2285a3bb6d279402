"""Engines: what differs between training a lone run and a vectorised population (see ``base``)."""

from __future__ import annotations

from tunelab.train.engines.base import Engine, EpochSums
from tunelab.train.engines.plain import PlainEngine
from tunelab.train.engines.population import PopulationEngine

__all__ = ["Engine", "EpochSums", "PlainEngine", "PopulationEngine"]
