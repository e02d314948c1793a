"""The compound-scaling grid search (EfficientNet §3.3, step 1): fix φ = 1, try every (α, β, γ) ≥ 1 on a
grid with α·β²·γ² ≈ 2, train the base scaled by each on the proxy task with the same budget, keep the
most accurate. The grid runs as an optuna study (``GridSampler``), so it resumes and shares like the
architecture search. The chosen coefficients are written to a JSON file that
``cnnzoo.scale_model(base, phi, coefficients=FILE)`` reads.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnzoo.factory import create_model, scalable_models, scale_model
from cnnzoo.files import write_text
from cnnzoo.optional import require_optuna
from cnnzoo.registry import model_info
from cnnzoo.search.candidate import Deployment, measure_cost, train_candidate
from cnnzoo.search.latency import check_runtime
from cnnzoo.search.objectives import coefficient_grid, flops_ratio
from cnnzoo.search.proxy import NonFiniteLoss, ProxyTask, load_proxy_data, seeded_build
from cnnzoo.search.report import latency_spread, plot_points, write_report
from cnnzoo.search.study import (
    Deadline,
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
from cnnzoo.tables import plural

__all__ = ["ScalingSearch", "search_scaling", "requeue_cut", "PAPER_COEFFICIENTS"]

#: EfficientNet's grid-search result for B0 (§3.3)
PAPER_COEFFICIENTS = (1.2, 1.1, 1.15)


@dataclass
class ScalingSearch:
    """Settings of ``cnnzoo search scaling``; ``base_kwargs`` go to the base's constructor (``arch`` for mbconv)."""

    base: str = "efficientnet_b0"
    base_kwargs: dict[str, Any] = field(default_factory=dict)
    step: float = 0.05
    tolerance: float = 0.1
    trials: int | None = None  # default: the whole grid
    timeout_min: float | None = None
    deploy: Deployment = field(default_factory=Deployment)
    storage: str | None = None
    study_name: str | None = None
    seed: int = 0
    out: str = "runs/search/scaling"
    progress: bool = True

    def __post_init__(self) -> None:
        model_info(self.base)
        if self.base not in scalable_models():
            raise ValueError(f"cannot scale {self.base!r}; scalable bases: {', '.join(scalable_models())}")
        if "arch" in self.base_kwargs and self.base != "mbconv":
            raise ValueError(f"arch is the stage table of base mbconv; {self.base} takes none")
        check_search_settings(self.trials, self.timeout_min, self.seed)
        # the base is built now (on the meta device: shapes only), so a bad --arch fails before the search
        self.min_size = int(create_model(self.base, device="meta", **self.base_kwargs).min_size)
        self.grid = coefficient_grid(self.step, self.tolerance)
        self.study_name = self.study_name or f"scaling-{self.base}-step{self.step:g}-tol{self.tolerance:g}"
        self.storage = self.storage or f"sqlite:///{Path(self.out) / 'study.db'}"


def _key(c: tuple[float, float, float]) -> str:
    return f"{c[0]:g},{c[1]:g},{c[2]:g}"


