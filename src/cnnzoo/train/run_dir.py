"""The run directory of ``cnnzoo train``: claimed by one process at a time, checked before anything is written.

A run claims its directory with a lock file (:data:`LOCK_NAME`) created atomically (``O_CREAT | O_EXCL``)
that names the owner's pid, host and start time; a second run, or a ``--resume`` of a run that is still
training, is refused while that owner lives. A lock whose process has ended (a killed run) is taken over.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["LOCK_NAME", "RUN_FILES", "RunDirLock", "RunDirInUseError", "lock_owner", "check_in_use",
           "run_files", "check_new_run", "check_resumable"]

#: the lock file of a run directory while a run writes into it
LOCK_NAME = ".train.lock"

#: the files of a run other than config.yaml: a directory holding any of them holds a run's results
RUN_FILES = ("last.state.pt", "last.safetensors", "last_ema.safetensors", "best.safetensors", "metrics.csv",
             "report.json", "report.md")


class RunDirInUseError(RuntimeError):
    """The run directory is claimed by a process that is still running."""


def _proc_start(pid: int) -> int | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux ``/proc``), None where unknown: with
    the pid it tells a process from a later one that reuses its pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat[stat.rindex(")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _alive(owner: dict[str, Any]) -> bool:
    """Whether the process a lock names may still run: True for another host's process (it cannot be checked)."""
    pid = owner.get("pid")
    if owner.get("host") not in (None, socket.gethostname()):
        return True
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    except OSError:
        return False
    recorded, now = owner.get("proc_start"), _proc_start(pid)
    return not (isinstance(recorded, int) and now is not None and now != recorded)


def _read_lock(path: Path) -> dict[str, Any] | None:
    try:
        text = path.read_text(errors="replace").strip()
    except (FileNotFoundError, NotADirectoryError):  # no lock; or a file where a directory is expected
        return None
    except OSError:
        return {}
    try:
        owner = json.loads(text) if text else {}
    except ValueError:
        return {}
    if isinstance(owner, int) and not isinstance(owner, bool):
        return {"pid": owner}
    return owner if isinstance(owner, dict) else {}


