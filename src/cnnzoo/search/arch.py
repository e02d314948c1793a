"""Platform- and training-aware architecture search (MnasNet; EfficientNetV2 §3.3) with optuna.

Each trial samples one architecture of a factorized hierarchical space (:mod:`cnnzoo.search.space`),
measures its latency at the deployment resolution on the chosen runtime, trains it on the proxy task
and returns its reward:

* ``objective="latency"`` — MnasNet Eq. 2: ACC × (LAT/T)^−0.07;
* ``objective="training"`` — EfficientNetV2: A · S^−0.07 · P^−0.05 (S: training-step time in ms,
  P: parameters in millions; the references only scale the reward, they do not change the ranking).

TPE samples the single reward and a median pruner stops trials whose intermediate reward (accuracy at
each evaluation point, times the latency or cost factor already known) falls below the median;
``multi_objective=True`` instead lets NSGA-II keep the Pareto front of (accuracy ↑, latency or step
time ↓) without pruning (optuna does not prune multi-objective studies).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnzoo.factory import create_model
from cnnzoo.files import write_text
from cnnzoo.models.mbconv import dump_arch
from cnnzoo.optional import require_optuna
from cnnzoo.registry import model_info
from cnnzoo.search.candidate import Deployment, Measured, measure_cost, measure_costs, train_candidate
from cnnzoo.search.latency import check_runtime
from cnnzoo.search.objectives import mnasnet_reward, pareto_front, training_aware_reward
from cnnzoo.search.proxy import NonFiniteLoss, ProxyData, ProxyTask, load_proxy_data, seeded_build
from cnnzoo.search.report import latency_spread, plot_points, write_report
from cnnzoo.search.space import SPACES, SearchSpace, sample_arch, space_min_size
from cnnzoo.search.study import (
    Deadline,
    TimeLimit,
    TrialProgress,
    announce_resume,
    check_out_dir,
    check_search_settings,
    check_storage,
    created_paths,
    open_study,
    recorded,
    run_study,
    seed_per_trial,
    storage_errors,
)

__all__ = ["ArchSearch", "search_arch", "compare_models", "arch_reward", "MAX_WIDTH"]

OBJECTIVES = ("latency", "training")
#: the largest width multiplier of a search (the spaces' widest networks ×4: 6,400 channels before the head)
MAX_WIDTH = 4.0


def _finite_positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < math.inf


@dataclass
class ArchSearch:
    """Settings of an architecture search (``cnnzoo search arch``)."""

    space: str | SearchSpace = "mnasnet"  # a name of SPACES, or a SearchSpace
    target_latency_ms: float | None = 10.0  # T of the latency objective (the training objective needs none)
    objective: str | None = None  # default: "latency" for mnasnet, "training" for efficientnet_v2
    deploy: Deployment = field(default_factory=Deployment)
    trials: int | None = 20
    timeout_min: float | None = None
    storage: str | None = None  # default: sqlite:///<out>/study.db
    study_name: str | None = None
    seed: int = 0
    width: float = 1.0
    multi_objective: bool = False
    out: str = "runs/search/arch"
    compare: tuple[str, ...] = ()
    progress: bool = True

    @property
    def space_name(self) -> str:
        return self.space.name if isinstance(self.space, SearchSpace) else self.space

    def __post_init__(self) -> None:
        if not isinstance(self.space, SearchSpace) and self.space not in SPACES:
            raise ValueError(f"space must be one of {', '.join(SPACES)}, got {self.space!r}")
        if self.objective is None:
            self.objective = "training" if self.space_name == "efficientnet_v2" else "latency"
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}")
        if self.target_latency_ms is None and self.objective == "latency":
            raise ValueError("the latency objective needs a target latency (--target-latency MS)")
        if self.target_latency_ms is not None and not _finite_positive(self.target_latency_ms):
            raise ValueError(f"target latency must be a finite number of ms > 0, got {self.target_latency_ms!r}")
        check_search_settings(self.trials, self.timeout_min, self.seed)
        if self.trials is None and self.timeout_min is None:
            raise ValueError("give a number of trials, a timeout, or both")
        if not (_finite_positive(self.width) and self.width <= MAX_WIDTH):
            raise ValueError(f"width must be a number in (0, {MAX_WIDTH:g}], got {self.width!r}")
        for name in self.compare:  # an unknown name fails now, not after the search
            model_info(name)
        self.study_name = self.study_name or f"arch-{self.space_name}-{self.objective}"
        self.storage = self.storage or f"sqlite:///{Path(self.out) / 'study.db'}"


def arch_reward(cfg: ArchSearch, m: Measured, accuracy: float | None = None) -> float:
    """The single-objective reward of ``m`` (with ``accuracy`` instead of ``m.accuracy`` if given)."""
    acc = m.accuracy if accuracy is None else accuracy
    if cfg.objective == "latency":
        assert cfg.target_latency_ms is not None  # checked by ArchSearch
        return mnasnet_reward(acc, m.latency_ms, cfg.target_latency_ms)
    return training_aware_reward(acc, m.step_time_ms if m.step_time_ms == m.step_time_ms else 1.0,
                                 m.params / 1e6)


def _values(cfg: ArchSearch, m: Measured) -> Any:
    if not cfg.multi_objective:
        return arch_reward(cfg, m)
    return m.accuracy, (m.latency_ms if cfg.objective == "latency" else m.step_time_ms)


def _directions(cfg: ArchSearch) -> list[str]:
    return ["maximize", "minimize"] if cfg.multi_objective else ["maximize"]


def _objective(cfg: ArchSearch, data: ProxyData, task: ProxyTask, deadline: Deadline | None = None
               ):  # noqa: ANN202
    optuna = require_optuna()

    @recorded
    def objective(trial: Any) -> Any:
        arch = sample_arch(trial, cfg.space, cfg.width)
        trial.set_user_attr("arch", arch)
        model = seeded_build(task, lambda: create_model("mbconv", arch=arch, num_classes=data.num_classes,
                                                        in_chans=data.in_chans))
        m = measure_cost(model, cfg.deploy)
        for k, v in m.as_dict().items():
            if v == v:  # not NaN
                trial.set_user_attr(k, v)

        def report(k: int, acc: float) -> None:
            if cfg.multi_objective:
                return
            # before training ends the step time is not final; the latency objective's factor is known
            trial.report(arch_reward(cfg, m, acc) if cfg.objective == "latency" else acc, k)
            if trial.should_prune():
                trial.set_user_attr("accuracy", acc)
                raise optuna.TrialPruned(f"intermediate accuracy {acc:.2f} % below the median")

        bar = TrialProgress(cfg.progress, f"trial {trial.number}", deadline)
        try:
            train_candidate(model, m, data, task, report=report, progress=bar)
        finally:
            bar.close()
        for k in ("accuracy", "step_time_ms", "train_s"):
            trial.set_user_attr(k, getattr(m, k))
        trial.set_user_attr("reward", arch_reward(cfg, m))
        return _values(cfg, m)

    return objective


def _best_trial(study: Any, cfg: ArchSearch) -> Any:
    if not cfg.multi_objective:
        return study.best_trial
    # of the Pareto-optimal trials, the one with the best single-objective reward
    return max(study.best_trials, key=lambda t: t.user_attrs.get("reward", float("-inf")))


def compare_models(names: tuple[str, ...], data: ProxyData, task: ProxyTask, deploy: Deployment,
                   progress: bool = True, deadline: Deadline | None = None,
                   skipped: list[str] | None = None) -> list[dict[str, Any]]:
    """The zoo's models trained with the same proxy budget and measured on the same runtime (their
    latencies in interleaved rounds).

    Within ``deadline``: a model not started, or cut, when the time is spent is left out, and so is one
    whose proxy loss diverged; ``skipped`` (if given) gets a line for each."""
    rows = []
    if deadline is not None and deadline.passed():
        if skipped is not None:
            skipped += [f"{n}: not trained, the time limit was reached" for n in names]
        return rows
    models = {n: seeded_build(task, lambda n=n: create_model(n, num_classes=data.num_classes, in_chans=data.in_chans))
              for n in names}
    costs = measure_costs(models, deploy)
    for i, name in enumerate(names):
        if deadline is not None and deadline.passed():
            if skipped is not None:
                skipped += [f"{n}: not trained, the time limit was reached" for n in names[i:]]
            break
        model, m = models[name], costs[name]
        bar = TrialProgress(progress, name, deadline)
        try:
            train_candidate(model, m, data, task, progress=bar)
        except TimeLimit:
            if skipped is not None:
                skipped += [f"{n}: not trained, the time limit was reached"
                            + (" during its training" if n == name else "") for n in names[i:]]
            break
        except NonFiniteLoss as err:
            if skipped is not None:
                skipped.append(f"{name}: left out, {err}")
            continue
        finally:
            bar.close()
        rows.append(dict(label=name, **m.as_dict()))
    return rows


def _check_sizes(cfg: ArchSearch, task: ProxyTask) -> None:
    """Every candidate of the space and every compared model takes the proxy and deployment sizes."""
    space = SPACES[cfg.space] if isinstance(cfg.space, str) else cfg.space
    needs = [(f"the {space.name} space", space_min_size(space, cfg.width))]
    needs += [(name, int(create_model(name, device="meta").min_size)) for name in cfg.compare]
    for what, size in needs:
        if task.img_size < size:
            raise ValueError(f"proxy size {task.img_size} is too small for {what}: it needs at least {size}")
        if cfg.deploy.img_size < size:
            raise ValueError(f"deployment size {cfg.deploy.img_size} is too small for {what}: it needs at least "
                             f"{size}")


def search_arch(cfg: ArchSearch, task: ProxyTask, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run (or resume, or join) the search; write ``best_arch.yaml``, ``trials.csv``, ``report.md`` and
    ``pareto.png`` under ``cfg.out``; return a summary (best trial, its arch and numbers, the files).

    Every setting is checked before anything is written. ``cfg.timeout_min`` bounds the whole call, the
    compared models included (a trial or model still training when it passes is cut). Ctrl-C ends the
    search with the report of the trials finished so far (``interrupted`` in the summary). ``log`` gets
    the lines worth telling (a resumed study, failed trials, models left out)."""
    optuna = require_optuna()
    say = log or (lambda line: None)
    deadline = Deadline(cfg.timeout_min * 60 if cfg.timeout_min else None)
    check_runtime(cfg.deploy.runtime)
    _check_sizes(cfg, task)
    out = check_out_dir(cfg.out)
    db = check_storage(cfg.storage)
    data = load_proxy_data(task)  # bad data fails before anything is written
    sampler = optuna.samplers.NSGAIISampler(seed=cfg.seed) if cfg.multi_objective \
        else optuna.samplers.TPESampler(seed=cfg.seed, multivariate=True, n_startup_trials=5)
    seed_per_trial(sampler, cfg.seed, cfg.study_name)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)
    with created_paths(out, *([db.parent] if db else []), files=[db] if db else []) as keep:
        out.mkdir(parents=True, exist_ok=True)
        study = open_study(cfg.storage, cfg.study_name, _directions(cfg), sampler, pruner)
        keep()
    with storage_errors(cfg.storage):
        announce_resume(study, cfg.storage, say)
        if not study.user_attrs.get("proxy"):
            study.set_user_attr("proxy", task.describe())

        def best(study: Any) -> str:
            t = _best_trial(study, cfg)
            return (f"best #{t.number}: acc {t.user_attrs.get('accuracy', float('nan')):.2f}% "
                    f"lat {t.user_attrs.get('latency_ms', float('nan')):.2f} ms")

        run = run_study(study, _objective(cfg, data, task, deadline), cfg.trials, deadline, out / "trials.csv",
                        cfg.progress, describe_best=best, catch=(NonFiniteLoss,), log=say)
        complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if not complete:
            if run.interrupted:
                return dict(interrupted=True, finished=run.finished, best_trial=None, csv=str(out / "trials.csv"),
                            storage=cfg.storage)
            why = "within the time limit" if run.timed_out else "yet"
            raise RuntimeError(f"study {cfg.study_name}: no trial completed {why} ({run.finished} finished); "
                               f"run more trials{' or give more time' if run.timed_out else ''}")
        t = _best_trial(study, cfg)
        arch_path = write_text(out / "best_arch.yaml",
                               f"# cnnzoo search arch: study {cfg.study_name}, trial {t.number}; accuracy "
                               f"{t.user_attrs['accuracy']:.2f} % on the proxy task, latency "
                               f"{t.user_attrs['latency_ms']:.3f} ms ({cfg.deploy.runtime}, "
                               f"{cfg.deploy.img_size}², batch {cfg.deploy.batch})\n" + dump_arch(t.user_attrs["arch"]))
        skipped: list[str] = []
        compared: list[dict[str, Any]] = []
        interrupted = run.interrupted
        if cfg.compare and interrupted:
            skipped += [f"{n}: not trained, the search was interrupted" for n in cfg.compare]
        elif cfg.compare:
            try:
                compared = compare_models(cfg.compare, data, task, cfg.deploy, cfg.progress, deadline, skipped)
            except KeyboardInterrupt:
                interrupted, skipped = True, [f"{n}: not trained, the search was interrupted" for n in cfg.compare]
        for line in skipped:
            say(f"not compared: {line}")
        if compared:
            write_text(out / "compare.json", json.dumps(compared, indent=1) + "\n")
        summary = _report(cfg, task, study, t, compared, skipped, run, interrupted)
    summary.update(best_trial=t.number, arch=t.user_attrs["arch"], arch_path=str(arch_path), finished=run.finished,
                   compared=compared, skipped=skipped, interrupted=interrupted, timed_out=run.timed_out,
                   **{k: t.user_attrs.get(k) for k in
                      ("accuracy", "latency_ms", "params", "gmacs", "step_time_ms", "reward")})
    return summary


