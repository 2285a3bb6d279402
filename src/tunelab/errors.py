"""Errors that are the user's to fix: the CLI prints their message as one sentence and exits 2."""

from __future__ import annotations


class TunelabError(Exception):
    """Bad input: a study or run file, a CLI argument, a data file or a storage URL."""


class ConfigError(TunelabError):
    """A run or study file, or an override, does not validate."""


class DataError(TunelabError):
    """A dataset file is missing, truncated, of the wrong format or fails its checksum."""


class ModelError(ConfigError):
    """A model factory raised, returned something other than a module, or a wrong output shape.

    Raised for the study file's own settings, it stops the command (exit 2); for one trial's
    searched settings, that trial fails with the sentence as its reason and the study goes on.
    """
