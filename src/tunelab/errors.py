"""Errors that are the user's to fix: the CLI prints their message as one sentence and exits 2."""

from __future__ import annotations


class TunelabError(Exception):
    """Bad input: a study or run file, a CLI argument, a data file or a storage URL."""


class ConfigError(TunelabError):
    """A run or study file, or an override, does not validate."""


class DataError(TunelabError):
    """A dataset file is missing, truncated, of the wrong format or fails its checksum."""
