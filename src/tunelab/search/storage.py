"""Where a study lives: an SQLAlchemy URL (SQLite file by default, PostgreSQL for many workers).

Also what Optuna's storage does not give: a lock under which a new database gets its tables (so that
workers started together on a new storage do not race to create them), a study-wide lock (so that
stages are planned and budgets checked by one worker at a time), a heartbeat thread for trials run
through ask/tell, and tunelab's rule for running a failed trial again (:class:`RetryPolicy`, the
storage's stale-trial callback). Passwords never leave this module: every message shows the URL
with the password masked, and what is written to a file is the URL without it (:func:`without_password`).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.engine import make_url

from tunelab.errors import ConfigError
from tunelab.search.record import FAILURES, TrialRecord, retry_attrs

HEARTBEAT_INTERVAL_S = 10
GRACE_PERIOD_S = 30


def default_storage(out_dir: Path) -> str:
    return f"sqlite:///{(out_dir / 'study.db').resolve()}"


def mask(url: str) -> str:
    """The URL with its password replaced by ``***`` (in its login and in its query)."""
    try:
        parsed = make_url(url)
        query = {k: "***" if k in _SECRET_KEYS else v for k, v in parsed.query.items()}
        return parsed.set(query=query).render_as_string(hide_password=True)
    except Exception:  # not parseable: show only the scheme, the rest may hold a secret
        if "://" not in url:  # not a URL at all: show it as typed unless it looks like it holds a login
            return url if "@" not in url and ":" not in url else "…"
        return url.split("://", 1)[0] + "://…"


# Query parameters that libpq and the drivers read as a secret, beside the URL's own password.
_SECRET_KEYS = frozenset({"password", "sslpassword"})


def without_password(url: str) -> str:
    """The URL as it may be written to a file: no password, neither in its login nor in its query.

    Built anew from its parts: ``URL.set(password=None)`` leaves the password in place (None means
    "unchanged" there), and ``render_as_string(hide_password=True)`` only writes ``***`` over it.
    """
    parsed = make_url(url)
    return sqlalchemy.URL.create(
        parsed.drivername,
        username=parsed.username,
        host=parsed.host,
        port=parsed.port,
        database=parsed.database,
        query={k: v for k, v in parsed.query.items() if k not in _SECRET_KEYS},
    ).render_as_string(hide_password=False)


def sqlite_file(url: str) -> Path | None:
    """The database file of an SQLite URL; None for another database, an in-memory one or no URL."""
    try:
        parsed = make_url(url)
    except sqlalchemy.exc.ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def parse_url(url: str) -> sqlalchemy.URL:
    """The parsed URL; one that is not a database URL, or names a missing folder, is a ConfigError."""
    try:
        parsed = make_url(url)
    except sqlalchemy.exc.ArgumentError:
        raise ConfigError(
            f"storage {mask(url)}: not a database URL; expected e.g. sqlite:///study.db or "
            "postgresql://user@host:5432/db"
        ) from None
    path = sqlite_file(url)
    if path is not None and not path.parent.is_dir():
        raise ConfigError(f"storage {mask(url)}: the folder {path.parent} does not exist")
    return parsed


def open_storage(url: str, retries: int = 2) -> optuna.storages.RDBStorage:
    """Connect, with heartbeats and retries of trials whose worker died; bad URLs are a ConfigError.

    A new database gets its tables (Optuna's and tunelab's checkpoints) under :func:`schema_lock`, so
    that any number of workers may start at once on it; a damaged SQLite file is a ConfigError.
    """
    shown = mask(url)
    parsed = parse_url(url)
    engine_kwargs = (
        {"connect_args": {"connect_timeout": 5}} if parsed.get_backend_name() == "postgresql" else {}
    )
    try:
        with schema_lock(url):
            _check_sqlite_file(url)
            storage = optuna.storages.RDBStorage(
                url,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=HEARTBEAT_INTERVAL_S,
                grace_period=GRACE_PERIOD_S,
                heartbeat_stale_trial_callback=RetryPolicy(retries),
            )
            from tunelab.search.checkpoints import create_table  # it imports this module

            create_table(engine(url))
            return storage
    except (sqlalchemy.exc.NoSuchModuleError, ModuleNotFoundError, ImportError):
        raise ConfigError(
            f"storage {shown}: no driver for {parsed.drivername!r}; use sqlite or postgresql"
        ) from None
    except (sqlalchemy.exc.SQLAlchemyError, sqlite3.Error, OSError) as exc:
        raise ConfigError(f"storage {shown}: cannot connect ({_reason(exc, parsed.password)})") from None


class DamagedStorage(ConfigError):
    """An SQLite file that SQLite cannot read as a database."""


def damaged(url: str, reason: str) -> DamagedStorage:
    return DamagedStorage(
        f"storage {mask(url)}: the database file is damaged ({reason}); restore it from a backup, "
        "or delete it to start afresh (tunelab run --overwrite does, for a study's own study.db)"
    )


def _check_sqlite_file(url: str) -> None:
    """Refuse an existing SQLite file that SQLite cannot read through (before Optuna writes to it)."""
    path = sqlite_file(url)
    if path is None or not path.is_file() or path.stat().st_size == 0:
        return
    # read-write, never create: a hot journal left by a writer killed mid-transaction is rolled back
    # here, which a read-only connection refuses ("attempt to write a readonly database")
    uri = f"{path.resolve().as_uri()}?mode=rw"
    with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=30)) as conn:
        try:
            # quick_check reads every page: a page overwritten anywhere is found here, not mid-study.
            problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
        except sqlite3.DatabaseError as exc:
            if getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
                raise damaged(url, str(exc)) from None
            raise  # e.g. busy: not a sign of damage
    if problems != ["ok"]:  # e.g. "*** in database main ***\nPage 3: btreeInitPage() returns error code 11"
        first = " ".join(problems[0].replace("*** in database main ***", "").split())
        raise damaged(url, f"integrity check: {first}")


class RetryPolicy:
    """When a failed trial runs again: after a death always, after a failure of its own ``retries`` times.

    A trial whose process died or was stopped (killed, Ctrl-C, heartbeat lost) did nothing wrong: it
    is queued again every time, and resumes from its checkpoint. One that failed by itself (an
    exception, out of memory, divergence) is queued again until it has failed ``retries + 1`` times;
    an ``invalid`` one (its configuration cannot be built) never. Optuna calls the policy for each
    trial it fails as stale; tunelab for the trials whose worker it saw die or stop.

    A retry is a WAITING copy of the trial with the system attributes of Optuna's
    ``RetryHeartbeatStaleTrialCallback`` (``failed_trial``: the first of the chain, which keys its
    checkpoints; ``retry_history``), so that class's ``retried_trial_number`` reads it too.
    """

    def __init__(self, retries: int) -> None:
        self.retries = retries

    def again(self, outcome: str, failures: int) -> bool:
        """Whether a trial that failed by itself with ``outcome``, its ``failures``-th time, runs again."""
        return outcome in FAILURES and outcome != "invalid" and failures <= self.retries

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if not TrialRecord.from_trial(trial).gave_up(trial):
            self.requeue(study, trial)

    @staticmethod
    def requeue(study: optuna.Study, trial: FrozenTrial, *, fresh: bool = False) -> None:
        """Queue ``trial`` (failed) to run again, its failures so far forgotten when ``fresh``."""
        system = {"failed_trial": trial.number, "retry_history": [], **trial.system_attrs}
        system["retry_history"] = [*system["retry_history"], trial.number]
        retry = optuna.trial.create_trial(
            state=TrialState.WAITING,
            params=trial.params,
            distributions=trial.distributions,
            user_attrs=retry_attrs(trial, fresh=fresh),
            system_attrs=system,
        )
        study.add_trial(retry)


def _reason(exc: BaseException, password: str | None) -> str:
    """The driver's first line, with the password scrubbed in case the driver echoed it."""
    orig = getattr(exc, "orig", None) or exc
    text = (str(orig).strip().splitlines() or [exc.__class__.__name__])[0]
    return text.replace(password, "***") if password else text


