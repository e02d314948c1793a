"""Running an optuna study that can be watched, stopped, resumed and shared.

The study lives in optuna's RDB storage (SQLite by default): every finished trial is committed there,
so a process killed at any moment (SIGKILL included) loses at most the trial it was running, and
``load_if_exists`` resumes it; several processes (or machines sharing one database) given the same
storage and study name search together. ``trials`` is the number of finished trials the *study* should
hold, not the number this process runs, so a resumed or second worker continues to the same total.
A trial left running by a dead worker is marked failed (at once when the worker ran on this machine,
after the heartbeat's grace period otherwise). Every trial draws its samples from a generator seeded by
(seed, study, trial number), so a fixed seed repeats a fresh search exactly while a resumed or second
worker samples new architectures instead of the first worker's again.
Progress: one bar for the study (with the best value so far) and one per trial (its training steps);
after each trial every trial of the study is written to a CSV, atomically.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import random
import socket
import sqlite3
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tqdm import tqdm

from cnnzoo.files import write_csv
from cnnzoo.optional import require_optuna
from cnnzoo.search.report import trial_rows

__all__ = ["open_study", "finished_trials", "run_study", "TrialProgress", "StudyRun", "Deadline", "TimeLimit",
           "check_storage", "check_out_dir", "fail_stale_trials", "recorded", "seed_per_trial", "worker_name",
           "describe_trials", "storage_errors", "created_paths", "CONSECUTIVE_FAILURES", "check_search_settings",
           "announce_resume", "MAX_TRIALS"]

#: a worker that stops beating for this long has its running trial marked failed by the next worker
HEARTBEAT_S, GRACE_S = 10, 30
MAX_TRIALS = 1_000_000
#: a worker whose trials fail this many times in a row stops (every candidate diverging is a setting's fault)
CONSECUTIVE_FAILURES = 5


class TimeLimit(Exception):  # noqa: N818 (a stop, not an error)
    """Raised inside a trial (or a compared model's training) when the search's time budget is spent."""


class Deadline:
    """The time budget of a whole search command (``None``: no limit); :meth:`check` raises
    :class:`TimeLimit` once it has passed."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.end = None if seconds is None else time.monotonic() + seconds

    def left(self) -> float:
        """Seconds left (``inf`` without a limit)."""
        return math.inf if self.end is None else self.end - time.monotonic()

    def passed(self) -> bool:
        return self.left() <= 0

    def check(self, *_: Any) -> None:
        """Raise :class:`TimeLimit` when the budget is spent (usable as a progress callback)."""
        if self.passed():
            raise TimeLimit(f"the time limit ({self.seconds / 60:g} min) was reached")


def worker_name() -> str:
    """``host:pid``, recorded in every trial so that a dead worker's trial can be recognised."""
    return f"{socket.gethostname()}:{os.getpid()}"


def check_search_settings(trials: int | None, timeout_min: float | None, seed: int) -> None:
    """The study settings every search shares: a ``ValueError`` saying what is expected."""
    if trials is not None and (isinstance(trials, bool) or not isinstance(trials, int)
                               or not 1 <= trials <= MAX_TRIALS):
        raise ValueError(f"trials must be an integer from 1 to {MAX_TRIALS:,}, got {trials!r}")
    if timeout_min is not None and not (isinstance(timeout_min, (int, float)) and 0 < timeout_min < math.inf):
        raise ValueError(f"timeout must be a finite number of minutes > 0, got {timeout_min!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 32:
        raise ValueError(f"seed must be an integer from 0 to {2 ** 32 - 1}, got {seed!r}")


def _hidden(url: str) -> str:
    """The URL with any password masked, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 (a malformed URL is named as given)
        return url


def _sqlite_path(url: str) -> Path | None:
    if url.startswith("sqlite:///") and url[len("sqlite:///"):] not in ("", ":memory:"):
        return Path(url[len("sqlite:///"):].split("?", 1)[0])
    return None


def check_storage(url: str) -> Path | None:
    """Check a storage URL before anything is created: a ``ValueError`` for a malformed URL, a
    ``RuntimeError`` naming the file for an SQLite path that is a directory, not a database, or not
    writable. Returns the SQLite file (``None`` for other databases)."""
    if not isinstance(url, str) or "://" not in url:
        raise ValueError(f"storage must be a database URL such as sqlite:///study.db, got {url!r}")
    path = _sqlite_path(url)
    if path is None:
        return None
    if path.is_dir():
        raise RuntimeError(f"study database {path} is a directory; give a file, e.g. sqlite:///{path}/study.db")
    if path.exists():
        if not path.is_file():
            raise RuntimeError(f"study database {path} is not a regular file")
        if path.stat().st_size:
            try:
                with contextlib.closing(sqlite3.connect(path, timeout=60)) as con:
                    con.execute("PRAGMA schema_version").fetchone()
            except sqlite3.Error:
                raise RuntimeError(f"study database {path} is not an SQLite database") from None
        if not os.access(path, os.R_OK | os.W_OK):
            raise RuntimeError(f"study database {path} is read-only; make it writable or give another --storage")
    parent = next((p for p in (path.parent, *path.parent.parents) if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise RuntimeError(f"cannot create study database {path}: {parent} is a file, not a directory")
    if parent is not None and not os.access(parent, os.W_OK | os.X_OK):
        raise RuntimeError(f"cannot write the study database {path}: directory {parent} is read-only")
    return path


def check_out_dir(path: str | Path) -> Path:
    """An output directory that can be created or written: a ``ValueError`` naming what is in the way."""
    path = Path(path)
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ValueError(f"output directory {path}: {existing} is a file, not a directory")
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"output directory {path}: {existing} is read-only")
    return path


@contextlib.contextmanager
def storage_errors(url: str) -> Iterator[None]:
    """Turn optuna's and SQLAlchemy's storage errors into one ``RuntimeError`` line naming the storage."""
    import sqlalchemy.exc

    optuna = require_optuna()
    try:
        yield
    except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError, sqlite3.Error) as err:
        cause = err.__cause__ or err.__context__
        orig = getattr(err, "orig", None) or (getattr(cause, "orig", None) if cause is not None else None) or cause
        reason = str(orig or err).splitlines()[0] if str(orig or err) else type(err).__name__
        raise RuntimeError(f"study database {_hidden(url)}: {reason}") from None


@contextlib.contextmanager
def created_paths(*dirs: str | Path, files: Sequence[str | Path] = ()) -> Iterator[Callable[[], None]]:
    """Directories (and files) this run creates, removed again if the block fails before calling the
    function it yields (``keep()``): a failed search leaves no empty output directory behind."""
    new_dirs = []
    for d in dirs:
        d = Path(d)
        missing = [p for p in (d, *d.parents) if not p.exists()]
        new_dirs += missing
    new_files = [Path(f) for f in files if not Path(f).exists()]
    kept = False

    def keep() -> None:
        nonlocal kept
        kept = True

    try:
        yield keep
    except BaseException:
        if not kept:
            for f in new_files:
                for g in (f, Path(f"{f}-journal"), Path(f"{f}-wal"), Path(f"{f}-shm")):
                    with contextlib.suppress(OSError):
                        g.unlink()
            for d in sorted(set(new_dirs), key=lambda p: len(p.parts), reverse=True):
                with contextlib.suppress(OSError):
                    d.rmdir()  # only if empty
        raise


def _storage(optuna: Any, url: str, attempts: int = 5) -> Any:
    """The RDB storage; workers that start together on a new database race to create its tables (one
    wins, the others see an integrity error), so creation is retried."""
    import sqlalchemy.exc

    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():  # the heartbeat is "experimental"; it fails dead workers' trials
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(url, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
                                                  engine_kwargs={"connect_args": {"timeout": 60}}
                                                  if url.startswith("sqlite") else None)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.OperationalError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 + random.random())
    raise AssertionError("unreachable")


def open_study(storage: str, study_name: str, directions: Sequence[str], sampler: Any = None,
               pruner: Any = None) -> Any:
    """Create the study in ``storage`` (an RDB URL such as ``sqlite:///study.db``) or load it if it exists.

    A storage that cannot be used (a directory, not a database, read-only, unreachable) is one
    ``RuntimeError`` naming it."""
    optuna = require_optuna()
    path = check_storage(storage)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    with storage_errors(storage):
        rdb = _storage(optuna, storage)
        study = optuna.create_study(storage=rdb, study_name=study_name, directions=list(directions),
                                    sampler=sampler, pruner=pruner, load_if_exists=True)
    if [d.name.lower() for d in study.directions] != [f"{d.lower()}" for d in directions]:
        raise ValueError(f"study {study_name!r} in {_hidden(storage)} optimises "
                         f"{[d.name for d in study.directions]}, not {list(directions)}: use another --study-name")
    return study


def finished_trials(study: Any) -> int:
    """Trials of the study that completed or were pruned (failed and running ones do not count)."""
    optuna = require_optuna()
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return len(study.get_trials(deepcopy=False, states=states))


def describe_trials(study: Any) -> str:
    """``"5 trials (3 complete, 1 pruned, 1 failed)"``: the study's trials by state."""
    counts: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name.lower()] = counts.get(t.state.name.lower(), 0) + 1
    total = sum(counts.values())
    parts = ", ".join(f"{n} {state}" for state, n in counts.items())
    return f"{total} trial{'s' if total != 1 else ''}" + (f" ({parts})" if parts else "")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def fail_stale_trials(study: Any) -> list[int]:
    """Mark failed the running trials whose worker is gone; returns their numbers.

    A worker on this machine is gone when its process is (known at once, from the ``worker`` it
    recorded); one elsewhere when its heartbeat stopped for longer than the grace period (optuna's
    heartbeat). A running trial with no worker and no heartbeat older than the grace period is failed too."""
    optuna = require_optuna()
    running = optuna.trial.TrialState.RUNNING
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        before = {t.number for t in study.get_trials(deepcopy=False, states=(running,))}
        optuna.storages.fail_stale_trials(study)
    host, old = socket.gethostname(), datetime.now() - timedelta(seconds=GRACE_S)
    failed = sorted(before - {t.number for t in study.get_trials(deepcopy=False, states=(running,))})
    for t in study.get_trials(deepcopy=False, states=(running,)):
        worker = str(t.user_attrs.get("worker", ""))
        name, _, pid = worker.rpartition(":")
        dead = (name == host and pid.isdigit() and not _pid_alive(int(pid))) if worker \
            else (t.datetime_start is not None and t.datetime_start < old)
        if not dead:
            continue
        with contextlib.suppress(ValueError, RuntimeError, optuna.exceptions.UpdateFinishedTrialError):
            study._storage.set_trial_user_attr(t._trial_id, "fail_reason",
                                               f"its worker {worker or '(unknown)'} ended without finishing it")
            study._storage.set_trial_user_attr(t._trial_id, "cut", True)
            study.tell(t.number, state=optuna.trial.TrialState.FAIL)
            failed.append(t.number)
    return sorted(failed)


def announce_resume(study: Any, storage: str, say: Callable[[str], None]) -> None:
    """Say that a study with trials is resumed (how many, in which states), and fail dead workers' trials."""
    if not study.get_trials(deepcopy=False):
        return
    say(f"resuming study {study.study_name} in {_hidden(storage)}: found {describe_trials(study)}")
    stale = fail_stale_trials(study)
    if stale:
        say(f"marked failed: trial{'s' if len(stale) > 1 else ''} {', '.join(map(str, stale))}, left running by "
            f"a worker that ended")


def _trial_seed(seed: int, study_name: str, number: int) -> int:
    digest = hashlib.sha256(f"{seed}\0{study_name}\0{number}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def seed_per_trial(sampler: Any, seed: int, study_name: str) -> Any:
    """Seed ``sampler``'s random generators afresh before every trial from (seed, study, trial number).

    A sampler seeded once per process draws the same first samples in every process that starts with
    that seed: a resumed search or a second worker would re-run the first worker's architectures.
    Trial numbers are unique within a study, so each trial gets its own draws, and a fresh search with
    one worker is still repeated exactly by the same seed. Works for optuna's TPE, NSGA-II, random and
    grid samplers (their ``_rng`` generators); another sampler is reseeded from the system's entropy."""
    try:  # where optuna keeps its samplers' generators (not public API: a fallback follows)
        from optuna.samplers._lazy_random_state import LazyRandomState
    except ImportError:  # pragma: no cover (another optuna)
        LazyRandomState = None  # noqa: N806

    inner = sampler.before_trial

    def before_trial(study: Any, trial: Any) -> None:
        value = _trial_seed(seed, study_name, trial.number)
        rngs = [getattr(s, "_rng", None) for s in (sampler, getattr(sampler, "_random_sampler", None))]
        rngs = [r for r in rngs if LazyRandomState is not None and isinstance(r, LazyRandomState)]
        for r in rngs:
            r.rng.seed(value)
        if not rngs:
            sampler.reseed_rng()
        inner(study, trial)

    sampler.before_trial = before_trial
    return sampler


def recorded(objective: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``objective`` that records its worker (``host:pid``) first, and why it failed (``fail_reason``; and
    ``cut`` when it was stopped from outside: Ctrl-C or the time limit)."""
    optuna = require_optuna()

    def run(trial: Any) -> Any:
        trial.set_user_attr("worker", worker_name())
        try:
            return objective(trial)
        except optuna.TrialPruned:
            raise
        except KeyboardInterrupt:
            trial.set_user_attr("fail_reason", "interrupted (Ctrl-C)")
            trial.set_user_attr("cut", True)
            raise
        except TimeLimit as err:
            trial.set_user_attr("fail_reason", str(err))
            trial.set_user_attr("cut", True)
            raise
        except Exception as err:
            trial.set_user_attr("fail_reason", str(err).splitlines()[0] if str(err) else type(err).__name__)
            raise

    return run


class TrialProgress:
    """A per-trial progress bar (steps of the proxy training), shown below the study's bar; ``deadline``
    (if given) is checked after every step."""

    def __init__(self, enabled: bool, label: str, deadline: Deadline | None = None) -> None:
        self.enabled, self.label, self.bar, self.deadline = enabled, label, None, deadline

    def __call__(self, step: int, total: int) -> None:
        if self.deadline is not None:
            self.deadline.check()
        if not self.enabled:
            return
        if self.bar is None:
            self.bar = tqdm(total=total, desc=self.label, position=1, leave=False, file=sys.stderr,
                            dynamic_ncols=True)
        self.bar.update(step - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


@dataclass
class StudyRun:
    """How :func:`run_study` ended: the study's finished trials, and whether the time limit or Ctrl-C
    stopped it."""

    finished: int
    timed_out: bool = False
    interrupted: bool = False


def run_study(study: Any, objective: Callable[[Any], Any], trials: int | None, deadline: Deadline,
              csv_path: str | Path, progress: bool = True, describe_best: Callable[[Any], str] | None = None,
              catch: tuple[type[Exception], ...] = (), exhausted: Callable[[Any], bool] | None = None,
              log: Callable[[str], None] | None = None) -> StudyRun:
    """Run trials until the study holds ``trials`` finished ones (``None``: until the deadline, or until
    ``exhausted(study)``, e.g. a finished grid), the deadline passes, or Ctrl-C.

    Before each trial, dead workers' trials are failed, and a trial starts only while the finished and
    running trials are fewer than ``trials`` (a full study waits for the others' running trials). A
    trial raising one of ``catch`` fails and the search goes on (with ``log`` told why), unless
    :data:`CONSECUTIVE_FAILURES` of this worker's trials fail in a row. The CSV at ``csv_path`` is
    rewritten after every trial."""
    optuna = require_optuna()
    states = optuna.trial.TrialState
    bar = tqdm(total=trials, initial=finished_trials(study), desc=f"study {study.study_name}", position=0,
               file=sys.stderr, disable=not progress, dynamic_ncols=True)
    failures: list[str] = []

    def after_trial(study: Any, trial: Any) -> None:
        write_csv(csv_path, trial_rows(study))
        if trial.state == states.FAIL:
            failures.append(str(trial.user_attrs.get("fail_reason", "failed")))
            if log is not None:
                log(f"trial {trial.number} failed: {failures[-1]}")
        else:
            failures.clear()
        bar.n = finished_trials(study)
        if describe_best is not None:
            with contextlib.suppress(ValueError):  # no completed trial yet
                bar.set_postfix_str(describe_best(study), refresh=False)
        bar.refresh()

    run = StudyRun(finished_trials(study))
    try:
        while True:
            fail_stale_trials(study)
            finished = finished_trials(study)
            if trials is not None and finished >= trials:
                break
            if exhausted is not None and exhausted(study):
                break
            if deadline.passed():
                run.timed_out = True
                break
            running = len(study.get_trials(deepcopy=False, states=(states.RUNNING,)))
            if trials is not None and finished + running >= trials:
                time.sleep(min(1.0, max(0.0, deadline.left())))  # the other workers' trials fill the study
                continue
            try:
                study.optimize(objective, n_trials=1, catch=catch, callbacks=[after_trial], gc_after_trial=True)
            except TimeLimit:
                run.timed_out = True
                break
            if len(failures) >= CONSECUTIVE_FAILURES:
                raise RuntimeError(f"{len(failures)} trials failed in a row (the last: {failures[-1]}); "
                                   f"check the settings")
    except KeyboardInterrupt:
        run.interrupted = True
    finally:
        bar.close()
    write_csv(csv_path, trial_rows(study))
    run.finished = finished_trials(study)
    return run
