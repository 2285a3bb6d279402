"""What the storage tests share: the local PostgreSQL server (127.0.0.1:5432, trust auth) and
storages opened by several processes at one moment."""

from __future__ import annotations

import multiprocessing

import pytest
import sqlalchemy

from tunelab.errors import ConfigError
from tunelab.search.storage import open_storage

SERVER = "postgresql://postgres@127.0.0.1:5432"
PG_URL = f"{SERVER}/test"


def postgres_up() -> bool:
    try:
        with sqlalchemy.create_engine(PG_URL, connect_args={"connect_timeout": 3}).connect():
            return True
    except Exception:
        return False


NEEDS_POSTGRES = [
    pytest.mark.postgres,
    pytest.mark.skipif(not postgres_up(), reason="PostgreSQL is not running on 127.0.0.1:5432"),
]
"""The marks of a test (or, as ``pytestmark``, a module) that talks to the local server."""


def open_together(url: str, n: int = 6) -> list[str]:
    """What ``n`` processes that call ``open_storage(url)`` at the same moment each got: "ok" or the error."""
    import tunelab.search.checkpoints  # noqa: F401  open_storage's own import, done before the fork

    context = multiprocessing.get_context("fork")
    barrier, answers = context.Barrier(n), context.Queue()

    def open_it() -> None:
        barrier.wait()
        try:
            open_storage(url)
            answers.put("ok")
        except ConfigError as exc:
            answers.put(str(exc))

    procs = [context.Process(target=open_it) for _ in range(n)]
    for proc in procs:
        proc.start()
    got = [answers.get(timeout=300) for _ in procs]
    for proc in procs:
        proc.join()
    return got
