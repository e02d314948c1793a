"""One candidate's numbers: proxy accuracy (trained on the proxy task), measured latency at the
deployment resolution, MACs, parameters and training-step time — the same for searched models and
for the zoo's models they are compared with."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from torch import nn

from cnnzoo.analysis.flops import count_macs
from cnnzoo.search.latency import RUNTIMES, latency_stats
from cnnzoo.search.proxy import ProxyData, ProxyTask, train_proxy

__all__ = ["Deployment", "Measured", "measure_cost", "measure_costs", "train_candidate", "MAX_DEPLOY_SIZE",
           "MAX_DEPLOY_BATCH"]

#: bounds of the deployment input a latency is measured at (a larger one would only exhaust the memory)
MAX_DEPLOY_SIZE, MAX_DEPLOY_BATCH, MAX_REPEATS = 2048, 1024, 10_000


def _int_in(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}, got {value!r}")


@dataclass(frozen=True)
class Deployment:
    """Where latency is measured: runtime, input side and batch (MnasNet: on the target device)."""

    runtime: str = "torch"
    img_size: int = 224
    batch: int = 1
    repeats: int = 10  # timed calls per round
    rounds: int = 3  # the calls of every round are pooled; the latency is their lower quartile

    def __post_init__(self) -> None:
        if self.runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, got {self.runtime!r}")
        _int_in("deployment img_size", self.img_size, 1, MAX_DEPLOY_SIZE)
        _int_in("deployment batch", self.batch, 1, MAX_DEPLOY_BATCH)
        _int_in("latency repeats", self.repeats, 1, MAX_REPEATS)
        _int_in("latency rounds", self.rounds, 1, 100)


@dataclass
class Measured:
    """A candidate's costs and proxy results."""

    params: int
    gmacs: float
    latency_ms: float  # lower quartile of the timed calls
    accuracy: float = float("nan")
    step_time_ms: float = float("nan")
    train_s: float = float("nan")
    latency_median_ms: float = float("nan")
    latency_q3_ms: float = float("nan")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_cost(model: nn.Module, deploy: Deployment, img_size: int | None = None) -> Measured:
    """Parameters, GMACs and latency of ``model`` at ``img_size`` (default the deployment's) — before training."""
    return measure_costs({"model": model}, deploy, img_size)["model"]


def measure_costs(models: dict[str, nn.Module], deploy: Deployment, img_size: int | None = None
                  ) -> dict[str, Measured]:
    """:func:`measure_cost` of several models, their latencies timed in interleaved rounds."""
    size = img_size or deploy.img_size
    lat = latency_stats(models, deploy.runtime, size, deploy.batch, repeats=deploy.repeats, rounds=deploy.rounds)
    out = {}
    for key, model in models.items():
        chans = int(getattr(model, "in_chans", 3))
        macs = count_macs(copy.deepcopy(model).to("meta"), (chans, size, size))  # shapes only: no compute
        out[key] = Measured(params=sum(p.numel() for p in model.parameters()), gmacs=macs / 1e9,
                            latency_ms=lat[key]["latency_ms"], latency_median_ms=lat[key]["median_ms"],
                            latency_q3_ms=lat[key]["q3_ms"])
    return out


def train_candidate(model: nn.Module, measured: Measured, data: ProxyData, task: ProxyTask,
                    img_size: int | None = None, report: Callable[[int, float], None] | None = None,
                    progress: Callable[[int, int], None] | None = None) -> Measured:
    """Train on the proxy task and fill in accuracy, step time and training seconds."""
    res = train_proxy(model, data, task, img_size, report=report, progress=progress)
    measured.accuracy, measured.step_time_ms, measured.train_s = res.accuracy, res.step_time_ms, res.seconds
    return measured
