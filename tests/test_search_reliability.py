"""Issue 22, parts 7–10 for the searches: a resumed or second worker samples new architectures, a dead
worker's trial is failed on resume, ``--trials`` counts the study's finished trials, every setting and the
storage are checked before anything is written, a diverging candidate fails its trial, the time limit
covers the compared models, Ctrl-C writes the report so far, and latency is deploy's robust statistic."""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import torch

from cnnzoo.cli import main
from cnnzoo.search import ArchSearch, Deployment, ProxyTask, ScalingSearch, search_arch
from cnnzoo.search.latency import latency_stats, model_latency
from cnnzoo.search.study import Deadline, TimeLimit, fail_stale_trials, open_study
from tests._util import needs_fmnist
from tests.test_search import TINY_ARCH, TINY_DEPLOY, TINY_SPACE, TINY_TASK

optuna = pytest.importorskip("optuna")

PARAMS = [f"s{i}_{k}" for i in range(3) for k in ("block", "kernel", "expansion", "se")]


def _cfg(tmp_path: Path, **kw) -> ArchSearch:
    return ArchSearch(**{**dict(space=TINY_SPACE, target_latency_ms=1.0, deploy=TINY_DEPLOY, trials=2,
                                out=str(tmp_path / "out"), progress=False), **kw})


def _study(cfg: ArchSearch):
    return optuna.load_study(study_name=cfg.study_name, storage=cfg.storage)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# -- part 7: searches do not repeat themselves ------------------------------------------------------------
@needs_fmnist
def test_a_resumed_search_samples_new_architectures_and_counts_finished_trials(tmp_path):
    lines: list[str] = []
    search_arch(_cfg(tmp_path), TINY_TASK)
    r = search_arch(_cfg(tmp_path, trials=4), TINY_TASK, log=lines.append)  # 2 finished: runs 2 more
    trials = _study(_cfg(tmp_path)).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4 and r["finished"] == 4
    first, second = [tuple(t.params[k] for k in PARAMS) for t in trials[:2]], \
        [tuple(t.params[k] for k in PARAMS) for t in trials[2:]]
    assert not set(first) & set(second), "the resumed search re-ran the first run's architectures"
    assert lines[0].startswith("resuming study arch-tiny-latency in sqlite:///") and \
        lines[0].endswith("found 2 trials (2 complete)")
    # the study holds 4 finished trials: asking for 4 runs nothing more
    assert search_arch(_cfg(tmp_path, trials=4), TINY_TASK)["finished"] == 4 and len(_study(_cfg(tmp_path)).trials) == 4
    # a fresh study with the same seed repeats the first run exactly
    search_arch(_cfg(tmp_path, out=str(tmp_path / "again")), TINY_TASK)
    again = _study(_cfg(tmp_path, out=str(tmp_path / "again"))).trials
    assert [tuple(t.params[k] for k in PARAMS) for t in again] == first


@needs_fmnist
@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_a_trial_left_running_by_a_dead_worker_is_failed_on_resume(tmp_path):
    cfg = _cfg(tmp_path, trials=1)
    study = open_study(cfg.storage, cfg.study_name, ["maximize"])
    dead = study.ask()  # a worker of this machine that was killed mid-trial
    dead.set_user_attr("worker", f"{socket.gethostname()}:{_dead_pid()}")
    old = optuna.trial.FrozenTrial(number=0, state=optuna.trial.TrialState.RUNNING, value=None,
                                   datetime_start=datetime.now() - timedelta(hours=1), datetime_complete=None,
                                   params={}, distributions={}, user_attrs={}, system_attrs={},
                                   intermediate_values={}, trial_id=0)
    study.add_trial(old)  # no worker, no heartbeat, started an hour ago
    alive = study.ask()
    alive.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")  # this process: alive
    assert fail_stale_trials(study) == [0, 1]
    states = {t.number: t.state.name for t in study.trials}
    assert states == {0: "FAIL", 1: "FAIL", 2: "RUNNING"}
    assert "ended without finishing it" in study.trials[0].user_attrs["fail_reason"]
    study.tell(alive, state=optuna.trial.TrialState.FAIL)  # the living worker ends it

    # the same on resume through search_arch, which says so
    dead2 = study.ask()
    dead2.set_user_attr("worker", f"{socket.gethostname()}:{_dead_pid()}")
    lines: list[str] = []
    r = search_arch(_cfg(tmp_path, trials=1), TINY_TASK, log=lines.append)
    assert r["finished"] == 1
    assert lines == ["resuming study arch-tiny-latency in " + cfg.storage + ": found 4 trials (3 fail, 1 running)",
                     "marked failed: trial 3, left running by a worker that ended"]
    assert [t.state.name for t in _study(cfg).trials] == ["FAIL"] * 4 + ["COMPLETE"]


