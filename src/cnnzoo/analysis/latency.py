"""The machine's matrix-multiply peak, the yardstick for "what fraction of the hardware does a model use",
timed with :func:`cnnzoo.timing.measure_latency` (also importable as ``cnnzoo.analysis.measure_latency``).
"""

from __future__ import annotations

from typing import Any

import torch

from cnnzoo.device import parse_dtype, resolve_device
from cnnzoo.timing import measure_latency

__all__ = ["matmul_peak"]


@torch.no_grad()
def matmul_peak(dtype: str | torch.dtype = "fp32", n: int = 1024, device: str = "cpu", repeats: int = 5,
                warmup: int = 2, clock: str = "wall") -> dict[str, Any]:
    """The machine's measured matrix-multiply rate: best and median GFLOP/s of an ``n×n`` by ``n×n``
    product (``2n³`` FLOP) in ``dtype`` on ``device`` with the current number of threads
    (``clock="process"``: per CPU-second, i.e. per core when one thread runs)."""
    dt = parse_dtype(dtype)
    dev = resolve_device(device)
    a = torch.randn(n, n, device=dev).to(dt)
    b = torch.randn(n, n, device=dev).to(dt)
    lat = measure_latency(lambda x: torch.mm(x, b), a, warmup=warmup, repeats=repeats, clock=clock)
    flop = 2 * n**3
    return {
        "dtype": str(dt).replace("torch.", ""),
        "n": n,
        "gflops": flop / (lat["min_ms"] / 1e3) / 1e9,
        "gflops_median": flop / (lat["median_ms"] / 1e3) / 1e9,
        "threads": lat["threads"],
        "clock": clock,
        "device": lat["device"],
        "device_name": lat["device_name"],
    }
