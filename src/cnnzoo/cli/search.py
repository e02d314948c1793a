"""``cnnzoo search arch`` and ``cnnzoo search scaling``: the seed papers' searches on a proxy task."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from typing import Any

from cnnzoo.cli._types import positive_int
from cnnzoo.search import (
    RUNTIMES,
    SPACES,
    ArchSearch,
    Deployment,
    ProxyTask,
    ScalingSearch,
    search_arch,
    search_scaling,
)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a finite positive number, got {value}")
    return value


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


def _common(p: argparse.ArgumentParser, out: str) -> None:
    g = p.add_argument_group("proxy task (the same budget for every candidate)")
    g.add_argument("--data", help="Fashion-MNIST IDX directory or image folder (default: Fashion-MNIST)")
    g.add_argument("--proxy-size", type=positive_int, default=32, help="training image side (default 32)")
    g.add_argument("--train-images", type=positive_int, default=3000, help="first N training images (default 3000)")
    g.add_argument("--test-images", type=positive_int, default=1000, help="first N test images (default 1000)")
    g.add_argument("--epochs", type=positive_int, default=1, help="epochs per candidate (default 1)")
    g.add_argument("--budget", type=positive_int, default=None, metavar="STEPS",
                   help="at most this many training steps per candidate (default: the epochs)")
    g.add_argument("--batch-size", type=positive_int, default=64, help="batch size (default 64)")
    g.add_argument("--lr", type=_positive_float, default=0.1, help="SGD one-cycle peak rate (default 0.1)")
    g.add_argument("--evals", type=positive_int, default=2,
                   help="evaluations during training, the values pruning compares (default 2)")
    g = p.add_argument_group("latency and the study")
    g.add_argument("--runtime", default="torch", choices=RUNTIMES, help="where latency is measured (default torch)")
    g.add_argument("--img-size", type=positive_int, default=224, help="deployment resolution (default 224)")
    g.add_argument("--batch", type=positive_int, default=1, help="deployment batch (default 1)")
    g.add_argument("--repeats", type=positive_int, default=10, help="timed runs per round (default 10)")
    g.add_argument("--rounds", type=positive_int, default=3,
                   help="timing rounds; the latency is the lower quartile of all their runs (default 3)")
    g.add_argument("--trials", type=positive_int, default=None,
                   help="finished trials the study should hold (a resumed or second worker continues to it)")
    g.add_argument("--timeout", type=_positive_float, default=None, metavar="MIN",
                   help="the whole command's time limit in minutes, --compare models included (a trial or model "
                        "still training then is cut)")
    g.add_argument("--storage", help="optuna database URL (default sqlite:///OUT/study.db); share it to search "
                                     "with several processes or machines")
    g.add_argument("--study-name", help="study name in the storage (default from the settings)")
    g.add_argument("--seed", type=int, default=0,
                   help="sampler seed, 0 to 2^32-1 (default 0; each trial draws from (seed, study, trial number), "
                        "so a resumed or second worker samples new architectures); the proxy training is seeded "
                        "alike for every candidate")
    g.add_argument("--out", default=out, help=f"output directory (default {out})")
    g.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="architecture (MnasNet, EfficientNetV2) and scaling (EfficientNet) search",
                       description="The seed papers' searches on a proxy task, with optuna (pip install "
                                   "'cnnzoo[search]'); studies live in a database, so they resume and share.")
    ss = p.add_subparsers(dest="search_command", metavar="KIND")
    ss.required = True
    a = ss.add_parser("arch", help="platform-/training-aware architecture search (MnasNet, EfficientNetV2)")
    a.add_argument("--space", default="mnasnet", choices=list(SPACES), help="search space (default mnasnet)")
    a.add_argument("--target-latency", type=_positive_float, default=None, metavar="MS",
                   help="target latency T of MnasNet's reward ACC×(LAT/T)^-0.07 (needed by the latency objective)")
    a.add_argument("--objective", choices=["latency", "training"], default=None,
                   help="latency: MnasNet's reward; training: EfficientNetV2's A·S^-0.07·P^-0.05 "
                        "(default: latency for mnasnet, training for efficientnet_v2)")
    a.add_argument("--multi-objective", action="store_true",
                   help="NSGA-II on (accuracy, latency or step time) instead of TPE on one reward (no pruning)")
    a.add_argument("--width", type=_positive_float, default=1.0,
                   help="multiplier on every width of the space, at most 4 (default 1; smaller for quick searches)")
    a.add_argument("--compare", type=_names, default=(), metavar="M1,M2",
                   help="zoo models trained with the same proxy budget and measured on the same runtime, "
                        "e.g. mobilenet_v3_large,mnasnet_a1,efficientnet_b0")
    _common(a, "runs/search/arch")
    a.set_defaults(handler=_arch)
    s = ss.add_parser("scaling", help="EfficientNet's grid search of (alpha, beta, gamma) at phi = 1")
    s.add_argument("--base", required=True, help="a scalable model (cnnzoo.factory.scalable_models())")
    s.add_argument("--arch", help="stage-table YAML when the base is mbconv")
    s.add_argument("--step", type=_positive_float, default=0.05, help="grid step (default 0.05)")
    s.add_argument("--tolerance", type=float, default=0.1, help="|α·β²·γ² − 2| allowed (default 0.1)")
    _common(s, "runs/search/scaling")
    s.set_defaults(handler=_scaling)


def _task(args: argparse.Namespace) -> ProxyTask:
    return ProxyTask(data=args.data, img_size=args.proxy_size, train_images=args.train_images,
                     test_images=args.test_images, epochs=args.epochs, max_steps=args.budget,
                     batch_size=args.batch_size, lr=args.lr, evals=args.evals)  # one proxy seed for all


def _deploy(args: argparse.Namespace) -> Deployment:
    return Deployment(args.runtime, args.img_size, args.batch, args.repeats, args.rounds)


def _say(line: str) -> None:
    print(f"cnnzoo search: {line}", file=sys.stderr, flush=True)


def _run(search: Callable[[], dict[str, Any]], cfg: Any, best_key: str) -> dict[str, Any] | None:
    """Run the search; on Ctrl-C or at the time limit, one line saying what was saved and how to go on
    (``None`` when interrupted)."""
    try:
        r = search()
    except KeyboardInterrupt:  # before the study ran (loading data) or while writing the files
        _say(f"interrupted; finished trials are kept in {cfg.storage}: run the same command to resume")
        return None
    if r.get("interrupted"):
        if r.get("best_trial") is None and "alpha" not in r:
            _say(f"interrupted before any trial completed ({r['finished']} finished); the study in "
                 f"{cfg.storage} resumes with the same command")
        else:
            n = r["finished"] if "finished" in r else r["candidates"]
            _say(f"interrupted: {n} trial{'s' if n != 1 else ''} finished; {r[best_key]} and {r['report']} hold "
                 f"{'it' if n == 1 else 'them'}; run the same command to resume")
        return None
    if r.get("timed_out"):
        _say(f"stopped at the time limit ({cfg.timeout_min:g} min); run the same command to go on")
    return r


def _arch(args: argparse.Namespace) -> int:
    trials = args.trials if args.trials or args.timeout else 20
    cfg = ArchSearch(space=args.space, target_latency_ms=args.target_latency, objective=args.objective,
                     deploy=_deploy(args), trials=trials, timeout_min=args.timeout, storage=args.storage,
                     study_name=args.study_name, seed=args.seed, width=args.width,
                     multi_objective=args.multi_objective, out=args.out, compare=args.compare,
                     progress=not args.no_progress)
    r = _run(lambda: search_arch(cfg, _task(args), log=_say), cfg, "arch_path")
    if r is None:
        return 130
    print(f"best: trial {r['best_trial']} of {r['finished']} — proxy accuracy {r['accuracy']:.2f} %, latency "
          f"{r['latency_ms']:.3f} ms ({cfg.deploy.runtime}, {cfg.deploy.img_size}²), {r['params']:,} params, "
          f"reward {r['reward']:.3f}")
    for c in r["compared"]:
        print(f"  {c['label']}: proxy accuracy {c['accuracy']:.2f} %, latency {c['latency_ms']:.3f} ms")
    print(f"architecture: {r['arch_path']}  (cnnzoo train --model mbconv --arch {r['arch_path']})")
    print(f"report: {r['report']}, plot: {r['plot']}, trials: {r['csv']}")
    return 0


def _scaling(args: argparse.Namespace) -> int:
    kwargs = {"arch": args.arch} if args.arch else {}
    cfg = ScalingSearch(base=args.base, base_kwargs=kwargs, step=args.step, tolerance=args.tolerance,
                        trials=args.trials, timeout_min=args.timeout, deploy=_deploy(args), storage=args.storage,
                        study_name=args.study_name, seed=args.seed, out=args.out, progress=not args.no_progress)
    r = _run(lambda: search_scaling(cfg, _task(args), log=_say), cfg, "path")
    if r is None:
        return 130
    print(json.dumps({k: r[k] for k in ("base", "alpha", "beta", "gamma", "flops_ratio", "proxy_accuracy",
                                        "candidates", "grid")}))
    print(f"coefficients: {r['path']}  (cnnzoo.scale_model({r['base']!r}, phi, coefficients={r['path']!r}))")
    print(f"report: {r['report']}, plot: {r['plot']}, trials: {r['csv']}")
    return 0
