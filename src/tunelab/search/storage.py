"""Where a study lives: an SQLAlchemy URL (SQLite file by default, PostgreSQL for many workers).

Also what Optuna's storage does not give: a study-wide lock (so that stages are planned and budgets
checked by one worker at a time), a heartbeat thread for trials run through ask/tell, and tunelab's
rule for running a failed trial again (:class:`RetryPolicy`, the storage's stale-trial callback).
Passwords never leave this module: every message shows the URL with the password masked.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
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
    """The URL with its password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not parseable: show only the scheme, the rest may hold a secret
        if "://" not in url:  # not a URL at all: show it as typed unless it looks like it holds a login
            return url if "@" not in url and ":" not in url else "…"
        return url.split("://", 1)[0] + "://…"


def open_storage(url: str, retries: int = 2) -> optuna.storages.RDBStorage:
    """Connect, with heartbeats and retries of trials whose worker died; bad URLs are a ConfigError."""
    shown = mask(url)
    try:
        parsed = make_url(url)
    except sqlalchemy.exc.ArgumentError:
        raise ConfigError(
            f"storage {shown}: not a database URL; expected e.g. sqlite:///study.db or "
            "postgresql://user@host:5432/db"
        ) from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        folder = Path(parsed.database).parent
        if not folder.is_dir():
            raise ConfigError(f"storage {shown}: the folder {folder} does not exist")
    engine_kwargs = (
        {"connect_args": {"connect_timeout": 5}} if parsed.get_backend_name() == "postgresql" else {}
    )
    try:
        return optuna.storages.RDBStorage(
            url,
            engine_kwargs=engine_kwargs,
            heartbeat_interval=HEARTBEAT_INTERVAL_S,
            grace_period=GRACE_PERIOD_S,
            heartbeat_stale_trial_callback=RetryPolicy(retries),
        )
    except (sqlalchemy.exc.NoSuchModuleError, ModuleNotFoundError, ImportError):
        raise ConfigError(
            f"storage {shown}: no driver for {parsed.drivername!r}; use sqlite or postgresql"
        ) from None
    except (sqlalchemy.exc.SQLAlchemyError, OSError) as exc:
        raise ConfigError(f"storage {shown}: cannot connect ({_reason(exc, parsed.password)})") from None


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
    key = int.from_bytes(hashlib.sha1(f"tunelab:{study_name}".encode()).digest()[:8], "big", signed=True)
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


_LOCAL_LOCK = threading.Lock()


@functools.cache
def engine(url: str) -> sqlalchemy.Engine:
    """One engine per URL and process, for tunelab's own use of the study's database."""
    return sqlalchemy.create_engine(url, pool_pre_ping=True)


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