def _report(cfg: ArchSearch, task: ProxyTask, study: Any, best: Any, compared: list[dict[str, Any]],
            skipped: list[str] | None = None, run: Any = None, interrupted: bool = False) -> dict[str, Any]:
    optuna = require_optuna()
    out = Path(cfg.out)
    points = [dict(label=None, number=t.number, **{k: t.user_attrs.get(k) for k in
                                                   ("accuracy", "latency_ms", "gmacs", "params", "step_time_ms",
                                                    "latency_median_ms", "latency_q3_ms")})
              for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))]
    points += [dict(c, label=c["label"]) for c in compared]
    front = set(pareto_front([(p["accuracy"], p["latency_ms"]) for p in points]))
    rows = []
    for i, p in enumerate(points):
        name = p["label"] or f"trial {p['number']}" + (" (best)" if p["number"] == best.number else "")
        m = Measured(p["params"], p["gmacs"], p["latency_ms"], p["accuracy"], p["step_time_ms"])
        rows.append([name, f"{p['accuracy']:.2f}", f"{p['latency_ms']:.3f}", latency_spread(p), f"{p['gmacs']:.3f}",
                     f"{p['params']:,}", f"{p['step_time_ms']:.1f}", f"{arch_reward(cfg, m):.3f}",
                     "yes" if i in front else ""])
    rows.sort(key=lambda r: -float(r[1]))
    plot = plot_points(out / "pareto.png", points, [("latency_ms", f"latency (ms, {cfg.deploy.runtime}, "
                                                     f"{cfg.deploy.img_size}², batch {cfg.deploy.batch})"),
                                                    ("gmacs", "GMACs")],
                       f"search arch: {cfg.space_name} space, {cfg.objective} objective")
    target = f", target latency {cfg.target_latency_ms:g} ms" if cfg.objective == "latency" else ""
    lines = [f"Study `{cfg.study_name}` in `{cfg.storage}`; space `{cfg.space_name}`, objective `{cfg.objective}`"
             f"{' (NSGA-II, multi-objective)' if cfg.multi_objective else ' (TPE, median pruning)'}{target}.",
             f"Proxy task: {task.describe()}. Latency on {cfg.deploy.runtime}, {cfg.deploy.img_size}², batch "
             f"{cfg.deploy.batch}: the lower quartile of {cfg.deploy.rounds} rounds of {cfg.deploy.repeats} "
             f"calls, with their median and upper quartile as its spread (a wide spread is a busy CPU).",
             f"Best architecture: trial {best.number}, written to `best_arch.yaml`."]
    if run is not None and run.timed_out:
        lines.append(f"The search stopped at its time limit ({cfg.timeout_min:g} min).")
    if interrupted:
        lines.append("The search was interrupted (Ctrl-C): this report holds the trials finished before.")
    lines += [f"Not compared: {line}." for line in skipped or ()]
    report = write_report(out / "report.md", "Architecture search", lines,
                          ["model", "proxy acc %", "latency ms", "median / q3 ms", "GMACs", "params", "step ms",
                           "reward", "Pareto"], rows, plot=plot.name)
    return dict(report=str(report), plot=str(plot), csv=str(out / "trials.csv"))
