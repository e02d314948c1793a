"""Running an optuna study that can be watched, stopped, resumed and shared.

The study lives in optuna's RDB storage (SQLite by default): every finished trial is committed there,
so a process killed at any moment (SIGKILL included) loses at most the trial it was running, and
``load_if_exists`` resumes it; several processes (or machines sharing one database) given the same
storage and study name search together. ``trials`` is the number of finished trials the *study* should
hold, not the number this process runs, so a resumed or second worker continues to the same total.
Progress: one bar for the study (with the best value so far) and one per trial (its training steps);
after each trial every trial of the study is written to a CSV, atomically.
"""

from __future__ import annotations

import contextlib
import random
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from cnnzoo.search._deps import require_optuna
from cnnzoo.search.report import trial_rows
from cnnzoo.train.report import write_csv

__all__ = ["open_study", "finished_trials", "run_study", "TrialProgress"]

#: a worker that stops beating for this long has its running trial marked failed by the next worker
HEARTBEAT_S, GRACE_S = 10, 30


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
    """Create the study in ``storage`` (an RDB URL such as ``sqlite:///study.db``) or load it if it exists."""
    optuna = require_optuna()
    if "://" not in storage:
        raise ValueError(f"storage must be a database URL such as sqlite:///study.db, got {storage!r}")
    if storage.startswith("sqlite:///"):
        Path(storage[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    rdb = _storage(optuna, storage)
    study = optuna.create_study(storage=rdb, study_name=study_name, directions=list(directions), sampler=sampler,
                                pruner=pruner, load_if_exists=True)
    if [d.name.lower() for d in study.directions] != [f"{d.lower()}" for d in directions]:
        raise ValueError(f"study {study_name!r} in {storage} optimises {[d.name for d in study.directions]}, "
                         f"not {list(directions)}: use another --study-name")
    return study


def finished_trials(study: Any) -> int:
    """Trials of the study that completed or were pruned (failed and running ones do not count)."""
    optuna = require_optuna()
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return len(study.get_trials(deepcopy=False, states=states))


class TrialProgress:
    """A per-trial progress bar (steps of the proxy training), shown below the study's bar."""

    def __init__(self, enabled: bool, label: str) -> None:
        self.enabled, self.label, self.bar = enabled, label, None

    def __call__(self, step: int, total: int) -> None:
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


def run_study(study: Any, objective: Callable[[Any], Any], trials: int | None, timeout_s: float | None,
              csv_path: str | Path, progress: bool = True, describe_best: Callable[[Any], str] | None = None,
              extra_rows: Callable[[], list[dict[str, Any]]] | None = None) -> int:
    """Run trials until the study holds ``trials`` finished ones (``None``: until ``timeout_s``, or
    until the sampler has nothing left, e.g. a finished grid), or ``timeout_s`` passes.

    Returns the number of finished trials. The CSV at ``csv_path`` is rewritten after every trial."""
    optuna = require_optuna()
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    done = finished_trials(study)
    if trials is not None and done >= trials:
        write_csv(csv_path, trial_rows(study))
        return done
    bar = tqdm(total=trials, initial=done, desc=f"study {study.study_name}", position=0, file=sys.stderr,
               disable=not progress, dynamic_ncols=True)

    def after_trial(study: Any, trial: Any) -> None:
        write_csv(csv_path, trial_rows(study))
        bar.n = finished_trials(study)
        if describe_best is not None:
            with contextlib.suppress(ValueError):  # no completed trial yet
                bar.set_postfix_str(describe_best(study), refresh=False)
        bar.refresh()

    callbacks = [after_trial]
    if trials is not None:
        callbacks.append(optuna.study.MaxTrialsCallback(trials, states=states))
    try:
        study.optimize(objective, n_trials=None, timeout=timeout_s, callbacks=callbacks, gc_after_trial=True)
    finally:
        bar.close()
    write_csv(csv_path, trial_rows(study))
    return finished_trials(study)