def lock_owner(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """What the lock file of ``run_dir`` says (``pid``, ``host``, ``started``), ``{}`` for a lock that names no
    owner (being written, or damaged), None when there is no lock. A file holding just a pid is accepted."""
    return _read_lock(Path(run_dir) / LOCK_NAME)


def _in_use_message(run_dir: Path, owner: dict[str, Any]) -> str:
    if not owner.get("pid"):
        return (f"run dir {run_dir} is in use: its lock {run_dir / LOCK_NAME} names no process; if no cnnzoo train "
                f"runs there, delete that file; else choose another --name or wait")
    started = f" (started {owner['started']})" if isinstance(owner.get("started"), str) else ""
    host = owner.get("host")
    if isinstance(host, str) and host != socket.gethostname():  # its process cannot be checked from here
        return (f"run dir {run_dir} is in use by pid {owner['pid']} on {host}{started}; choose another --name or "
                f"wait (if that run is no longer running, delete {run_dir / LOCK_NAME})")
    return f"run dir {run_dir} is in use by pid {owner['pid']}{started}; choose another --name or wait"


def check_in_use(run_dir: str | os.PathLike) -> None:
    """Raise :class:`RunDirInUseError` when a live process holds ``run_dir``'s lock (creates nothing)."""
    run_dir = Path(run_dir)
    owner = lock_owner(run_dir)
    if owner is not None and (not owner or _alive(owner)):
        raise RunDirInUseError(_in_use_message(run_dir, owner))


class RunDirLock:
    """The claim of one run directory by this process: ``acquire()`` creates the directory if needed and the lock
    file atomically, taking over a lock whose process has ended (``log`` says so); ``release()`` removes it.
    ``created_dirs`` are the directories this claim made (the run directory and missing parents, deepest first);
    :meth:`remove_created_dirs` removes those that are empty again."""

    def __init__(self, run_dir: str | os.PathLike, log: Callable[[str], Any] | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self.created_dirs: list[Path] = []
        self._held = False
        self._log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        owner = dict(pid=os.getpid(), host=socket.gethostname(), started=time.strftime("%Y-%m-%d %H:%M:%S"),
                     proc_start=_proc_start(os.getpid()), argv=sys.argv[:20])
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(owner))
            f.flush()
            os.fsync(f.fileno())
        return True

    def acquire(self) -> RunDirLock:
        """Claim the directory, or raise :class:`RunDirInUseError` naming the live owner."""
        missing = [d for d in (self.run_dir, *self.run_dir.parents) if not d.exists()]
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise ValueError(f"{self.run_dir}: a file is in the way of the run directory; choose another --name "
                             f"or --out-dir") from None
        self.created_dirs = missing
        for _ in range(3):
            if self._create():
                self._held = True
                return self
            owner = lock_owner(self.run_dir)
            if owner is None:  # released meanwhile
                continue
            if not owner or _alive(owner):
                raise RunDirInUseError(_in_use_message(self.run_dir, owner))
            # a stale lock: move it aside under a name of our own, so that of two runs taking it over at
            # once only one removes it (the other finds it gone, and then finds the winner's lock)
            aside = self.path.with_name(f"{LOCK_NAME}.stale.{os.getpid()}")
            try:
                os.rename(self.path, aside)
            except FileNotFoundError:
                continue
            if _read_lock(aside) != owner:  # a live run's fresh lock got moved: put it back, refuse
                os.replace(aside, self.path)
                raise RunDirInUseError(_in_use_message(self.run_dir, lock_owner(self.run_dir) or {}))
            aside.unlink(missing_ok=True)
            started = f", started {owner['started']}" if isinstance(owner.get("started"), str) else ""
            self._log(f"cnnzoo: warning: taking over run dir {self.run_dir} from pid {owner.get('pid')}"
                      f"{started}, which is no longer running")
        raise RunDirInUseError(_in_use_message(self.run_dir, lock_owner(self.run_dir) or {}))

    def release(self) -> None:
        """Remove the lock if this process holds it (idempotent)."""
        if not self._held:
            return
        self._held = False
        owner = lock_owner(self.run_dir)
        if owner and owner.get("pid") == os.getpid():
            self.path.unlink(missing_ok=True)

    def remove_created_dirs(self) -> None:
        """Remove the directories this claim made that are empty again (never one that holds a file)."""
        for d in self.created_dirs:
            try:
                d.rmdir()
            except OSError:
                break

    def __enter__(self) -> RunDirLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def run_files(run_dir: str | os.PathLike) -> list[str]:
    """The :data:`RUN_FILES` that ``run_dir`` holds."""
    run_dir = Path(run_dir)
    return [name for name in RUN_FILES if (run_dir / name).exists()]


def check_new_run(run_dir: str | os.PathLike) -> None:
    """A new (not resumed) run never writes over another run's results: ``ValueError`` when ``run_dir`` holds any."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"{run_dir}: a file is in the way of the run directory; choose another --name or --out-dir")
    found = run_files(run_dir)
    if "last.state.pt" in found:
        raise ValueError(f"{run_dir} already holds a run; use --resume to continue it or choose another --name")
    if found:
        raise ValueError(f"{run_dir} already holds a run's results ({', '.join(found)}); a new run never writes over "
                         f"them: choose another --name, or remove the directory")


def check_resumable(run_dir: str | os.PathLike) -> bool:
    """Whether ``run_dir`` has a resume state (``last.state.pt``). Without one, a run that wrote results is refused
    (``ValueError`` saying what was found): resuming would train from scratch over its checkpoints; a run that
    completed no epoch (``config.yaml`` only) starts from the beginning (False)."""
    run_dir = Path(run_dir)
    found = run_files(run_dir)
    if "last.state.pt" in found:
        return True
    if found:
        what = "a finished run's" if "report.json" in found else "a run's"
        what += " weights" if any(name.endswith(".safetensors") for name in found) else " results"
        raise ValueError(f"cannot resume {run_dir}: it holds {what} ({', '.join(found)}) but no resume state "
                         f"(last.state.pt), so it cannot continue; they are left as they are: train a new run "
                         f"with another --name")
    return False
