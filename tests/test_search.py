"""Issue 16: stage-table YAML (the ``mbconv`` model), the search formulas, tiny searches of each kind end to
end, and a study shared by two worker processes, killed with SIGKILL and resumed from its database."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

import cnnzoo
from cnnzoo.models.mbconv import ZOO_ARCHS, dump_arch, parse_arch, zoo_arch
from cnnzoo.search import (
    ArchSearch,
    Deployment,
    ProxyTask,
    ScalingSearch,
    SearchSpace,
    coefficient_grid,
    flops_ratio,
    load_proxy_data,
    mnasnet_reward,
    model_latency,
    pareto_front,
    search_arch,
    search_scaling,
    seeded_build,
    train_proxy,
    training_aware_reward,
)
from cnnzoo.train import TrainConfig, train
from tests._util import needs_fmnist

pytest.importorskip("optuna")

TINY_ARCH = {"stem_chs": 8, "head_chs": 32, "act": "relu", "stages": [
    {"block": "fused", "repeats": 1, "out_chs": 8, "kernel": 3, "stride": 2, "expansion": 4},
    ["mbconv", 1, 16, 3, 2, 4, 0.25],  # a row may be a list in Stage order
    {"block": "mbconv", "repeats": 2, "out_chs": 16, "kernel": 5, "stride": 2, "expansion": 1},
]}
TINY_SPACE = SearchSpace("tiny", ((8, 1, 2), (16, 1, 2), (16, 1, 2)), blocks=("mbconv", "fused"),
                         expansions=(1.0, 4.0), repeat_deltas=(0,), widths=(1.0,), stem_chs=8, head_chs=32)
TINY_TASK = ProxyTask(img_size=32, train_images=64, test_images=32, max_steps=2, batch_size=32, evals=1)
TINY_DEPLOY = Deployment(img_size=32, repeats=2)
SRC = str(Path(cnnzoo.__file__).resolve().parents[1])


# -- formulas ------------------------------------------------------------------------------------------
def test_reward_formulas_against_hand_computed_values():
    # MnasNet Eq. 2 with the soft constraint alpha = beta = -0.07: 2^-0.07 = 0.952638, 0.5^-0.07 = 1.049717
    assert mnasnet_reward(80.0, 10.0, 5.0) == pytest.approx(76.2110, abs=1e-3)
    assert mnasnet_reward(80.0, 2.5, 5.0) == pytest.approx(83.9774, abs=1e-3)
    assert mnasnet_reward(80.0, 5.0, 5.0) == pytest.approx(80.0)
    # the hard constraint of the paper's comparison (alpha = 0, beta = -1): halves the reward at 2x the target
    assert mnasnet_reward(80.0, 10.0, 5.0, alpha=0.0, beta=-1.0) == pytest.approx(40.0)
    assert mnasnet_reward(80.0, 2.5, 5.0, alpha=0.0, beta=-1.0) == pytest.approx(80.0)
    # EfficientNetV2: A * S^-0.07 * P^-0.05 with S = 2, P = 2 -> 80 * 2^-0.12 = 80 * 0.920188 = 73.6150
    assert training_aware_reward(80.0, 200.0, 4e6, step_time_ref=100.0, params_ref=2e6) == \
        pytest.approx(73.6150, abs=1e-3)
    with pytest.raises(ValueError, match="> 0"):
        mnasnet_reward(80.0, 0.0, 5.0)
    assert pareto_front([(90, 5.0), (80, 6.0), (85, 3.0), (95, 9.0)]) == [2, 0, 3]


def test_coefficient_grid_keeps_the_constraint(tmp_path):
    grid = coefficient_grid(0.05, 0.1)
    assert grid and all(min(c) >= 1 and abs(flops_ratio(*c) - 2) <= 0.1 + 1e-9 for c in grid)
    assert (1.2, 1.1, 1.15) in grid  # 1.2 * 1.1^2 * 1.15^2 = 1.9203
    assert (1.2, 1.1, 1.15) not in coefficient_grid(0.05, 0.05)
    assert flops_ratio(1.2, 1.1, 1.15) == pytest.approx(1.92027, abs=1e-5)
    assert sorted(coefficient_grid(0.5, 0.5)) == [(1.0, 1.0, 1.5), (1.0, 1.5, 1.0), (1.5, 1.0, 1.0), (2.0, 1.0, 1.0),
                                                  (2.5, 1.0, 1.0)]  # 2.25, 2.25, 1.5, 2, 2.5
    with pytest.raises(ValueError, match="finer step"):
        coefficient_grid(0.3, 0.01)  # 1.9, 2.197, …: none within 0.01 of 2
    # the file a scaling search writes drives scale_model
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"alpha": 1.3, "beta": 1.05, "gamma": 1.2}))
    m = cnnzoo.scale_model("mbconv", phi=1, coefficients=path, arch=TINY_ARCH, device="meta")
    assert (m.model_info.scaling["alpha"], m.model_info.scaling["gamma"]) == (1.3, 1.2)
    assert m.model_info.scaling["depth_mult"] == pytest.approx(1.3) and m.resolution == round(224 * 1.2)
    path.write_text(json.dumps({"alpha": 0.9, "beta": 1.05, "gamma": 1.2}))
    with pytest.raises(ValueError, match="alpha must be a number >= 1"):
        cnnzoo.scale_model("mbconv", phi=1, coefficients=path)


def test_missing_optuna_names_the_extra(monkeypatch):
    from cnnzoo.optional import require_optuna

    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna now raises ImportError
    with pytest.raises(RuntimeError, match=r"pip install 'cnnzoo\[search\]'"):
        require_optuna()


def test_latency_on_torch_and_through_deploy():
    model = cnnzoo.create_model("mbconv", arch=TINY_ARCH, num_classes=10, in_chans=1)
    assert model_latency(model, "torch", img_size=32, repeats=2) > 0
    with pytest.raises(ValueError, match="runtime must be one of torch, onnxruntime, openvino"):
        model_latency(model, "tflite", img_size=32)
    # onnxruntime goes through cnnzoo.inference.deploy; without the deploy extra, one message naming it
    assert model_latency(model, "onnxruntime", img_size=32, repeats=2) > 0


def test_latency_without_the_deploy_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino now raises ImportError
    model = cnnzoo.create_model("mbconv", arch=TINY_ARCH, num_classes=10, in_chans=1)
    with pytest.raises(RuntimeError, match=r"pip install 'cnnzoo\[deploy\]'"):
        model_latency(model, "openvino", img_size=32)


# -- the stage-table YAML -----------------------------------------------------------------------------------
def test_zoo_searched_models_as_yaml_rebuild_exactly():
    for name in ZOO_ARCHS:
        arch = yaml.safe_load(dump_arch(zoo_arch(name)))
        built = cnnzoo.create_model("mbconv", arch=arch, device="meta")
        assert cnnzoo.count_params(built) == cnnzoo.count_params(cnnzoo.create_model(name, device="meta")), name
    assert cnnzoo.model_info("efficientnet_b0").params == 5_288_548 == \
        cnnzoo.count_params(cnnzoo.create_model("mbconv", arch=zoo_arch("efficientnet_b0"), device="meta"))


@pytest.mark.parametrize("rows, message", [
    ([{"block": "mbconv", "repeats": 1, "out_chs": 16, "kernel": 4, "stride": 1}],
     r"stage row 0, field 'kernel': expected an odd integer in \[1, 31\], got 4"),
    ([["mbconv", 1, 16, 3, 1], {"block": "conv", "repeats": 1, "out_chs": 8, "kernel": 3, "stride": 1}],
     r"stage row 1, field 'block': expected one of mbconv, fused, got 'conv'"),
    ([{"block": "mbconv", "repeats": 1, "out_chs": 16, "kernel": 3}], r"stage row 0: missing field\(s\) stride"),
    ([{"block": "mbconv", "repeats": 1, "out_chs": 16, "kernel": 3, "stride": 3}],
     r"stage row 0, field 'stride': expected 1 or 2, got 3"),
    ([{"block": "mbconv", "repeats": 1, "out_chs": 16, "kernel": 3, "stride": 1, "se": 0.25}],
     r"stage row 0: unknown field\(s\) 'se'"),
    ([{"block": "mbconv", "repeats": 0, "out_chs": 16, "kernel": 3, "stride": 1}],
     r"field 'repeats': expected an integer in \[1, 100\], got 0"),
    ([{"block": "mbconv", "repeats": 1, "out_chs": 16, "kernel": 3, "stride": 1, "act": "gelu6"}],
     r"field 'act': expected an activation name"),
    ([], r"'stages' must be a non-empty list"),
])
def test_yaml_errors_name_the_row_and_field(rows, message, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"stages": rows}))
    with pytest.raises(ValueError, match=message):
        cnnzoo.create_model("mbconv", arch=path, device="meta")


def test_yaml_file_and_option_errors(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("stages: [ {block: mbconv\n")
    with pytest.raises(ValueError, match="is not a valid YAML file"):
        parse_arch(path)
    with pytest.raises(FileNotFoundError, match="no such stage-table YAML"):
        parse_arch(tmp_path / "nope.yaml")
    with pytest.raises(ValueError, match=r"unknown key\(s\) 'stem'"):
        parse_arch(dict(TINY_ARCH, stem=8))
    with pytest.raises(ValueError, match="option 'se_from': expected 'in'"):
        parse_arch(dict(TINY_ARCH, se_from="out"))
    with pytest.raises(ValueError, match="arch: a stage-table YAML is read by --model mbconv only"):
        TrainConfig(model="resnet8", arch=str(path)).validate()


@needs_fmnist
def test_found_arch_builds_trains_saves_and_reloads_without_the_file(tmp_path):
    arch_file = tmp_path / "found.yaml"
    arch_file.write_text(dump_arch(TINY_ARCH))
    model = cnnzoo.create_model("mbconv", arch=str(arch_file), num_classes=10, in_chans=1)
    assert model.model_args["arch"] == parse_arch(TINY_ARCH)  # the table itself, not the path
    x = torch.randn(2, 1, 32, 32)
    assert model.forward_head(model.forward_features(x), pre_logits=True).shape == (2, 32)
    model.reset_classifier(3)
    assert model(x).shape == (2, 3)
    feats = cnnzoo.create_model("mbconv", arch=arch_file, in_chans=1, features_only=True)(x)
    assert [f.shape[1] for f in feats] == [8, 8, 16, 16] and feats[-1].shape[-1] == 2
    assert cnnzoo.count_params(cnnzoo.scale_model("mbconv", phi=3, arch=arch_file, device="meta")) > \
        cnnzoo.count_params(cnnzoo.create_model("mbconv", arch=arch_file, device="meta"))

    report = train(TrainConfig(model="mbconv", arch=str(arch_file), epochs=1, train_subset=64, test_subset=32,
                               batch_size=32, img_size=32, out_dir=str(tmp_path), name="run", progress=False))
    assert report["history"][-1]["epoch"] == 1
    arch_file.unlink()
    reloaded = cnnzoo.load_checkpoint(tmp_path / "run" / "best.safetensors")
    assert reloaded.model_args["arch"] == parse_arch(TINY_ARCH) and reloaded.num_classes == 10
    again = cnnzoo.load_checkpoint(tmp_path / "run" / "best.safetensors")
    x1 = torch.randn(2, 1, 32, 32)
    assert torch.equal(reloaded(x1), again(x1))


# -- searches end to end ---------------------------------------------------------------------------------
@needs_fmnist
def test_tiny_arch_search_latency_objective_with_comparison(tmp_path):
    cfg = ArchSearch(space=TINY_SPACE, target_latency_ms=1.0, deploy=TINY_DEPLOY, trials=2, out=str(tmp_path),
                     compare=("mobilenet_v3_small",), progress=False)
    r = search_arch(cfg, TINY_TASK)
    assert r["finished"] == 2 and cfg.storage == f"sqlite:///{tmp_path / 'study.db'}"
    with open(tmp_path / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(row["number"]) for row in rows] == [0, 1]
    done = [row for row in rows if row["state"] == "COMPLETE"]
    best = max(done, key=lambda row: float(row["value"]))
    assert r["best_trial"] == int(best["number"])
    reward = mnasnet_reward(float(best["accuracy"]), float(best["latency_ms"]), 1.0)
    assert float(best["value"]) == pytest.approx(reward)
    found = cnnzoo.create_model("mbconv", arch=tmp_path / "best_arch.yaml", num_classes=10, in_chans=1)
    assert cnnzoo.count_params(found) == int(best["params"])
    report = (tmp_path / "report.md").read_text()
    assert "mobilenet_v3_small" in report and "Pareto" in report and (tmp_path / "pareto.png").stat().st_size > 0
    assert r["compared"][0]["label"] == "mobilenet_v3_small" and 0 <= r["compared"][0]["accuracy"] <= 100
    # latency: the lower quartile of the pooled calls, their median and upper quartile shown as the spread
    c = r["compared"][0]
    assert c["latency_ms"] <= c["latency_median_ms"] <= c["latency_q3_ms"] and "median / q3 ms" in report


@needs_fmnist
def test_a_trial_below_the_pruner_stops_after_its_first_evaluation(tmp_path):
    """The objective reports MnasNet's reward at each intermediate evaluation; a pruner that says stop ends
    the trial there (state PRUNED, the accuracy reached recorded, no more training)."""
    import optuna

    from cnnzoo.search.arch import _objective
    from cnnzoo.search.proxy import load_proxy_data

    class StopEverything(optuna.pruners.BasePruner):
        def prune(self, study, trial):
            return True

    task = ProxyTask(img_size=32, train_images=64, test_images=32, max_steps=4, batch_size=16, evals=2)
    cfg = ArchSearch(space=TINY_SPACE, target_latency_ms=1.0, deploy=TINY_DEPLOY, trials=1, out=str(tmp_path),
                     progress=False)
    study = optuna.create_study(direction="maximize", pruner=StopEverything(),
                                sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(_objective(cfg, load_proxy_data(task), task), n_trials=1)
    t = study.trials[0]
    assert t.state == optuna.trial.TrialState.PRUNED
    assert list(t.intermediate_values) == [0]  # evaluated after step 2 of 4, then stopped
    acc, lat = t.user_attrs["accuracy"], t.user_attrs["latency_ms"]
    assert t.intermediate_values[0] == pytest.approx(mnasnet_reward(acc, lat, 1.0))
    assert "step_time_ms" not in t.user_attrs  # training never finished


@needs_fmnist
def test_tiny_arch_search_training_aware_multi_objective(tmp_path):
    cfg = ArchSearch(space=TINY_SPACE, target_latency_ms=1.0, objective="training", multi_objective=True,
                     deploy=TINY_DEPLOY, trials=2, out=str(tmp_path), progress=False)
    r = search_arch(cfg, TINY_TASK)
    assert r["finished"] == 2
    assert r["reward"] == pytest.approx(training_aware_reward(r["accuracy"], r["step_time_ms"], r["params"] / 1e6))
    parse_arch(tmp_path / "best_arch.yaml")


@needs_fmnist
def test_tiny_scaling_search_writes_coefficients_scale_model_reads(tmp_path):
    cfg = ScalingSearch(base="mbconv", base_kwargs={"arch": TINY_ARCH}, step=0.5, tolerance=0.5, trials=2,
                        deploy=TINY_DEPLOY, out=str(tmp_path), progress=False)
    r = search_scaling(cfg, TINY_TASK)
    assert r["candidates"] == 2 and r["grid"] == 5
    saved = json.loads((tmp_path / "coefficients.json").read_text())
    assert (saved["alpha"], saved["beta"], saved["gamma"]) in coefficient_grid(0.5, 0.5)
    m = cnnzoo.scale_model("mbconv", phi=1, coefficients=tmp_path / "coefficients.json", arch=TINY_ARCH, device="meta")
    assert m.model_info.scaling["alpha"] == saved["alpha"] and m.model_info.scaling["gamma"] == saved["gamma"]
    assert "α·β²·γ²" in (tmp_path / "report.md").read_text()
    # the chosen candidate trained again from its seeded weights scores what the grid recorded
    a, b, g = saved["alpha"], saved["beta"], saved["gamma"]
    again = seeded_build(TINY_TASK, lambda: cnnzoo.scale_model("mbconv", 1.0, a, b, g, num_classes=10, in_chans=1,
                                                               arch=TINY_ARCH))
    size = max(round(TINY_TASK.img_size * g), again.min_size)
    assert train_proxy(again, load_proxy_data(TINY_TASK), TINY_TASK, size).accuracy == saved["proxy_accuracy"]


def test_a_candidate_starts_from_the_same_weights_in_every_trial():
    build = lambda: cnnzoo.create_model("mbconv", arch=TINY_ARCH, num_classes=10, in_chans=1)  # noqa: E731
    state = torch.get_rng_state()
    first = seeded_build(TINY_TASK, build)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's generator is left as it was
    torch.rand(7)
    second = seeded_build(TINY_TASK, build)
    assert all(torch.equal(x, y) for x, y in zip(first.state_dict().values(), second.state_dict().values(),
                                                  strict=True))
    other = seeded_build(ProxyTask(seed=1), build)
    assert not torch.equal(other.state_dict()["features.0.0.weight"], first.state_dict()["features.0.0.weight"])


def _finished(db: Path) -> list[tuple[int, str]]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db, timeout=30) as con:
            return con.execute("SELECT number, state FROM trials ORDER BY number").fetchall()
    except sqlite3.OperationalError:  # tables not created yet
        return []


def _workers(db: Path) -> set[str]:
    """The processes that finished trials of the study (each trial records its worker)."""
    try:
        with sqlite3.connect(db, timeout=30) as con:
            return {v for (v,) in con.execute(
                "SELECT a.value_json FROM trial_user_attributes a JOIN trials t ON a.trial_id = t.trial_id "
                "WHERE a.key = 'worker' AND t.state IN ('COMPLETE', 'PRUNED')")}
    except sqlite3.OperationalError:
        return set()


def _running_of(db: Path, worker: str) -> bool:
    """Whether ``worker`` is in the middle of a trial."""
    try:
        with sqlite3.connect(db, timeout=30) as con:
            return any(v == json.dumps(worker) for (v,) in con.execute(
                "SELECT a.value_json FROM trial_user_attributes a JOIN trials t ON a.trial_id = t.trial_id "
                "WHERE a.key = 'worker' AND t.state = 'RUNNING'"))
    except sqlite3.OperationalError:
        return False


@needs_fmnist
def test_two_workers_share_a_study_then_sigkill_and_resume(tmp_path):
    """A worker process and this process search one SQLite study at the same time; the worker is killed
    with SIGKILL mid-trial; the study resumes from the database with every finished trial kept."""
    import socket

    db = tmp_path / "study.db"
    storage = f"sqlite:///{db}"
    cmd = [sys.executable, "-m", "cnnzoo", "search", "arch", "--space", "mnasnet", "--target-latency", "1",
           "--width", "0.125", "--img-size", "32", "--repeats", "2", "--train-images", "64", "--test-images", "32",
           "--budget", "2", "--batch-size", "32", "--evals", "1", "--trials", "200", "--storage", storage,
           "--study-name", "shared", "--no-progress", "--out", str(tmp_path / "w"), "--seed", "1"]
    worker = subprocess.Popen(cmd, env=dict(os.environ, PYTHONPATH=SRC, OMP_NUM_THREADS="1"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    name = f"{socket.gethostname()}:{worker.pid}"

    def wait_for(condition, what: str) -> None:
        deadline = time.time() + 120
        while not condition():
            if worker.poll() is not None:
                pytest.fail(f"the worker exited ({worker.returncode}): {worker.stderr.read().decode()[-3000:]}")
            if time.time() > deadline:
                pytest.fail(f"no {what} in 120 s")
            time.sleep(0.1)

    cfg = dict(space="mnasnet", target_latency_ms=1.0, width=0.125, deploy=TINY_DEPLOY, storage=storage,
               study_name="shared", progress=False)
    try:
        wait_for(lambda: _workers(db), "finished trial of the worker")
        # this process joins the study while the worker keeps searching (room for 3 more, so that the
        # worker cannot fill the study while this process starts)
        first = search_arch(ArchSearch(**cfg, trials=len(_finished(db)) + 4, out=str(tmp_path / "here")), TINY_TASK)
        assert len(_workers(db)) == 2, "both processes finished trials of the one study"
        wait_for(lambda: _running_of(db, name), "trial running in the worker")
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    trials = _finished(db)
    finished = sum(s in ("COMPLETE", "PRUNED") for _, s in trials)
    assert finished >= first["finished"] and any(s == "RUNNING" for _, s in trials)  # killed mid-trial
    # resume (same storage and name): the finished trials are kept; one more brings the study to the total
    lines: list[str] = []
    r = search_arch(ArchSearch(**cfg, trials=finished + 1, out=str(tmp_path / "resumed")), TINY_TASK, log=lines.append)
    assert r["finished"] == finished + 1
    states = [s for _, s in _finished(db)]
    assert sum(s in ("COMPLETE", "PRUNED") for s in states) == finished + 1
    # the killed worker's trial is marked failed at once (its process is gone), and the resume says so
    assert "RUNNING" not in states and lines[0].startswith("resuming study shared in ")
    assert lines[1].startswith("marked failed: trial") and lines[1].endswith("left running by a worker that ended")
    with open(tmp_path / "resumed" / "trials.csv") as f:
        assert len(list(csv.DictReader(f))) == len(states)


def test_the_search_times_on_the_runtimes_deploy_knows():
    from cnnzoo.inference import RUNTIMES
    from cnnzoo.search import latency

    assert latency.RUNTIMES is RUNTIMES  # one definition
