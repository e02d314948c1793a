"""Latency of a candidate on the runtime it will ship on, at the deployment resolution (MnasNet §3:
measured on the real device, not estimated from FLOPs).

``torch`` is timed here with :func:`cnnzoo.timing.measure_latency`; ``onnxruntime`` and
``openvino`` go through :func:`cnnzoo.inference.deploy`, which returns an engine callable on tensors.
The timing is deploy's: several rounds, every call pooled, the lower quartile as the latency
(:func:`cnnzoo.inference.engine.race_latency`: on a shared CPU interference only adds time), with the
median and upper quartile kept to show the spread.
"""

from __future__ import annotations

import statistics
from typing import Any

import torch
from torch import nn

from cnnzoo.inference import RUNTIMES, deploy
from cnnzoo.inference.engine import race_latency
from cnnzoo.optional import require_module
from cnnzoo.timing import measure_latency, round_order

__all__ = ["RUNTIMES", "check_runtime", "model_latency", "latency_stats"]

def check_runtime(runtime: str) -> None:
    """A ``ValueError`` for an unknown runtime, a ``RuntimeError`` when it cannot be used here — before a
    search starts rather than in its first trial."""
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    if runtime != "torch":
        require_module(runtime, f"latency on {runtime}")  # the deploy extra, named when missing


def _engine(model: nn.Module, runtime: str, img_size: int, batch: int):  # noqa: ANN202
    if runtime == "torch":
        return model.eval()
    return deploy(model.eval(), runtime=runtime, dtype="fp32", batch=batch, img_size=img_size)


def latency_stats(models: dict[str, nn.Module], runtime: str = "torch", img_size: int = 224, batch: int = 1,
                  in_chans: int | None = None, warmup: int = 3, repeats: int = 10, rounds: int = 3
                  ) -> dict[str, dict[str, Any]]:
    """Latency (ms) of one forward pass of ``batch`` images of ``img_size``² on ``runtime``, for each model.

    The models are timed in ``rounds`` interleaved rounds (:func:`~cnnzoo.timing.round_order`)
    of ``repeats`` calls each, every call pooled: ``latency_ms`` is their lower quartile
    (:func:`~cnnzoo.inference.engine.race_latency`, what deploy ranks by), ``median_ms`` and ``q3_ms``
    show the spread, ``calls`` how many were timed."""
    check_runtime(runtime)
    if not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds must be an int >= 1, got {rounds!r}")
    engines, times, modes = {}, {k: [] for k in models}, {k: m.training for k, m in models.items()}
    try:
        for key, model in models.items():
            chans = in_chans or getattr(model, "in_chans", None) or 3
            engines[key] = (_engine(model, runtime, img_size, batch),
                            torch.randn(batch, chans, img_size, img_size, generator=torch.Generator().manual_seed(1)))
        with torch.inference_mode():
            for r in range(rounds):
                for key in round_order(list(models), r):
                    engine, x = engines[key]
                    got = measure_latency(engine, x, warmup=warmup if r == 0 else 1, repeats=repeats)
                    times[key].extend(got["times_ms"])
    finally:
        for key, model in models.items():
            model.train(modes[key])
    out = {}
    for key, ts in times.items():
        q = statistics.quantiles(ts, n=4, method="inclusive") if len(ts) > 1 else [ts[0]] * 3
        out[key] = dict(latency_ms=race_latency(ts), median_ms=statistics.median(ts), q3_ms=q[2], calls=len(ts))
    return out


def model_latency(model: nn.Module, runtime: str = "torch", img_size: int = 224, batch: int = 1,
                  in_chans: int | None = None, warmup: int = 3, repeats: int = 10, rounds: int = 3) -> float:
    """Latency (ms) of one forward pass of ``batch`` images of ``img_size``² on ``runtime``: the lower
    quartile of ``rounds`` × ``repeats`` calls (:func:`latency_stats`)."""
    stats = latency_stats({"model": model}, runtime, img_size, batch, in_chans, warmup, repeats, rounds)
    return float(stats["model"]["latency_ms"])