@needs_fmnist
def test_a_non_finite_proxy_loss_fails_the_trial(tmp_path, monkeypatch):
    import cnnzoo.search.proxy as proxy

    calls = {"n": 0}
    real = proxy.F.cross_entropy

    def loss(*args, **kwargs):
        calls["n"] += 1
        out = real(*args, **kwargs)
        return out * float("nan") if calls["n"] == 1 else out  # the first trial diverges at its first step

    monkeypatch.setattr(proxy.F, "cross_entropy", loss)
    lines: list[str] = []
    r = search_arch(_cfg(tmp_path), TINY_TASK, log=lines.append)
    trials = _study(_cfg(tmp_path)).trials
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE", "COMPLETE"] and r["finished"] == 2
    assert trials[0].user_attrs["fail_reason"] == "the proxy loss is nan at step 1 of 2"
    assert lines == ["trial 0 failed: the proxy loss is nan at step 1 of 2"]
    with open(tmp_path / "out" / "trials.csv") as f:
        assert next(csv.DictReader(f))["fail_reason"] == "the proxy loss is nan at step 1 of 2"
    # every candidate diverging is a setting's fault: the worker stops with one line
    monkeypatch.setattr(proxy.F, "cross_entropy", lambda *a, **k: real(*a, **k) * float("inf"))
    with pytest.raises(RuntimeError, match=r"^5 trials failed in a row \(the last: the proxy loss is (nan|inf) "):
        search_arch(_cfg(tmp_path, trials=3), TINY_TASK)


SEARCH = ["search", "arch", "--space", "mnasnet", "--width", "0.125", "--img-size", "32", "--repeats", "1",
          "--train-images", "64", "--test-images", "32", "--budget", "1", "--batch-size", "32", "--evals", "1",
          "--trials", "1", "--no-progress"]


