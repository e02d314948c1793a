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
from cnnzoo.search.latency import model_latency
from cnnzoo.search.proxy import ProxyData, ProxyTask, train_proxy

__all__ = ["Deployment", "Measured", "measure_cost", "train_candidate"]


@dataclass(frozen=True)
class Deployment:
    """Where latency is measured: runtime, input side and batch (MnasNet: on the target device)."""

    runtime: str = "torch"
    img_size: int = 224
    batch: int = 1
    repeats: int = 10


@dataclass
class Measured:
    """A candidate's costs and proxy results."""

    params: int
    gmacs: float
    latency_ms: float
    accuracy: float = float("nan")
    step_time_ms: float = float("nan")
    train_s: float = float("nan")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_cost(model: nn.Module, deploy: Deployment, img_size: int | None = None) -> Measured:
    """Parameters, GMACs and latency of ``model`` at ``img_size`` (default the deployment's) — before training."""
    size = img_size or deploy.img_size
    chans = int(getattr(model, "in_chans", 3))
    macs = count_macs(copy.deepcopy(model).to("meta"), (chans, size, size))  # shapes only: no compute
    lat = model_latency(model, deploy.runtime, size, deploy.batch, chans, repeats=deploy.repeats)
    return Measured(params=sum(p.numel() for p in model.parameters()), gmacs=macs / 1e9, latency_ms=lat)


def train_candidate(model: nn.Module, measured: Measured, data: ProxyData, task: ProxyTask,
                    img_size: int | None = None, report: Callable[[int, float], None] | None = None,
                    progress: Callable[[int, int], None] | None = None) -> Measured:
    """Train on the proxy task and fill in accuracy, step time and training seconds."""
    res = train_proxy(model, data, task, img_size, report=report, progress=progress)
    measured.accuracy, measured.step_time_ms, measured.train_s = res.accuracy, res.step_time_ms, res.seconds
    return measured
