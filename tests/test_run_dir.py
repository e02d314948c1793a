"""The run directory of ``cnnzoo train``: one run at a time, nothing written over, nothing left by a failed start,
a checked config.yaml on resume, and Ctrl-C that says what was saved and how to resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from cnnzoo.cli import main
from cnnzoo.train import TrainConfig, train
from cnnzoo.train import engine as engine_mod
from cnnzoo.train.engine import RunInterrupted
from cnnzoo.train.run_dir import LOCK_NAME, RunDirInUseError, RunDirLock, lock_owner
from tests._util import needs_fmnist

SRC = str(Path(__file__).resolve().parents[1] / "src")

# LeNet-5 on 100 Fashion-MNIST images: a run of a second or two
TINY = dict(model="lenet5", img_size=28, epochs=1, batch_size=50, train_subset=100, test_subset=50, progress=False,
            num_threads=1, device="cpu")
TINY_ARGS = ["--model", "lenet5", "--config", "none", "--img-size", "28", "--batch-size", "50", "--train-subset",
             "100", "--test-subset", "50", "--num-threads", "1", "--no-progress", "--device", "cpu"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    return env


def _write_lock(run_dir: Path, pid: int) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / LOCK_NAME).write_text(json.dumps({"pid": pid, "started": "2026-01-01 00:00:00"}))


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _bad_folder(root: Path) -> Path:
    """An image folder whose files are not images: found and scanned, it fails on the first batch."""
    for split in ("train", "val"):
        for cls in ("a", "b"):
            (root / split / cls).mkdir(parents=True)
            for i in range(3):
                (root / split / cls / f"{i}.png").write_bytes(b"not an image")
    return root


def _files(run_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}


# ------------------------------------------------------------------------------ one run per directory

@pytest.fixture
def sleeper():
    proc = subprocess.Popen(["sleep", "30"])
    yield proc
    proc.kill()
    proc.wait()


@needs_fmnist
def test_a_live_lock_refuses_a_second_run_and_a_resume(tmp_path, sleeper, capsys):
    run_dir = tmp_path / "r"
    train(TrainConfig(**TINY, out_dir=str(tmp_path), name="r"))
    assert not (run_dir / LOCK_NAME).exists()  # released at the end
    assert "data held in memory" in capsys.readouterr().out
    before = _files(run_dir)
    _write_lock(run_dir, sleeper.pid)
    with pytest.raises(RunDirInUseError, match=rf"run dir .*r is in use by pid {sleeper.pid} \(started 2026-01-01"):
        train(TrainConfig(**dict(TINY, epochs=2), out_dir=str(tmp_path), name="r"), resume=True)
    assert main(["train", "--resume", str(run_dir), "--epochs", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"is in use by pid {sleeper.pid}" in err and "choose another --name or wait" in err
    before[LOCK_NAME] = (run_dir / LOCK_NAME).read_bytes()
    assert _files(run_dir) == before  # nothing written, the owner's lock kept
    # a new run into a directory a live run has just claimed (nothing in it yet) is refused the same way
    fresh = tmp_path / "fresh"
    _write_lock(fresh, os.getpid())  # this very process: alive
    assert main(["train", *TINY_ARGS, "--epochs", "1", "--out-dir", str(tmp_path), "--name", "fresh"]) == 2
    assert f"is in use by pid {os.getpid()}" in capsys.readouterr().err
    assert [p.name for p in fresh.iterdir()] == [LOCK_NAME]


@needs_fmnist
def test_a_dead_owners_lock_is_taken_over(tmp_path, capsys):
    run_dir = tmp_path / "r"
    train(TrainConfig(**TINY, out_dir=str(tmp_path), name="r"))
    dead = _dead_pid()
    _write_lock(run_dir, dead)
    report = train(TrainConfig(**dict(TINY, epochs=2), out_dir=str(tmp_path), name="r"), resume=True)
    assert len(report["history"]) == 2
    err = capsys.readouterr().err
    assert f"taking over run dir {run_dir} from pid {dead}" in err and "no longer running" in err
    assert not (run_dir / LOCK_NAME).exists()


def test_the_lock_is_atomic_and_names_its_owner(tmp_path):
    with RunDirLock(tmp_path / "a" / "r") as lock:
        owner = lock_owner(tmp_path / "a" / "r")
        assert owner["pid"] == os.getpid() and lock.created_dirs == [tmp_path / "a" / "r", tmp_path / "a"]
        with pytest.raises(RunDirInUseError, match=f"in use by pid {os.getpid()}"):
            RunDirLock(tmp_path / "a" / "r").acquire()
    assert lock_owner(tmp_path / "a" / "r") is None
    (tmp_path / "c").mkdir()  # another machine's run (a shared disk): its process cannot be checked
    (tmp_path / "c" / LOCK_NAME).write_text(json.dumps({"pid": _dead_pid(), "host": "elsewhere-1"}))
    with pytest.raises(RunDirInUseError, match=r"in use by pid \d+ on elsewhere-1; .*no longer running, delete"):
        RunDirLock(tmp_path / "c").acquire()
    if Path("/proc/self/stat").is_file():  # a pid reused by a later process (another start time) is no owner
        (tmp_path / "d").mkdir()
        (tmp_path / "d" / LOCK_NAME).write_text(json.dumps({"pid": os.getpid(), "proc_start": -1}))
        logged = []
        with RunDirLock(tmp_path / "d", log=logged.append):
            assert lock_owner(tmp_path / "d")["proc_start"] != -1
        assert f"taking over run dir {tmp_path / 'd'} from pid {os.getpid()}" in logged[0]
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / LOCK_NAME).write_text("")  # a lock that names nobody: refused, saying what to do
    with pytest.raises(RunDirInUseError, match="names no process; if no cnnzoo train runs there, delete that file"):
        RunDirLock(tmp_path / "b").acquire()


# ------------------------------------------------------------------------------ nothing written over

@needs_fmnist
def test_resume_without_a_state_refuses_and_keeps_the_weights(tmp_path, capsys):
    run_dir = tmp_path / "r"
    train(TrainConfig(**TINY, out_dir=str(tmp_path), name="r"))
    (run_dir / "last.state.pt").unlink()
    before = _files(run_dir)
    assert main(["train", "--resume", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert "cannot resume" in err and "a finished run's weights" in err and "best.safetensors" in err
    assert "no resume state (last.state.pt)" in err
    # nor does a new run of the same name write over them
    assert main(["train", *TINY_ARGS, "--epochs", "1", "--out-dir", str(tmp_path), "--name", "r"]) == 2
    assert "already holds a run's results" in capsys.readouterr().err
    assert _files(run_dir) == before


# ------------------------------------------------------------------------------ nothing left by a failed start

def test_a_run_failing_before_its_first_checkpoint_leaves_nothing(tmp_path, capsys):
    data = _bad_folder(tmp_path / "data")
    out = tmp_path / "runs"
    args = ["train", "--model", "lenet5", "--config", "none", "--data", str(data), "--data-cache", "none",
            "--workers", "0", "--strict-data", "true", "--epochs", "1", "--batch-size", "2", "--no-progress",
            "--device", "cpu", "--num-threads", "1", "--out-dir", str(out), "--name", "x"]
    assert main(args) == 2
    cap = capsys.readouterr()
    assert "cannot decode image" in cap.err and "data streamed" in cap.out
    assert not out.exists()  # neither the run directory nor the runs/ this run created
    # a run that completed no epoch, resumed: its config.yaml is given back as it was when the resume fails
    out.mkdir()
    saved = yaml.safe_dump(TrainConfig(model="lenet5", data=str(data), data_cache="none", workers=0,
                                       strict_data=True, epochs=1, batch_size=2, progress=False, device="cpu",
                                       num_threads=1, out_dir=str(out), name="y").to_dict(), sort_keys=False)
    (out / "y").mkdir()
    (out / "y" / "config.yaml").write_text(saved)
    assert main(["train", "--resume", str(out / "y"), "--epochs", "3"]) == 2
    assert "cannot decode image" in capsys.readouterr().err
    assert sorted(p.name for p in (out / "y").iterdir()) == ["config.yaml"]
    assert (out / "y" / "config.yaml").read_text() == saved


# ------------------------------------------------------------------------------ config.yaml on resume

@pytest.mark.parametrize("content, expected", [
    ("epochs: 3\nSECRET line: a: b\n", "is not a valid YAML file (error at line 2, column"),
    ("- SECRET\n- list\n", "expected the config.yaml that cnnzoo train writes (a mapping of settings), got a list"),
    ("SECRET\n", "got a string"),
    ("epochs: SECRET\n", "epochs: expected an integer >= 1, got a string"),
    ("epochs: 0\n", "epochs: expected an integer >= 1, got 0"),
    ("model_kwargs: [SECRET]\n", "model_kwargs: expected a mapping, got a list"),
    ("model: lenet5\nSECRET_key: 1\n", "unknown setting 'SECRET_key'"),
    ("model: lenet5\n'SECRET value with spaces': 1\n", "unknown setting a key; expected"),
    ("", "got nothing"),
])
def test_a_malformed_config_on_resume_is_one_line_without_its_content(tmp_path, capsys, content, expected):
    (tmp_path / "r").mkdir()
    path = tmp_path / "r" / "config.yaml"
    path.write_text(content)
    assert main(["train", "--resume", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"cnnzoo train: error: {path}") and expected in err
    assert "SECRET line" not in err and "SECRET value" not in err and "- SECRET" not in err
    assert "SECRET" not in err.replace("SECRET_key", "")


# ------------------------------------------------------------------------------ Ctrl-C

@needs_fmnist
def test_ctrl_c_says_what_was_saved_and_how_to_resume(tmp_path, monkeypatch):
    real = engine_mod.train_one_epoch
    calls = []

    def interrupted_at(n):
        def step(*args, **kwargs):
            calls.append(1)
            if len(calls) == n:
                raise KeyboardInterrupt
            return real(*args, **kwargs)
        return step

    monkeypatch.setattr(engine_mod, "train_one_epoch", interrupted_at(1))
    run_dir = tmp_path / "r"
    with pytest.raises(RunInterrupted) as err:
        train(TrainConfig(**dict(TINY, epochs=3), out_dir=str(tmp_path), name="r"))
    assert str(err.value) == ("cnnzoo train: interrupted; nothing saved yet (no epoch completed); start it again "
                              f"with: cnnzoo train --resume {run_dir}")
    assert sorted(p.name for p in run_dir.iterdir()) == ["config.yaml"]  # what the resume command needs
    calls.clear()
    monkeypatch.setattr(engine_mod, "train_one_epoch", interrupted_at(3))
    with pytest.raises(RunInterrupted) as err:
        train(TrainConfig(**dict(TINY, epochs=3), out_dir=str(tmp_path), name="r"), resume=True)
    assert str(err.value) == (f"cnnzoo train: interrupted; saved {run_dir / 'last.state.pt'} at epoch 2 of 3; "
                              f"resume with: cnnzoo train --resume {run_dir}")
    assert torch.load(run_dir / "last.state.pt", weights_only=True)["epoch"] == 2
    assert not (run_dir / LOCK_NAME).exists()


@needs_fmnist
@pytest.mark.slow
def test_sigint_to_a_training_process_ends_with_one_line(tmp_path):
    run_dir = tmp_path / "r"
    proc = subprocess.Popen([sys.executable, "-m", "cnnzoo", "train", *TINY_ARGS, "--epochs", "100000",
                             "--out-dir", str(tmp_path), "--name", "r"],
                            env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        while proc.poll() is None and not (run_dir / "last.state.pt").is_file():
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and err.count("\n") == 1, err
    epoch = torch.load(run_dir / "last.state.pt", weights_only=True)["epoch"]
    assert err == (f"cnnzoo train: interrupted; saved {run_dir / 'last.state.pt'} at epoch {epoch} of 100000; "
                   f"resume with: cnnzoo train --resume {run_dir}\n")
    assert not (run_dir / LOCK_NAME).exists()


def test_a_run_saved_with_more_workers_than_this_machine_allows_resumes_with_the_default(tmp_path):
    """``workers`` is a setting of the machine, not of the run: a config.yaml written on a larger machine
    resumes here with this machine's default, and says so, instead of refusing the run."""
    from cnnzoo.train.config import MAX_WORKERS, load_run_config

    saved = tmp_path / "config.yaml"
    saved.write_text(f"model: lenet5\nepochs: 3\nworkers: {MAX_WORKERS + 1}\n")
    with pytest.warns(UserWarning, match=f"workers {MAX_WORKERS + 1} is more than this machine allows"):
        cfg = load_run_config(saved)
    assert cfg.workers is None and cfg.epochs == 3
    saved.write_text("model: lenet5\nworkers: -1\n")
    with pytest.raises(ValueError, match="workers: expected"):
        load_run_config(saved)


def test_an_out_dir_that_is_a_file_is_one_line_naming_it(tmp_path, capsys):
    """A file given where the runs' directory is expected is said as such (not as a run directory in use)."""
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a directory\n")
    assert main(["train", "--model", "lenet5", "--epochs", "1", "--out-dir", str(a_file), "--name", "r"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a file where a directory is expected" in err and str(a_file) in err, err
    assert "in use" not in err and a_file.read_text() == "not a directory\n"