@pytest.mark.parametrize("args, message", [
    (["--target-latency", "inf"], "argument --target-latency: expected a finite positive number, got inf"),
    (["--target-latency", "5", "--timeout", "nan"], "argument --timeout: expected a finite positive number"),
    (["--target-latency", "5", "--proxy-size", "1"],
     "error: proxy size 1 is too small for the mnasnet space: it needs at least 32"),
    (["--target-latency", "5", "--img-size", "8"],
     "error: deployment size 8 is too small for the mnasnet space: it needs at least 32"),
    (["--target-latency", "5", "--width", "1e6"], "error: width must be a number in (0, 4], got 1000000.0"),
    (["--target-latency", "5", "--seed", "-1"], "error: seed must be an integer from 0 to 4294967295, got -1"),
    (["--target-latency", "5", "--img-size", "100000"],
     "error: deployment img_size must be an integer from 1 to 2048, got 100000"),
    (["--target-latency", "5", "--proxy-size", "100000"], "error: proxy img_size must be at most 512, got 100000"),
    (["--target-latency", "5", "--compare", "alexnet"], "error: proxy size 32 is too small for alexnet: it needs "
                                                        "at least 63"),
    (["--target-latency", "5", "--evals", "1000000000"], "error: proxy evals must be at most 100, got 1000000000"),
    (["--target-latency", "5", "--repeats", "100000000"],
     "error: latency repeats must be an integer from 1 to 10000, got 100000000"),
    ([], "error: the latency objective needs a target latency (--target-latency MS)"),
])
def test_every_setting_is_checked_before_anything_is_written(args, message, tmp_path, capsys):
    out = tmp_path / "out" / "sub"
    try:
        rc = main(SEARCH + args + ["--out", str(out)])
    except SystemExit as stop:  # argparse
        rc = stop.code
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and message in err[-1] and "Traceback" not in "\n".join(err)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, message", [
    (["--base", "mbconv", "--arch", "BAD"], "stage row 0, field 'kernel': expected an odd integer in [1, 31], got 4"),
    (["--base", "efficientnet_b0", "--arch", "BAD"], "arch is the stage table of base mbconv; efficientnet_b0 takes "
                                                     "none"),
    (["--base", "mbconv", "--step", "1e-6"], "step must be in [0.01, 1], got 1e-06"),
    (["--base", "mbconv", "--tolerance", "inf"], "tolerance must be in [0, 1], got inf"),
    (["--base", "mbconv", "--step", "0.01", "--tolerance", "1"], "has 103,738 candidates, more than 10,000"),
])
def test_scaling_settings_are_checked_before_anything_is_written(args, message, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages:\n  - {block: mbconv, repeats: 1, out_chs: 16, kernel: 4, stride: 1}\n")
    argv = ["search", "scaling", *[str(bad) if a == "BAD" else a for a in args], "--img-size", "32",
            "--no-progress", "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cnnzoo search: error: ") and message in err[0]
    assert not (tmp_path / "out").exists()


def _read_only(path: Path) -> bool:
    """Make ``path`` read-only even for root (the immutable flag); False where that is not possible."""
    path.chmod(0o444)
    if not os.access(path, os.W_OK):
        return True
    return subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0


def test_storage_errors_are_one_line_naming_the_path(tmp_path, capsys):
    (tmp_path / "adir").mkdir()
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(bytes(range(256)) * 8)
    ro = tmp_path / "ro.db"
    open_study(f"sqlite:///{ro}", "s", ["maximize"])
    cases = [(tmp_path / "adir", "is a directory"), (garbage, "is not an SQLite database"),
             (tmp_path / "garbage.db" / "x.db", "is a file, not a directory")]
    protected = _read_only(ro)
    if protected:
        cases.append((ro, "is read-only"))
    try:
        for path, message in cases:
            out = tmp_path / "out"
            rc = main(SEARCH + ["--target-latency", "5", "--storage", f"sqlite:///{path}", "--out", str(out)])
            err = capsys.readouterr().err.strip().splitlines()
            assert rc == 2 and len(err) == 1 and err[0].startswith("cnnzoo search: error: "), err
            assert str(path) in err[0] and message in err[0] and not out.exists()
    finally:
        subprocess.run(["chattr", "-i", str(ro)], capture_output=True)
    if not protected:
        pytest.skip("no way to make a file read-only here (root without chattr)")


def test_an_output_path_under_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "f").write_text("")
    assert main(SEARCH + ["--target-latency", "5", "--out", str(tmp_path / "f" / "out")]) == 2
    assert capsys.readouterr().err.strip() == f"cnnzoo search: error: output directory {tmp_path}/f/out: " \
        f"{tmp_path}/f is a file, not a directory"


def test_a_storage_failing_after_start_leaves_no_empty_output_directory(tmp_path, monkeypatch):
    import sqlalchemy.exc

    import cnnzoo.search.study as study_mod

    def locked(optuna, url, attempts=5):
        raise sqlalchemy.exc.OperationalError("BEGIN", {}, Exception("database is locked"))

    monkeypatch.setattr(study_mod, "_storage", locked)
    out = tmp_path / "a" / "out"
    with pytest.raises(RuntimeError, match=r"^study database sqlite:///.*study.db: database is locked$"):
        search_arch(_cfg(tmp_path, out=str(out)), TINY_TASK)
    assert not (tmp_path / "a").exists()


# -- part 10: time limit, resume message, Ctrl-C, latency, efficientnet_v2 ------------------------------------
class _StepBudget(Deadline):
    """A time limit spent by ``steps`` training steps: a step beyond them is cut (no clock: deterministic)."""

    def __init__(self, steps: int) -> None:
        super().__init__(60.0)
        self.steps, self.taken = steps, 0

    def left(self) -> float:
        return 60.0 if self.taken < self.steps else 0.0

    def check(self, *_) -> None:
        self.taken += 1
        if self.taken > self.steps:
            raise TimeLimit("the time limit (1 min) was reached")