def search_scaling(cfg: ScalingSearch, task: ProxyTask, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run (or resume) the grid; write ``coefficients.json``, ``trials.csv``, ``report.md`` and
    ``scaling.png`` under ``cfg.out``; return the chosen (α, β, γ) and the candidates.

    Every setting is checked before anything is written; ``cfg.timeout_min`` bounds the call (a candidate
    still training when it passes is cut); Ctrl-C ends it with the files of the candidates trained so far
    (``interrupted`` in the result). ``log`` gets the lines worth telling."""
    optuna = require_optuna()
    say = log or (lambda line: None)
    deadline = Deadline(cfg.timeout_min * 60 if cfg.timeout_min else None)
    check_runtime(cfg.deploy.runtime)
    for what, size in (("proxy", task.img_size), ("deployment", cfg.deploy.img_size)):
        if size < cfg.min_size:
            raise ValueError(f"{what} size {size} is too small for {cfg.base}: it needs at least {cfg.min_size}")
    out = check_out_dir(cfg.out)
    db = check_storage(cfg.storage)
    data = load_proxy_data(task)  # bad data fails before anything is written
    keys = [_key(c) for c in cfg.grid]
    sampler = seed_per_trial(optuna.samplers.GridSampler({"coefficients": keys}, seed=cfg.seed), cfg.seed,
                             cfg.study_name)
    with created_paths(out, *([db.parent] if db else []), files=[db] if db else []) as keep:
        out.mkdir(parents=True, exist_ok=True)
        study = open_study(cfg.storage, cfg.study_name, ["maximize"], sampler)
        keep()

    @recorded
    def objective(trial: Any) -> float:
        a, b, g = (float(v) for v in trial.suggest_categorical("coefficients", keys).split(","))
        model = seeded_build(task, lambda: scale_model(cfg.base, 1.0, a, b, g, num_classes=data.num_classes,
                                                       in_chans=data.in_chans, **cfg.base_kwargs))
        deploy_size = round(cfg.deploy.img_size * g)  # the deployment resolution scales with γ too
        m = measure_cost(model, cfg.deploy, deploy_size)
        proxy_size = max(round(task.img_size * g), int(getattr(model, "min_size", 1)))
        bar = TrialProgress(cfg.progress, f"({a:g}, {b:g}, {g:g})", deadline)
        try:
            train_candidate(model, m, data, task, img_size=proxy_size, progress=bar)
        finally:
            bar.close()
        for k, v in dict(m.as_dict(), alpha=a, beta=b, gamma=g, flops_ratio=flops_ratio(a, b, g),
                         proxy_size=proxy_size, deploy_size=deploy_size).items():
            trial.set_user_attr(k, v)
        return m.accuracy

    def best(study: Any) -> str:
        t = study.best_trial
        return f"best ({t.params['coefficients']}): {t.value:.2f}%"

    trials = min(cfg.trials, len(keys)) if cfg.trials else len(keys)
    with storage_errors(cfg.storage):
        announce_resume(study, cfg.storage, say)
        again = requeue_cut(study)
        if again:
            say(f"queued again: {', '.join(f'({k})' for k in again)}, cut before they finished")
        waiting = (optuna.trial.TrialState.WAITING,)
        run = run_study(study, objective, trials, deadline, out / "trials.csv", cfg.progress, describe_best=best,
                        catch=(NonFiniteLoss,), log=say,
                        exhausted=lambda st: sampler.is_exhausted(st) and not st.get_trials(deepcopy=False,
                                                                                            states=waiting))
        return _scaling_files(cfg, task, study, keys, out, run)


def requeue_cut(study: Any) -> list[str]:
    """Queue again the grid points whose only trials were cut (Ctrl-C, the time limit, a dead worker):
    optuna's grid counts a failed point as visited, but these failed for no fault of their own. A point
    that failed by itself (a diverging loss) is not retried: seeded, it would diverge again."""
    optuna = require_optuna()
    states = optuna.trial.TrialState
    settled, cut = set(), []
    for t in study.get_trials(deepcopy=False):
        key = t.params.get("coefficients") or (t.system_attrs.get("fixed_params") or {}).get("coefficients")
        if key is None:
            continue
        if t.state != states.FAIL:
            settled.add(key)
        elif t.user_attrs.get("cut") or "fail_reason" not in t.user_attrs:  # no reason: failed by the heartbeat
            cut.append(key)
    again = [k for k in dict.fromkeys(cut) if k not in settled]
    for key in again:
        study.enqueue_trial({"coefficients": key}, skip_if_exists=False)
    return again


def _scaling_files(cfg: ScalingSearch, task: ProxyTask, study: Any, keys: list[str], out: Path, run: Any
                   ) -> dict[str, Any]:
    optuna = require_optuna()
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not done:
        if run.interrupted:
            return dict(interrupted=True, base=cfg.base, candidates=0, finished=run.finished, grid=len(keys),
                        csv=str(out / "trials.csv"),
                        storage=cfg.storage)
        why = "within the time limit" if run.timed_out else "yet"
        raise RuntimeError(f"study {cfg.study_name}: no candidate completed {why}")
    # the most accurate; among equals, the cheaper
    t = max(done, key=lambda t: (t.value, -t.user_attrs["gmacs"]))
    chosen = {k: t.user_attrs[k] for k in ("alpha", "beta", "gamma")}
    result = dict(base=cfg.base, **chosen, flops_ratio=flops_ratio(*chosen.values()),
                  proxy_accuracy=t.value, gmacs=t.user_attrs["gmacs"], latency_ms=t.user_attrs["latency_ms"],
                  proxy=task.describe(), candidates=len(done), grid=len(keys), step=cfg.step,
                  tolerance=cfg.tolerance, study=cfg.study_name)
    path = write_text(out / "coefficients.json", json.dumps(result, indent=1) + "\n")
    points = [dict(label=None, accuracy=x.value, **{k: x.user_attrs[k] for k in ("gmacs", "latency_ms")})
              for x in done]
    plot = plot_points(out / "scaling.png", points, [("gmacs", "GMACs"), ("latency_ms", f"latency (ms, "
                                                                                      f"{cfg.deploy.runtime})")],
                       f"search scaling: {cfg.base} at φ = 1")
    rows = sorted(([f"{x.user_attrs['alpha']:g}", f"{x.user_attrs['beta']:g}", f"{x.user_attrs['gamma']:g}",
                    f"{x.user_attrs['flops_ratio']:.3f}", f"{x.value:.2f}", f"{x.user_attrs['gmacs']:.3f}",
                    f"{x.user_attrs['latency_ms']:.3f}", latency_spread(x.user_attrs),
                    "yes" if x.number == t.number else ""] for x in done),
                  key=lambda r: -float(r[4]))
    write_report(out / "report.md", f"Scaling-coefficient search: {cfg.base}",
                 [f"Grid step {cfg.step:g}, |α·β²·γ² − 2| ≤ {cfg.tolerance:g}: {plural(len(keys), 'candidate')}, "
                  f"{len(done)} trained. Proxy task: {task.describe()} (resolution × γ). Latency: the lower "
                  f"quartile of {cfg.deploy.rounds} rounds of {cfg.deploy.repeats} calls on {cfg.deploy.runtime} "
                  f"(median / upper quartile: its spread).",
                  f"Chosen: α = {chosen['alpha']:g}, β = {chosen['beta']:g}, γ = {chosen['gamma']:g} "
                  f"(written to `coefficients.json`; the paper's: 1.2, 1.1, 1.15)."]
                 + ([f"The search stopped at its time limit ({cfg.timeout_min:g} min)."] if run.timed_out else [])
                 + (["The search was interrupted (Ctrl-C): this report holds the candidates trained before."]
                    if run.interrupted else []),
                 ["α", "β", "γ", "α·β²·γ²", "proxy acc %", "GMACs", "latency ms", "median / q3 ms", "chosen"], rows,
                 plot=plot.name)
    result.update(path=str(path), report=str(out / "report.md"), plot=str(plot), csv=str(out / "trials.csv"),
                  interrupted=run.interrupted, timed_out=run.timed_out)
    return result