# ---------------------------------------------------------------------------------------------- lock
@contextlib.contextmanager
def schema_lock(url: str) -> Iterator[None]:
    """Hold a lock on the database of ``url`` while its tables are created or checked.

    For SQLite, a lock on the database's folder (not a file: the study lock's file is a different
    lock, so that either may be taken while the other is held); else the database's own.
    """
    path = sqlite_file(url)
    if path is not None:
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock
        return
    with _advisory_lock(url, "tunelab:schema"):
        yield


@contextlib.contextmanager
def study_lock(url: str, study_name: str) -> Iterator[None]:
    """Hold a lock shared by every worker of ``study_name`` (a file lock for SQLite, else the DB's)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        path = Path(parsed.database or "study.db").with_suffix(".lock")
        with path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    with _advisory_lock(url, f"tunelab:{study_name}"):
        yield


@contextlib.contextmanager
def _advisory_lock(url: str, name: str) -> Iterator[None]:
    """A lock named ``name`` held by the database server (a process lock where it has none)."""
    backend = make_url(url).get_backend_name()
    key = int.from_bytes(hashlib.sha1(name.encode()).digest()[:8], "big", signed=True)
    with engine(url).connect() as conn:
        if backend == "postgresql":
            conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": key})
            try:
                yield
            finally:
                conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        elif backend in ("mysql", "mariadb"):
            conn.execute(sqlalchemy.text("SELECT GET_LOCK(:k, -1)"), {"k": str(key)})
            try:
                yield
            finally:
                conn.execute(sqlalchemy.text("SELECT RELEASE_LOCK(:k)"), {"k": str(key)})
        else:
            with _LOCAL_LOCK:
                yield


_LOCAL_LOCK = threading.RLock()  # re-entrant: the schema lock may be taken under the study lock


@functools.cache
def engine(url: str) -> sqlalchemy.Engine:
    """One engine per URL and process, for tunelab's own use of the study's database."""
    postgres = make_url(url).get_backend_name() == "postgresql"
    connect_args = {"connect_timeout": 5} if postgres else {}
    return sqlalchemy.create_engine(url, pool_pre_ping=True, connect_args=connect_args)


# ----------------------------------------------------------------------------------------- heartbeat
class Heartbeat:
    """Record a trial's heartbeat every few seconds, so that a dead worker's trial can be detected."""

    def __init__(self, storage: optuna.storages.BaseStorage, trial_id: int) -> None:
        # Any: the heartbeat methods are on optuna's RDB storages (and its cache of one), not the base
        self.storage: Any = storage
        self.trial_id = trial_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{trial_id}", daemon=True)

    def _beat(self) -> None:
        interval = (
            self.storage.get_heartbeat_interval() if hasattr(self.storage, "get_heartbeat_interval") else None
        )
        if not interval:
            return
        while True:
            with contextlib.suppress(Exception):  # a transient database error must not kill the trial
                self.storage.record_heartbeat(self.trial_id)
            if self._stop.wait(interval):
                return

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