@needs_fmnist
def test_the_time_limit_covers_the_compared_models(tmp_path, monkeypatch):
    import cnnzoo.search.arch as arch

    monkeypatch.setattr(arch, "Deadline", lambda seconds: _StepBudget(2))  # one trial's 2 steps
    lines: list[str] = []
    r = search_arch(_cfg(tmp_path, trials=None, timeout_min=1.0, compare=("mobilenet_v3_small", "mnasnet_a1")),
                    TINY_TASK, log=lines.append)
    assert r["timed_out"] and r["finished"] == 1 and r["compared"] == []
    assert r["skipped"] == ["mobilenet_v3_small: not trained, the time limit was reached",
                            "mnasnet_a1: not trained, the time limit was reached"]
    assert lines == [f"not compared: {line}" for line in r["skipped"]]
    report = (tmp_path / "out" / "report.md").read_text()
    assert "stopped at its time limit (1 min)" in report and "Not compared: mnasnet_a1: not trained" in report
    # a limit reached during a trial's training cuts it: the trial fails, saying why
    monkeypatch.setattr(arch, "Deadline", lambda seconds: _StepBudget(1))
    with pytest.raises(RuntimeError, match="no trial completed within the time limit"):
        search_arch(_cfg(tmp_path, trials=None, timeout_min=1.0, out=str(tmp_path / "cut")), TINY_TASK)
    cut = _study(_cfg(tmp_path, out=str(tmp_path / "cut"))).trials
    assert [t.state.name for t in cut] == ["FAIL"]
    assert cut[0].user_attrs["fail_reason"] == "the time limit (1 min) was reached"


