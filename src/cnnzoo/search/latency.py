"""Latency of a candidate on the runtime it will ship on, at the deployment resolution (MnasNet §3:
measured on the real device, not estimated from FLOPs).

``torch`` is timed here with :func:`cnnzoo.analysis.latency.measure_latency`; ``onnxruntime`` and
``openvino`` go through :func:`cnnzoo.inference.deploy`, which returns an engine callable on tensors.
"""

from __future__ import annotations

import torch
from torch import nn

from cnnzoo.analysis.latency import measure_latency
from cnnzoo.export import require_module
from cnnzoo.inference import deploy

__all__ = ["RUNTIMES", "check_runtime", "model_latency"]

RUNTIMES = ("torch", "onnxruntime", "openvino")


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


def model_latency(model: nn.Module, runtime: str = "torch", img_size: int = 224, batch: int = 1,
                  in_chans: int | None = None, warmup: int = 3, repeats: int = 10) -> float:
    """Median latency (ms) of one forward pass of ``batch`` images of ``img_size``² on ``runtime``."""
    check_runtime(runtime)
    chans = in_chans or getattr(model, "in_chans", None) or 3
    was_training = model.training
    x = torch.randn(batch, chans, img_size, img_size)
    try:
        engine = _engine(model, runtime, img_size, batch)
        with torch.inference_mode():
            stats = measure_latency(engine, x, warmup=warmup, repeats=repeats)
    finally:
        model.train(was_training)
    return float(stats["median_ms"])
