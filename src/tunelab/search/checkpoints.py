"""Checkpoints of running trials, kept in the study's own database beside Optuna's tables.

In the database rather than on a worker's disk, so that a trial whose worker died resumes on
whichever worker, on whichever machine, picks up its retry. One row per (study, trial, seed), replaced
after every epoch and deleted when the trial ends.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from tunelab.search.storage import engine
from tunelab.train.checkpoint import from_bytes, to_bytes

_META = sa.MetaData()
TABLE = sa.Table(
    "tunelab_checkpoints",
    _META,
    sa.Column("study", sa.String(512), primary_key=True),
    sa.Column("trial", sa.Integer, primary_key=True),
    sa.Column("seed", sa.Integer, primary_key=True),
    sa.Column("epoch", sa.Integer, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
)


def create_table(eng: sa.Engine) -> None:
    """Create the checkpoints table where it is missing (``open_storage`` does, under its schema lock)."""
    _META.create_all(eng, checkfirst=True)


class StorageCheckpointer:
    """The checkpoint of one seed of one trial; ``trial`` is the first number of a chain of retries."""

    def __init__(self, url: str, study: str, trial: int, seed: int, interval_s: float = 0.0) -> None:
        self.engine, self.key = engine(url), {"study": study, "trial": trial, "seed": seed}
        # Short epochs would spend more time writing checkpoints than training: save at most this often.
        self.interval_s, self._last = interval_s, time.monotonic()
        create_table(self.engine)  # made already by open_storage; here for a storage opened otherwise

    def _where(self) -> Any:
        return sa.and_(*(TABLE.c[k] == v for k, v in self.key.items()))

    def load(self) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            data = conn.execute(sa.select(TABLE.c.data).where(self._where())).scalar()
        return from_bytes(data) if data is not None else None

    def due(self) -> bool:
        return time.monotonic() - self._last >= self.interval_s

    def save(self, state: dict[str, Any]) -> None:
        if not self.due():
            return
        self._last = time.monotonic()
        data = to_bytes(state)
        with self.engine.begin() as conn:  # one transaction: a crash leaves the previous checkpoint
            conn.execute(sa.delete(TABLE).where(self._where()))
            conn.execute(sa.insert(TABLE).values(**self.key, epoch=state["epoch"], data=data))


def clear(url: str, study: str, trial: int) -> None:
    """Forget a finished trial's checkpoints."""
    eng = engine(url)
    if not sa.inspect(eng).has_table(TABLE.name):
        return
    with eng.begin() as conn:
        conn.execute(sa.delete(TABLE).where(TABLE.c.study == study, TABLE.c.trial == trial))


def clear_study(url: str, study: str) -> None:
    """Forget every checkpoint kept under the study name ``study``."""
    eng = engine(url)
    if not sa.inspect(eng).has_table(TABLE.name):
        return
    with eng.begin() as conn:
        conn.execute(sa.delete(TABLE).where(TABLE.c.study == study))