@needs_fmnist
def test_ctrl_c_ends_with_one_line_and_the_report_of_finished_trials(tmp_path, monkeypatch, capsys):
    import cnnzoo.search.arch as arch

    real, calls = arch.train_candidate, {"n": 0}

    def interrupt_second(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(arch, "train_candidate", interrupt_second)
    out = tmp_path / "out"
    rc = main(SEARCH + ["--target-latency", "5", "--trials", "3", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 130 and err == [f"cnnzoo search: interrupted: 1 trial finished; {out}/best_arch.yaml and "
                                 f"{out}/report.md hold it; run the same command to resume"]
    assert (out / "best_arch.yaml").exists() and "interrupted (Ctrl-C)" in (out / "report.md").read_text()
    trials = optuna.load_study(study_name="arch-mnasnet-latency", storage=f"sqlite:///{out}/study.db").trials
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL"]
    assert trials[1].user_attrs["fail_reason"] == "interrupted (Ctrl-C)"


def test_latency_is_the_lower_quartile_of_interleaved_rounds(monkeypatch):
    import cnnzoo.search.latency as latency

    order, scripted = [], {"a": [[20.0, 21.0, 1074.0]] * 3, "b": [[5.0, 6.0, 7.0]] * 3}

    def measure(engine, x, warmup, repeats):
        key = engine.key
        order.append(key)
        return {"times_ms": scripted[key][(sum(k == key for k in order) - 1) % 3]}

    monkeypatch.setattr(latency, "measure_latency", measure)
    a, b = torch.nn.Identity(), torch.nn.Identity()
    a.key, b.key = "a", "b"
    stats = latency_stats({"a": a, "b": b}, img_size=8, repeats=3, rounds=3)
    assert order == ["a", "b", "b", "a", "a", "b"]  # round_order: neither always first
    # 9 calls of 20, 21, 1074: the lower quartile is 20 (the busy calls measure the neighbours), median 21
    assert stats["a"] == dict(latency_ms=20.0, median_ms=21.0, q3_ms=1074.0, calls=9)
    assert model_latency(a, img_size=8, repeats=3, rounds=1) == 20.5  # lower quartile of one round


def test_efficientnet_v2_needs_no_target_latency(tmp_path):
    cfg = ArchSearch(space="efficientnet_v2", target_latency_ms=None, trials=1, out=str(tmp_path))
    assert cfg.objective == "training"
    with pytest.raises(ValueError, match=r"latency objective needs a target latency \(--target-latency MS\)"):
        ArchSearch(space="efficientnet_v2", objective="latency", target_latency_ms=None, out=str(tmp_path))
    from cnnzoo.cli import build_parser

    args = build_parser().parse_args(["search", "arch", "--space", "efficientnet_v2"])
    assert args.target_latency is None


def test_settings_objects_reject_what_the_cli_rejects():
    with pytest.raises(ValueError, match="deployment batch must be an integer from 1 to 1024"):
        Deployment(batch=10 ** 6)
    with pytest.raises(ValueError, match="proxy lr must be a finite number > 0"):
        ProxyTask(lr=float("inf"))
    with pytest.raises(ValueError, match="timeout must be a finite number of minutes > 0"):
        ScalingSearch(base="mbconv", base_kwargs={"arch": TINY_ARCH}, timeout_min=float("inf"))
    with pytest.raises(ValueError, match="trials must be an integer from 1 to 1,000,000"):
        ArchSearch(trials=0)


@needs_fmnist
def test_a_grid_point_cut_by_ctrl_c_is_trained_on_resume(tmp_path, monkeypatch):
    import cnnzoo.search.scaling as scaling

    real, calls = scaling.train_candidate, {"n": 0}

    def interrupt_second(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    cfg = dict(base="mbconv", base_kwargs={"arch": TINY_ARCH}, step=0.5, tolerance=0.5, trials=2,
               deploy=TINY_DEPLOY, out=str(tmp_path), progress=False)
    monkeypatch.setattr(scaling, "train_candidate", interrupt_second)
    r = scaling.search_scaling(ScalingSearch(**cfg), TINY_TASK)
    assert r["interrupted"] and r["candidates"] == 1 and (tmp_path / "coefficients.json").exists()
    monkeypatch.setattr(scaling, "train_candidate", real)
    study = optuna.load_study(study_name=ScalingSearch(**cfg).study_name, storage=f"sqlite:///{tmp_path}/study.db")
    cut = study.trials[1]
    assert cut.state.name == "FAIL" and cut.user_attrs["cut"]
    lines: list[str] = []
    r = scaling.search_scaling(ScalingSearch(**cfg), TINY_TASK, log=lines.append)
    assert r["candidates"] == 2 and not r["interrupted"]
    assert lines[1] == f"queued again: ({cut.params['coefficients']}), cut before they finished"
    trials = study.trials
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "COMPLETE"]
    assert trials[2].params == cut.params  # the grid point that was cut, not a new one


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_a_full_study_starts_no_trial_while_other_workers_fill_it(tmp_path):
    """``trials`` counts the study's trials: with 1 finished and another worker's trial running, a study of
    2 starts nothing more (it waits for that trial, here until its time limit)."""
    from cnnzoo.search.study import run_study

    study = open_study(f"sqlite:///{tmp_path / 'db.sqlite'}", "s", ["maximize"])
    study.add_trial(optuna.trial.create_trial(value=1.0))
    other = study.ask()
    other.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")  # alive: this process
    run = run_study(study, lambda trial: 0.0, 2, Deadline(0.5), tmp_path / "t.csv", progress=False)
    assert run.timed_out and run.finished == 1 and len(study.trials) == 2
    study.tell(other, 2.0)
    assert run_study(study, lambda trial: 0.0, 2, Deadline(60), tmp_path / "t.csv", progress=False).finished == 2
    assert len(study.trials) == 2
    assert run_study(study, lambda trial: 0.0, 3, Deadline(60), tmp_path / "t.csv", progress=False).finished == 3


@pytest.mark.parametrize("make", [
    # the random phases (TPE's start-up trials, NSGA-II's first generation), where a sampler seeded once per
    # process would repeat itself: later, the model may return to a good point by choice
    lambda: optuna.samplers.TPESampler(seed=0, multivariate=True, n_startup_trials=20),
    lambda: optuna.samplers.NSGAIISampler(seed=0, population_size=20),
    lambda: optuna.samplers.RandomSampler(seed=0),
])
def test_every_worker_of_a_study_draws_new_samples(make):
    """Each worker (a new sampler with the same seed on the same storage) samples new points, while a
    fresh study with that seed repeats the first worker's: the draws follow (seed, study, trial number)."""
    from cnnzoo.search.space import sample_arch
    from cnnzoo.search.study import seed_per_trial

    multi = isinstance(make(), optuna.samplers.NSGAIISampler)

    def objective(trial):
        arch = sample_arch(trial, TINY_SPACE)
        return (float(len(str(arch))), 1.0) if multi else float(len(str(arch)))

    storages = {"a": optuna.storages.InMemoryStorage(), "b": optuna.storages.InMemoryStorage()}

    def worker(db: str, n: int) -> list[tuple]:
        study = optuna.create_study(storage=storages[db], study_name="s", load_if_exists=True,
                                    sampler=seed_per_trial(make(), 0, "s"),
                                    directions=["maximize", "minimize"] if multi else ["maximize"])
        study.optimize(objective, n_trials=n)
        return [tuple(sorted(t.params.items())) for t in study.trials]

    first = worker("a", 6)
    both = worker("a", 6)
    assert both[:6] == first and not set(both[6:]) & set(first)
    assert worker("b", 6) == first
